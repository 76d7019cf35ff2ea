//! Resolution: read every setting through the layers, check it, and build [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    Config, ConfigError, EnvSource, HttpConfig, KNOWN_MODULES, Layers, ModulesConfig, Transport,
    WorkspaceConfig,
};
use crate::edge::AuthMode;
use crate::store::StoreConfig;
use crate::telemetry::{LogConfig, LogFormat};

/// Values from the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--transport`.
    pub transport: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--allow-unauthenticated`.
    pub allow_unauthenticated: bool,
}

/// rmcp logs every stateless request at info; keep its chatter at warn unless asked.
const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

const DEFAULT_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1", "[::1]"];
const DEFAULT_ORIGINS: &[&str] = &[
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

/// Resolve the configuration from the environment, the file it or `overrides` names, and the
/// command line. Reports every problem at once.
pub fn resolve(env: &dyn EnvSource, overrides: &Overrides) -> Result<Config, ConfigError> {
    let file_path = overrides.config_file.clone().or_else(|| {
        env.var("MCPGATE_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let file = match &file_path {
        Some(path) => Some(read_file(path)?),
        None => None,
    };
    let mut l = Layers::new(file.as_ref(), env);

    let transport = match overrides.transport.as_deref() {
        Some(text) => parse_transport(text).unwrap_or_else(|e| {
            l.issue("--transport", None, e);
            Transport::Http
        }),
        None => l.choice(
            "server.transport",
            "MCPGATE_TRANSPORT",
            Transport::Http,
            parse_transport,
        ),
    };
    let data_dir = l
        .get::<String>("server.data_dir", "MCPGATE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_data_dir(env));

    let http = resolve_http(&mut l, overrides);
    let store = resolve_store(&mut l, &data_dir);
    let modules = resolve_modules(&mut l);
    let workspace = resolve_workspace(&mut l, &http);
    let auth = super::auth::resolve_auth(&mut l, &http);
    let log = LogConfig {
        filter: l.get_or("log.filter", "MCPGATE_LOG", DEFAULT_LOG_FILTER.to_owned()),
        format: l.choice(
            "log.format",
            "MCPGATE_LOG_FORMAT",
            LogFormat::Json,
            |s| match s {
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                other => Err(format!("expected json or text, found {other:?}")),
            },
        ),
    };
    if tracing_subscriber::EnvFilter::try_new(&log.filter).is_err() {
        l.issue(
            "log.filter",
            Some("MCPGATE_LOG"),
            format!("not a valid log filter: {:?}", log.filter),
        );
    }
    let rate_limit = super::limits::resolve_rate_limits(&mut l);
    let redis_url: Option<String> = l.get("redis.url", "MCPGATE_REDIS_URL");
    if let Some(url) = &redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        l.issue(
            "redis.url",
            Some("MCPGATE_REDIS_URL"),
            "expected a redis:// or rediss:// URL",
        );
    }

    // Auth `dev` checks nothing either: its tokens are unsigned, so anyone can name any user,
    // org and role. Both are refused off loopback unless the operator says a proxy in front
    // authenticates callers.
    let unauthenticated = match auth.mode {
        AuthMode::None => Some(format!(
            "with auth `none` every caller acts as the default principal ({}), so anyone who \
             can reach this address could use every tool",
            auth.default_role
        )),
        AuthMode::Dev => Some(
            "with auth `dev` tokens are unsigned (`Bearer dev:<user>:<org>:<role>`), so anyone \
             who can reach this address could act as any org's admin"
                .to_owned(),
        ),
        AuthMode::Token | AuthMode::Jwt => None,
    };
    if transport == Transport::Http
        && !http.listen.ip().is_loopback()
        && !http.allow_unauthenticated
        && let Some(why) = unauthenticated
    {
        l.issue(
            "http.listen (MCPGATE_LISTEN)",
            None,
            format!(
                "refusing to serve {} without authentication: {why}. Set MCPGATE_AUTH to \
                 `token` or `jwt`, listen on a loopback address, or pass \
                 --allow-unauthenticated (MCPGATE_ALLOW_UNAUTHENTICATED=true) if a trusted \
                 proxy in front authenticates callers",
                http.listen
            ),
        );
    }

    let issues = l.finish();
    if !issues.is_empty() {
        return Err(ConfigError::Invalid(issues));
    }
    Ok(Config {
        transport,
        data_dir,
        http,
        store,
        modules,
        workspace,
        auth,
        rate_limit,
        log,
        redis_url: redis_url.map(super::Secret),
    })
}

fn read_file(path: &PathBuf) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::File {
        path: path.clone(),
        message: e.to_string(),
    })
}

fn default_data_dir(env: &dyn EnvSource) -> PathBuf {
    match env.var("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/mcpgate"),
        None => PathBuf::from("mcpgate-data"),
    }
}

fn parse_transport(text: &str) -> Result<Transport, String> {
    match text {
        "stdio" => Ok(Transport::Stdio),
        "http" => Ok(Transport::Http),
        other => Err(format!("expected stdio or http, found {other:?}")),
    }
}

fn resolve_http(l: &mut Layers<'_>, overrides: &Overrides) -> HttpConfig {
    let default_listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let listen = match overrides.listen.as_deref() {
        Some(text) => <SocketAddr as super::SettingValue>::from_env(text).unwrap_or_else(|e| {
            l.issue("--listen", None, e);
            default_listen
        }),
        None => l.get_or("http.listen", "MCPGATE_LISTEN", default_listen),
    };
    let mcp_path: String = l.get_or("http.mcp_path", "MCPGATE_MCP_PATH", "/mcp".to_owned());
    if !mcp_path.starts_with('/') || mcp_path.len() < 2 || mcp_path.ends_with('/') {
        l.issue(
            "http.mcp_path",
            Some("MCPGATE_MCP_PATH"),
            format!("expected a path such as /mcp (leading slash, no trailing slash), found {mcp_path:?}"),
        );
    }
    let allowed_hosts = l.get_or(
        "http.allowed_hosts",
        "MCPGATE_ALLOWED_HOSTS",
        DEFAULT_HOSTS.iter().map(|s| (*s).to_owned()).collect(),
    );
    let allowed_origins: Vec<String> = l.get_or(
        "http.allowed_origins",
        "MCPGATE_ALLOWED_ORIGINS",
        DEFAULT_ORIGINS.iter().map(|s| (*s).to_owned()).collect(),
    );
    for origin in &allowed_origins {
        if crate::edge::OriginPattern::parse(origin).is_err() {
            l.issue(
                "http.allowed_origins",
                Some("MCPGATE_ALLOWED_ORIGINS"),
                format!("expected scheme://host[:port|:*] or \"null\", found {origin:?}"),
            );
        }
    }
    let max_body_bytes: usize =
        l.positive("http.max_body_bytes", "MCPGATE_MAX_BODY_BYTES", 1 << 20);
    let sse_keep_alive: Duration = l.positive(
        "http.sse_keep_alive",
        "MCPGATE_SSE_KEEP_ALIVE",
        Duration::from_secs(15),
    );
    let session_idle_timeout: Duration = l.positive(
        "http.session_idle_timeout",
        "MCPGATE_SESSION_IDLE_TIMEOUT",
        Duration::from_secs(300),
    );
    let public_url: String = l.get_or(
        "http.public_url",
        "MCPGATE_PUBLIC_URL",
        format!("http://{listen}"),
    );
    if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
        || public_url.ends_with('/')
    {
        l.issue(
            "http.public_url",
            Some("MCPGATE_PUBLIC_URL"),
            "expected an http:// or https:// URL without a trailing slash",
        );
    }
    let cors_origins: Vec<String> =
        l.get_or("http.cors_origins", "MCPGATE_CORS_ORIGINS", Vec::new());
    for origin in &cors_origins {
        if origin == "*"
            || crate::edge::OriginPattern::parse(origin).is_err()
            || origin.contains('*')
        {
            l.issue(
                "http.cors_origins",
                Some("MCPGATE_CORS_ORIGINS"),
                format!("expected exact origins such as https://app.example.com, found {origin:?}"),
            );
        }
    }
    let max_header_bytes: usize = l.positive(
        "http.max_header_bytes",
        "MCPGATE_MAX_HEADER_BYTES",
        16 * 1024,
    );
    if max_header_bytes < 8192 {
        l.issue(
            "http.max_header_bytes",
            Some("MCPGATE_MAX_HEADER_BYTES"),
            "must be at least 8192",
        );
    }
    let trusted_proxies = l
        .get_or::<Vec<String>>(
            "http.trusted_proxies",
            "MCPGATE_TRUSTED_PROXIES",
            Vec::new(),
        )
        .iter()
        .filter_map(|text| match parse_net(text) {
            Some(net) => Some(net),
            None => {
                l.issue(
                    "http.trusted_proxies",
                    Some("MCPGATE_TRUSTED_PROXIES"),
                    format!("expected an address or CIDR range such as 10.0.0.0/8, found {text:?}"),
                );
                None
            }
        })
        .collect();
    HttpConfig {
        trusted_proxies,
        public_url,
        request_timeout: l.positive(
            "http.request_timeout",
            "MCPGATE_REQUEST_TIMEOUT",
            Duration::from_secs(60),
        ),
        max_concurrent_requests: l.positive(
            "http.max_concurrent_requests",
            "MCPGATE_MAX_CONCURRENT_REQUESTS",
            1024,
        ),
        header_read_timeout: l.positive(
            "http.header_read_timeout",
            "MCPGATE_HEADER_READ_TIMEOUT",
            Duration::from_secs(10),
        ),
        http2_idle_timeout: l.positive(
            "http.http2_idle_timeout",
            "MCPGATE_HTTP2_IDLE_TIMEOUT",
            Duration::from_secs(60),
        ),
        body_read_timeout: l.positive(
            "http.body_read_timeout",
            "MCPGATE_BODY_READ_TIMEOUT",
            Duration::from_secs(30),
        ),
        min_body_rate: l.get_or("http.min_body_rate", "MCPGATE_MIN_BODY_RATE", 1024),
        min_body_rate_grace: l.get_or(
            "http.min_body_rate_grace",
            "MCPGATE_MIN_BODY_RATE_GRACE",
            Duration::from_secs(5),
        ),
        max_body_readers: l.positive("http.max_body_readers", "MCPGATE_MAX_BODY_READERS", 1024),
        max_header_bytes,
        cors_origins,
        hsts_max_age: l.get_or("http.hsts_max_age", "MCPGATE_HSTS_MAX_AGE", Duration::ZERO),
        listen,
        mcp_path,
        allowed_hosts,
        allowed_origins,
        max_body_bytes,
        sse_keep_alive,
        sse_retry: l.get_or(
            "http.sse_retry",
            "MCPGATE_SSE_RETRY",
            Duration::from_secs(3),
        ),
        session_idle_timeout,
        max_sessions: l.positive("http.max_sessions", "MCPGATE_MAX_SESSIONS", 4096),
        max_sessions_per_principal: l.positive(
            "http.max_sessions_per_principal",
            "MCPGATE_MAX_SESSIONS_PER_PRINCIPAL",
            64,
        ),
        json_response: l.get_or("http.json_response", "MCPGATE_JSON_RESPONSE", true),
        shutdown_grace: l.get_or(
            "http.shutdown_grace",
            "MCPGATE_SHUTDOWN_GRACE",
            Duration::from_secs(30),
        ),
        shutdown_delay: l.get_or(
            "http.shutdown_delay",
            "MCPGATE_SHUTDOWN_DELAY",
            Duration::ZERO,
        ),
        shutdown_linger: l.get_or(
            "http.shutdown_linger",
            "MCPGATE_SHUTDOWN_LINGER",
            Duration::from_secs(1),
        ),
        allow_unauthenticated: overrides.allow_unauthenticated
            || l.get_or(
                "http.allow_unauthenticated",
                "MCPGATE_ALLOW_UNAUTHENTICATED",
                false,
            ),
    }
}

/// An address (a single-host range) or a CIDR range.
fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

fn resolve_store(l: &mut Layers<'_>, data_dir: &std::path::Path) -> StoreConfig {
    let default_url = format!("sqlite://{}", data_dir.join("mcpgate.db").display());
    let database_url: String = l.get_or("store.database_url", "MCPGATE_DATABASE_URL", default_url);
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        l.issue(
            "store.database_url",
            Some("MCPGATE_DATABASE_URL"),
            "expected sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB",
        );
    }
    StoreConfig {
        database_url,
        max_connections: l.positive("store.max_connections", "MCPGATE_DB_MAX_CONNECTIONS", 8),
        acquire_timeout: l.get_or(
            "store.acquire_timeout",
            "MCPGATE_DB_ACQUIRE_TIMEOUT",
            Duration::from_secs(5),
        ),
        min_connections: l.get_or("store.min_connections", "MCPGATE_DB_MIN_CONNECTIONS", 0),
        idle_timeout: l.positive(
            "store.idle_timeout",
            "MCPGATE_DB_IDLE_TIMEOUT",
            Duration::from_secs(600),
        ),
        sqlite_mmap_size: l.get_or(
            "store.sqlite_mmap_size",
            "MCPGATE_SQLITE_MMAP_SIZE",
            256 * 1024 * 1024,
        ),
        health_probe_ttl: l.get_or(
            "store.health_probe_ttl",
            "MCPGATE_HEALTH_PROBE_TTL",
            Duration::from_secs(1),
        ),
    }
}

fn resolve_workspace(l: &mut Layers<'_>, http: &HttpConfig) -> WorkspaceConfig {
    let default_page_size: u32 = l.positive(
        "workspace.default_page_size",
        "MCPGATE_WORKSPACE_PAGE_SIZE",
        20,
    );
    let max_page_size: u32 = l.positive(
        "workspace.max_page_size",
        "MCPGATE_WORKSPACE_MAX_PAGE_SIZE",
        100,
    );
    if max_page_size > 1000 {
        l.issue(
            "workspace.max_page_size",
            Some("MCPGATE_WORKSPACE_MAX_PAGE_SIZE"),
            "must be at most 1000",
        );
    }
    if default_page_size > max_page_size {
        l.issue(
            "workspace.default_page_size",
            Some("MCPGATE_WORKSPACE_PAGE_SIZE"),
            format!("must not exceed workspace.max_page_size ({max_page_size})"),
        );
    }
    let max_result_bytes: usize = l.positive(
        "workspace.max_result_bytes",
        "MCPGATE_MAX_RESULT_BYTES",
        256 * 1024,
    );
    if max_result_bytes < 4096 {
        l.issue(
            "workspace.max_result_bytes",
            Some("MCPGATE_MAX_RESULT_BYTES"),
            "must be at least 4096",
        );
    }
    WorkspaceConfig {
        write: l.get_or("workspace.write", "MCPGATE_WORKSPACE_WRITE", false),
        default_page_size,
        max_page_size,
        max_result_bytes,
        public_url: http.public_url.clone(),
    }
}

fn resolve_modules(l: &mut Layers<'_>) -> ModulesConfig {
    let enabled: Vec<String> = l.get_or(
        "modules.enabled",
        "MCPGATE_MODULES",
        vec!["system".to_owned(), "workspace".to_owned()],
    );
    for name in &enabled {
        if !KNOWN_MODULES.contains(&name.as_str()) {
            l.issue(
                "modules.enabled",
                Some("MCPGATE_MODULES"),
                format!(
                    "unknown module {name:?}; known modules: {}",
                    KNOWN_MODULES.join(", ")
                ),
            );
        }
    }
    let page_size: usize = l.positive("modules.page_size", "MCPGATE_PAGE_SIZE", 100);
    if page_size > 1000 {
        l.issue(
            "modules.page_size",
            Some("MCPGATE_PAGE_SIZE"),
            "must be at most 1000",
        );
    }
    let event_buffer: usize = l.positive("modules.event_buffer", "MCPGATE_EVENT_BUFFER", 64);
    ModulesConfig {
        event_buffer,
        enabled,
        disabled_tools: l.get_or(
            "modules.disabled_tools",
            "MCPGATE_DISABLED_TOOLS",
            Vec::new(),
        ),
        page_size,
        list_ttl: l.get_or(
            "modules.list_ttl",
            "MCPGATE_LIST_TTL",
            Duration::from_secs(30),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::env;

    #[test]
    fn defaults_are_loopback_http_with_no_auth() {
        let c = resolve(&env(&[("HOME", "/home/u")]), &Overrides::default()).expect("valid");
        assert_eq!(c.transport, Transport::Http);
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.auth.mode, AuthMode::None);
        assert_eq!(
            c.store.database_url,
            "sqlite:///home/u/.local/share/mcpgate/mcpgate.db"
        );
        assert_eq!(c.modules.enabled, ["system", "workspace"]);
    }

    #[test]
    fn all_bad_values_are_reported_together() {
        let e = resolve(
            &env(&[
                ("MCPGATE_TRANSPORT", "carrier-pigeon"),
                ("MCPGATE_LISTEN", "nowhere"),
                ("MCPGATE_MODULES", "system,nosuch"),
                ("MCPGATE_PAGE_SIZE", "0"),
                ("MCPGATE_DEFAULT_ROLE", "god"),
                ("MCPGATE_LOG_FORMAT", "xml"),
            ]),
            &Overrides::default(),
        )
        .expect_err("invalid");
        let ConfigError::Invalid(issues) = e else {
            panic!("expected issues, got {e}")
        };
        let text: Vec<String> = issues.iter().map(|i| i.setting.clone()).collect();
        for needle in [
            "MCPGATE_TRANSPORT",
            "MCPGATE_LISTEN",
            "MCPGATE_MODULES",
            "MCPGATE_PAGE_SIZE",
            "MCPGATE_DEFAULT_ROLE",
            "MCPGATE_LOG_FORMAT",
        ] {
            assert!(
                text.iter().any(|s| s.contains(needle)),
                "{needle} missing from {text:?}"
            );
        }
    }

    #[test]
    fn unauthenticated_public_listen_is_refused_unless_allowed() {
        let public = env(&[("MCPGATE_LISTEN", "0.0.0.0:8080")]);
        let e = resolve(&public, &Overrides::default()).expect_err("refused");
        assert!(e.to_string().contains("without authentication"), "{e}");
        let allowed = Overrides {
            allow_unauthenticated: true,
            ..Default::default()
        };
        resolve(&public, &allowed).expect("explicitly allowed");
        let dev = env(&[("MCPGATE_LISTEN", "0.0.0.0:8080"), ("MCPGATE_AUTH", "dev")]);
        let e = resolve(&dev, &Overrides::default()).expect_err("unsigned dev tokens refused");
        assert!(e.to_string().contains("auth `dev`"), "{e}");
        resolve(&dev, &allowed).expect("dev behind a trusted proxy, explicitly allowed");
        let loopback = env(&[
            ("MCPGATE_LISTEN", "127.0.0.1:8080"),
            ("MCPGATE_AUTH", "dev"),
        ]);
        resolve(&loopback, &Overrides::default()).expect("dev auth on loopback");
        let token = env(&[
            ("MCPGATE_LISTEN", "0.0.0.0:8080"),
            ("MCPGATE_AUTH", "token"),
            (
                "MCPGATE_AUTH_TOKEN",
                "a-long-enough-static-token-0123456789",
            ),
        ]);
        resolve(&token, &Overrides::default()).expect("token auth may listen anywhere");
    }

    #[test]
    fn file_values_are_read_and_env_overrides_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcpgate.toml");
        std::fs::write(
            &path,
            "[http]\nmcp_path = \"/rpc\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .expect("write");
        let overrides = Overrides {
            config_file: Some(path),
            ..Default::default()
        };
        let c = resolve(&env(&[("MCPGATE_LISTEN", "127.0.0.1:9001")]), &overrides).expect("valid");
        assert_eq!(c.http.mcp_path, "/rpc");
        assert_eq!(c.http.listen.port(), 9001);
    }
}

//! Resolution: read every setting through the layers, check it, and build [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use super::{
    Config, ConfigError, EnvSource, HttpConfig, KNOWN_MODULES, Layers, ModulesConfig, Overrides,
    Transport, WorkspaceConfig,
};
use crate::edge::AuthMode;
use crate::store::StoreConfig;
use crate::telemetry::{LogConfig, LogFormat};

/// rmcp logs every stateless request at info; keep its chatter at warn unless asked.
const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

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
    let worker_threads = resolve_worker_threads(&mut l);

    let http = super::http::resolve_http(&mut l, overrides);
    let admin = super::admin::resolve_admin(&mut l, transport, &http);
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
    let traces = super::traces::resolve_traces(&mut l);
    let rate_limit = super::limits::resolve_rate_limits(&mut l);
    let mut upstreams = super::upstreams::resolve_upstreams(&mut l);
    let mut proxy = super::proxy::resolve_proxy(&mut l, overrides.proxy.as_deref());
    if let Some(proxy) = &proxy {
        if !upstreams.is_empty() {
            l.issue(
                "proxy",
                Some("MCPGATE_PROXY"),
                "proxy mode relays to one upstream: it cannot be combined with [[upstreams]] \
                 (federate the server as an [[upstreams]] entry instead)",
            );
        }
        if transport != Transport::Http {
            l.issue(
                "proxy",
                Some("MCPGATE_PROXY"),
                "proxy mode relays Streamable HTTP: it needs transport = http",
            );
        }
        // Listed in the background like any upstream, so per-tool policy knows its tools.
        upstreams.push(proxy.clone());
    }
    super::upstreams::attach_grant_store(
        &mut l,
        upstreams.iter_mut().chain(proxy.as_mut()),
        &data_dir,
    );
    if auth.mode != AuthMode::Jwt
        && upstreams.iter().any(|u| {
            matches!(
                &u.transport,
                crate::upstream::UpstreamTransport::Http { oauth: Some(o), .. }
                    if matches!(o.grant, crate::upstream::oauth::Grant::TokenExchange { .. })
            )
        })
    {
        l.issue(
            "auth.mode (MCPGATE_AUTH)",
            None,
            "an upstream's oauth token exchange trades each caller's verified token: it needs \
             MCPGATE_AUTH=jwt",
        );
    }
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
    if http.session_store == super::SessionStoreKind::Redis && redis_url.is_none() {
        l.issue(
            "http.session_store",
            Some("MCPGATE_SESSION_STORE"),
            "sessions shared in Redis need MCPGATE_REDIS_URL",
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
        AuthMode::Token | AuthMode::Jwt | AuthMode::Signed | AuthMode::Certificate => None,
    };
    if auth.mode == AuthMode::Certificate
        && http.tls.as_ref().is_none_or(|tls| tls.client_ca.is_none())
    {
        l.issue(
            "auth.mode (MCPGATE_AUTH)",
            None,
            "auth `mtls` takes the caller from a verified client certificate: serve TLS \
             (MCPGATE_TLS_CERT, MCPGATE_TLS_KEY) and require client certificates \
             (MCPGATE_TLS_CLIENT_CA)",
        );
    }
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
        worker_threads,
        http,
        admin,
        store,
        modules,
        workspace,
        auth,
        rate_limit,
        log,
        traces,
        upstreams,
        proxy,
        redis_url: redis_url.map(super::Secret),
    })
}

/// The most worker threads a runtime is given.
const MAX_WORKER_THREADS: usize = 1024;

/// `server.worker_threads` (`MCPGATE_WORKER_THREADS`), else Tokio's own `TOKIO_WORKER_THREADS`
/// — read here, so a bad value is a configuration problem like any other rather than a panic
/// in the runtime — else `None` (one per core).
fn resolve_worker_threads(l: &mut Layers<'_>) -> Option<usize> {
    let (key, var) = ("server.worker_threads", "MCPGATE_WORKER_THREADS");
    let (count, key, var) = match l.get::<usize>(key, var) {
        Some(count) => (count, key, Some(var)),
        None => {
            let tokio = "TOKIO_WORKER_THREADS";
            let text = l.env_var(tokio)?;
            match <usize as super::SettingValue>::from_env(&text) {
                Ok(count) => (count, tokio, None),
                Err(e) => {
                    l.issue(tokio, None, e);
                    return None;
                }
            }
        }
    };
    if (1..=MAX_WORKER_THREADS).contains(&count) {
        Some(count)
    } else {
        l.issue(
            key,
            var,
            format!("must be between 1 and {MAX_WORKER_THREADS}"),
        );
        None
    }
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
            64 << 30,
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

    /// The worker count: ours first, then Tokio's own variable, each checked (a bad value of
    /// Tokio's would otherwise panic inside the runtime); none means one per core.
    #[test]
    fn worker_threads_come_from_either_variable_and_are_checked() {
        let workers = |pairs: &[(&str, &str)]| {
            resolve(&env(pairs), &Overrides::default()).map(|c| c.worker_threads)
        };
        assert_eq!(workers(&[]).expect("valid"), None);
        assert_eq!(
            workers(&[("MCPGATE_WORKER_THREADS", "2")]).expect("valid"),
            Some(2)
        );
        assert_eq!(
            workers(&[("TOKIO_WORKER_THREADS", " 3 ")]).expect("valid"),
            Some(3)
        );
        assert_eq!(
            workers(&[
                ("MCPGATE_WORKER_THREADS", "1"),
                ("TOKIO_WORKER_THREADS", "8")
            ])
            .expect("valid"),
            Some(1)
        );
        for (var, value) in [
            ("MCPGATE_WORKER_THREADS", "0"),
            ("MCPGATE_WORKER_THREADS", "many"),
            ("MCPGATE_WORKER_THREADS", "100000"),
            ("TOKIO_WORKER_THREADS", "abc"),
            ("TOKIO_WORKER_THREADS", "0"),
            ("TOKIO_WORKER_THREADS", "-1"),
        ] {
            let e = workers(&[(var, value)]).expect_err(value).to_string();
            assert!(e.contains(var), "{var}={value}: {e}");
        }
        let file = crate::config::testing::with_file("[server]\nworker_threads = 4\n", &[]);
        assert_eq!(file.expect("valid").worker_threads, Some(4));
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

//! Resolution of the HTTP settings ([`HttpConfig`]): the listener, the MCP path, Host and
//! Origin allowlists, body, header and time limits, sessions, shutdown and proxies.

use std::net::SocketAddr;
use std::time::Duration;

use super::{HttpConfig, Layers, Overrides, SessionStoreKind};

const DEFAULT_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1", "[::1]"];
const DEFAULT_ORIGINS: &[&str] = &[
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

pub(super) fn resolve_http(l: &mut Layers<'_>, overrides: &Overrides) -> HttpConfig {
    let default_listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    // Read (and checked) even when `--listen` wins, so the file's entry is not unknown.
    let configured = l.get_or("http.listen", "MCPGATE_LISTEN", default_listen);
    let listen = match overrides.listen.as_deref() {
        Some(text) => <SocketAddr as super::SettingValue>::from_env(text).unwrap_or_else(|e| {
            l.issue("--listen", None, e);
            default_listen
        }),
        None => configured,
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
    let tls = resolve_tls(l);
    let public_url: String = l.get_or(
        "http.public_url",
        "MCPGATE_PUBLIC_URL",
        format!("{}://{listen}", super::scheme(tls.as_ref())),
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
        tls,
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
        session_store: l.choice(
            "http.session_store",
            "MCPGATE_SESSION_STORE",
            SessionStoreKind::Memory,
            |s| match s {
                "memory" => Ok(SessionStoreKind::Memory),
                "redis" => Ok(SessionStoreKind::Redis),
                other => Err(format!("expected memory or redis, found {other:?}")),
            },
        ),
        session_prefix: l.get_or(
            "http.session_prefix",
            "MCPGATE_SESSION_PREFIX",
            "mcpgate:".to_owned(),
        ),
        json_response: l.get_or("http.json_response", "MCPGATE_JSON_RESPONSE", true),
        legacy_sse: l.get_or("http.legacy_sse", "MCPGATE_LEGACY_SSE", false),
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

/// `http.tls_*`: both a certificate and a key, or neither; a client CA only with them.
fn resolve_tls(l: &mut Layers<'_>) -> Option<super::TlsConfig> {
    let cert: Option<String> = l.get("http.tls_cert", "MCPGATE_TLS_CERT");
    let key: Option<String> = l.get("http.tls_key", "MCPGATE_TLS_KEY");
    let client_ca: Option<String> = l.get("http.tls_client_ca", "MCPGATE_TLS_CLIENT_CA");
    let reload_interval = l.positive(
        "http.tls_reload_interval",
        "MCPGATE_TLS_RELOAD_INTERVAL",
        Duration::from_secs(10),
    );
    match (cert, key) {
        (Some(cert), Some(key)) => Some(super::TlsConfig {
            cert: cert.into(),
            key: key.into(),
            client_ca: client_ca.map(Into::into),
            reload_interval,
        }),
        (None, None) => {
            if client_ca.is_some() {
                l.issue(
                    "http.tls_client_ca",
                    Some("MCPGATE_TLS_CLIENT_CA"),
                    "client certificates need TLS: set MCPGATE_TLS_CERT and MCPGATE_TLS_KEY",
                );
            }
            None
        }
        _ => {
            l.issue(
                "http.tls_cert",
                Some("MCPGATE_TLS_CERT"),
                "TLS needs both a certificate (MCPGATE_TLS_CERT) and its key (MCPGATE_TLS_KEY)",
            );
            None
        }
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

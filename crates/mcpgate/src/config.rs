//! Configuration: one typed [`Config`], resolved once at start-up from defaults, an optional
//! TOML file and `MCPGATE_*` environment variables (env wins), and validated completely before
//! anything binds. Every bad value is reported in one [`ConfigError`]; the binary exits 64.

mod admin;
mod auth;
mod entries;
mod http;
mod limits;
#[cfg(test)]
mod props;
mod proxy;
mod resolve;
mod source;
mod traces;
mod upstreams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::{MIN_JWT_SECRET_LEN, MIN_TOKEN_LEN};
pub use resolve::resolve;
pub use source::{EnvSource, Layers, ProcessEnv, SettingValue};

// Each subsystem owns its settings types; `Config` is made of them, so they are named here too.
pub use crate::edge::{
    AuthConfig, AuthMode, ROLES, RateLimitConfig, RuleEffect, StaticToken, ToolQuota, ToolRule,
};
pub use crate::store::StoreConfig;
pub use crate::telemetry::{LogConfig, LogFormat, TraceConfig};

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
    /// `--proxy URL`.
    pub proxy: Option<String>,
}

/// The exit code for bad configuration (`EX_USAGE` in sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// One problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The setting at fault, as `file.key (ENV_VAR)`.
    pub setting: String,
    /// What is wrong with it.
    pub message: String,
}

/// Configuration that failed to resolve: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read or is not TOML.
    #[error("cannot read configuration file {path}: {message}")]
    File {
        /// The file named by `--config` or `MCPGATE_CONFIG`.
        path: PathBuf,
        /// Why it could not be used.
        message: String,
    },
    /// One or more settings are invalid.
    #[error("invalid configuration ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, format_issues(.0))]
    Invalid(Vec<ConfigIssue>),
}

fn format_issues(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {}: {}", i.setting, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How MCP reaches this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Newline-delimited JSON-RPC on stdin/stdout, for local clients.
    Stdio,
    /// Streamable HTTP on [`HttpConfig::listen`].
    Http,
}

/// The whole resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Transport to serve. Default `http`. Env `MCPGATE_TRANSPORT`.
    pub transport: Transport,
    /// Directory for the embedded database and other state. Default `$HOME/.local/share/mcpgate`
    /// (or `./mcpgate-data` without a home). Env `MCPGATE_DATA_DIR`.
    pub data_dir: PathBuf,
    /// The async runtime's worker threads; `None`: one per core. Env `MCPGATE_WORKER_THREADS`
    /// (Tokio's own `TOKIO_WORKER_THREADS` is read too, and checked like any setting).
    pub worker_threads: Option<usize>,
    /// HTTP listener and protocol settings.
    pub http: HttpConfig,
    /// The admin listener (metrics, probes, status page, reload).
    pub admin: AdminConfig,
    /// Storage settings.
    pub store: StoreConfig,
    /// Which tools are exposed.
    pub modules: ModulesConfig,
    /// The workspace module and REST API.
    pub workspace: WorkspaceConfig,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// Span export over OTLP (the standard `OTEL_*` variables; off unless an endpoint is set).
    pub traces: TraceConfig,
    /// Upstream MCP servers federated behind this one (`[[upstreams]]`, file only); in proxy
    /// mode, the proxy's upstream alone.
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// Proxy mode: the one upstream the MCP endpoint relays to (`[proxy]`, `--proxy URL`, env
    /// `MCPGATE_PROXY`); no tools are served here then (the native modules and the REST API
    /// are off).
    pub proxy: Option<crate::upstream::UpstreamConfig>,
    /// Shared state across replicas (rate limits). Env `MCPGATE_REDIS_URL`. Never printed:
    /// it may hold a password.
    pub redis_url: Option<Secret>,
}

/// Where legacy sessions are recorded (see [`HttpConfig::session_store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionStoreKind {
    /// In this process: a session lives on the replica that created it.
    #[default]
    Memory,
    /// In Redis, shared by every replica.
    Redis,
}

/// A setting that may hold a credential (a URL with a password): printed as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The admin listener: `/metrics`, `/healthz`, `/readyz`, the status page and `POST /reload`,
/// on an address of their own so that metrics and operations stay off the public listener.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Where it listens; `None` (`off`) for no admin listener. Default `127.0.0.1:9090` with
    /// the HTTP transport, off with stdio. Env `MCPGATE_ADMIN_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// Whether `listen` was configured rather than defaulted: a configured address that cannot
    /// be bound stops the server; the default one (Prometheus' own port, often taken on a
    /// developer's machine) is skipped with a warning.
    pub listen_configured: bool,
    /// A token that `/metrics` (on either listener), the status page and reload require, as
    /// `Authorization: Bearer <token>` or as the password of HTTP Basic (for a browser).
    /// Default none. Env `MCPGATE_METRICS_TOKEN`.
    pub metrics_token: Option<Secret>,
    /// Serve `/metrics` on the public listener too. Default: only when that listener is on a
    /// loopback address. Env `MCPGATE_PUBLIC_METRICS`.
    pub public_metrics: bool,
}

/// Serving TLS directly (no load balancer in front to end it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, PEM, leaf first. Env `MCPGATE_TLS_CERT`.
    pub cert: PathBuf,
    /// Its private key, PEM. Env `MCPGATE_TLS_KEY`.
    pub key: PathBuf,
    /// Client certificates are required and must chain to one of these CAs (PEM). Env
    /// `MCPGATE_TLS_CLIENT_CA`. Default none (no client certificates asked for).
    pub client_ca: Option<PathBuf>,
    /// How often the files are checked for a change (a renewed certificate is served to new
    /// connections; open ones keep theirs). Default 10s. Env `MCPGATE_TLS_RELOAD_INTERVAL`.
    pub reload_interval: Duration,
}

/// The URL scheme this server answers on.
fn scheme(tls: Option<&TlsConfig>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// HTTP transport settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Listen address. Default `127.0.0.1:8080`. Env `MCPGATE_LISTEN`.
    pub listen: SocketAddr,
    /// TLS, when this server ends it itself (`MCPGATE_TLS_CERT` and `MCPGATE_TLS_KEY`).
    pub tls: Option<TlsConfig>,
    /// Path of the MCP endpoint. Default `/mcp`. Env `MCPGATE_MCP_PATH`.
    pub mcp_path: String,
    /// Allowed `Host` header values (host or host:port). Default loopback names. Env
    /// `MCPGATE_ALLOWED_HOSTS`.
    pub allowed_hosts: Vec<String>,
    /// Allowed `Origin` values (`scheme://host[:port|:*]`); requests without `Origin` pass.
    /// Default loopback origins on any port. Env `MCPGATE_ALLOWED_ORIGINS`.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body. Default 1 MiB. Env `MCPGATE_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// Keep-alive comment interval on SSE streams. Default 15s. Env `MCPGATE_SSE_KEEP_ALIVE`.
    pub sse_keep_alive: Duration,
    /// Reconnect delay advertised to legacy SSE clients. Default 3s. Env `MCPGATE_SSE_RETRY`.
    pub sse_retry: Duration,
    /// Idle time (no request in flight, no stream open) after which a legacy session is
    /// closed. Default 5m. Env `MCPGATE_SESSION_IDLE_TIMEOUT`.
    pub session_idle_timeout: Duration,
    /// Live legacy sessions in all; an `initialize` past it is answered 503. Default 4096. Env
    /// `MCPGATE_MAX_SESSIONS`.
    pub max_sessions: usize,
    /// Live legacy sessions of one authenticated principal (the default principal of auth
    /// `none` is bounded by `max_sessions` only). Default 64. Env
    /// `MCPGATE_MAX_SESSIONS_PER_PRINCIPAL`.
    pub max_sessions_per_principal: usize,
    /// Where legacy sessions are recorded: `memory` (this process only; the default) or
    /// `redis` (shared by every replica on `MCPGATE_REDIS_URL`, so a session continues on any
    /// of them). Env `MCPGATE_SESSION_STORE`.
    pub session_store: SessionStoreKind,
    /// Before every Redis key and channel of shared sessions, so deployments can share one
    /// Redis. Default `mcpgate:`. Env `MCPGATE_SESSION_PREFIX`.
    pub session_prefix: String,
    /// Answer stateless requests with plain JSON when no notification is sent first. Default
    /// true. Env `MCPGATE_JSON_RESPONSE`.
    pub json_response: bool,
    /// Also serve the legacy HTTP+SSE transport (2024-11-05): `GET /sse` and
    /// `POST /messages?sessionId=`. Default false. Env `MCPGATE_LEGACY_SSE`.
    pub legacy_sse: bool,
    /// How long shutdown waits for in-flight requests. Default 30s. Env
    /// `MCPGATE_SHUTDOWN_GRACE`.
    pub shutdown_grace: Duration,
    /// How long readiness reports 503 while the listener still accepts, before draining starts,
    /// so load balancers stop sending new work first. Default 0s. Env `MCPGATE_SHUTDOWN_DELAY`.
    pub shutdown_delay: Duration,
    /// How long, once in-flight requests are done, idle HTTP/1.1 keep-alive connections stay
    /// open during shutdown, so a request a client sent before it saw `Connection: close` is
    /// still answered rather than lost. Default 1s. Env `MCPGATE_SHUTDOWN_LINGER`.
    pub shutdown_linger: Duration,
    /// Serve without authentication (auth `none`, or `dev` with its unsigned tokens) on a
    /// non-loopback address. Default false. Env `MCPGATE_ALLOW_UNAUTHENTICATED`.
    pub allow_unauthenticated: bool,
    /// The URL callers reach this server at (record links, OAuth resource metadata and the
    /// audience tokens are minted for). Default `http://<listen address>`. Env
    /// `MCPGATE_PUBLIC_URL`.
    pub public_url: String,
    /// Longest a request may take until its response starts (body read and handler); longer
    /// ones are answered 504. Streams, once started, are not limited. Default 60s. Env
    /// `MCPGATE_REQUEST_TIMEOUT`.
    pub request_timeout: Duration,
    /// Requests handled at once; more are shed with 503 and `Retry-After`. Default 1024. Env
    /// `MCPGATE_MAX_CONCURRENT_REQUESTS`.
    pub max_concurrent_requests: usize,
    /// Longest a client may take to send a request's headers, and longest an idle keep-alive
    /// connection is kept. Default 10s. Env `MCPGATE_HEADER_READ_TIMEOUT`.
    pub header_read_timeout: Duration,
    /// How long an HTTP/2 connection may stay open with no open stream (server PINGs do not
    /// count) before it gets GOAWAY and is closed; also a connection that never sends a
    /// request. Default 60s. Env `MCPGATE_HTTP2_IDLE_TIMEOUT`.
    pub http2_idle_timeout: Duration,
    /// Longest a client may take to send a whole request body; 408 past it. Default 30s. Env
    /// `MCPGATE_BODY_READ_TIMEOUT`.
    pub body_read_timeout: Duration,
    /// Lowest average rate, in bytes per second, a request body must arrive at once
    /// `min_body_rate_grace` has passed; slower senders are cut off with 408. 0 turns the
    /// check off. Default 1024. Env `MCPGATE_MIN_BODY_RATE`.
    pub min_body_rate: u64,
    /// Time a body may take before its rate is checked. Default 5s. Env
    /// `MCPGATE_MIN_BODY_RATE_GRACE`.
    pub min_body_rate_grace: Duration,
    /// Requests receiving their body at once, counted apart from
    /// `max_concurrent_requests` (a request moves to those once its body is read); more are
    /// shed with 503. Default 1024. Env `MCPGATE_MAX_BODY_READERS`.
    pub max_body_readers: usize,
    /// Largest request head (request line and headers); larger ones are answered 431. Default
    /// 16384. Env `MCPGATE_MAX_HEADER_BYTES`.
    pub max_header_bytes: usize,
    /// Origins allowed to call from a browser (CORS); empty means same-origin only. Each is
    /// also accepted by the Origin check. Default none. Env `MCPGATE_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// `Strict-Transport-Security` max-age; zero sends none (set it when TLS ends in front of
    /// this server). Default 0. Env `MCPGATE_HSTS_MAX_AGE`.
    pub hsts_max_age: Duration,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed: a request from
    /// one of them is attributed to the client it names (for per-IP limits). Default none. Env
    /// `MCPGATE_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The workspace: notes, tasks, comments, chats and chat messages, as tools and REST API.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// Register write tools and accept REST writes. Default false (read-only). Env
    /// `MCPGATE_WORKSPACE_WRITE`.
    pub write: bool,
    /// Records per page when the caller names no limit. Default 20. Env
    /// `MCPGATE_WORKSPACE_PAGE_SIZE`.
    pub default_page_size: u32,
    /// Largest page a caller may ask for. Default 100. Env `MCPGATE_WORKSPACE_MAX_PAGE_SIZE`.
    pub max_page_size: u32,
    /// Largest tool result or REST body, in bytes; longer pages end at a record boundary with
    /// a cursor. Default 262144 (256 KiB). Env `MCPGATE_MAX_RESULT_BYTES`.
    pub max_result_bytes: usize,
    /// Base URL of record links (`url` in results): [`HttpConfig::public_url`].
    pub public_url: String,
}

impl WorkspaceConfig {
    /// The limits the workspace service enforces.
    pub fn limits(&self) -> crate::workspace::WorkspaceLimits {
        crate::workspace::WorkspaceLimits {
            default_page_size: self.default_page_size,
            max_page_size: self.max_page_size,
            max_result_bytes: self.max_result_bytes,
            public_url: self.public_url.clone(),
        }
    }
}

/// Which tools are exposed and how lists are paged.
#[derive(Debug, Clone)]
pub struct ModulesConfig {
    /// Native modules to load, in order. Default `system,workspace`. Env `MCPGATE_MODULES`.
    pub enabled: Vec<String>,
    /// Tools removed by name. Default none. Env `MCPGATE_DISABLED_TOOLS`.
    pub disabled_tools: Vec<String>,
    /// Items per `tools/list` page. Default 100. Env `MCPGATE_PAGE_SIZE`.
    pub page_size: usize,
    /// How long clients may cache list results (`ttlMs`). Default 30s. Env `MCPGATE_LIST_TTL`.
    pub list_ttl: Duration,
    /// Change events buffered per slow listener before it misses some. Default 64. Env
    /// `MCPGATE_EVENT_BUFFER`.
    pub event_buffer: usize,
}

/// Native modules this build knows.
pub const KNOWN_MODULES: &[&str] = &["system", "workspace", "conformance"];

impl Config {
    /// Record the address the listener really bound (a port of 0 becomes the system's pick):
    /// a public URL left at its default follows it, and so do the links and audience built
    /// from it.
    pub fn bound_to(&mut self, addr: SocketAddr) {
        let scheme = scheme(self.http.tls.as_ref());
        let default_url = format!("{scheme}://{}", self.http.listen);
        if self.http.public_url == default_url {
            self.http.public_url = format!("{scheme}://{addr}");
            self.workspace.public_url = self.http.public_url.clone();
            let stale = [
                format!("{default_url}{}", self.http.mcp_path),
                default_url.clone(),
            ];
            if self.auth.jwt.audience == stale {
                self.auth.jwt.audience = vec![
                    format!("{}{}", self.http.public_url, self.http.mcp_path),
                    self.http.public_url.clone(),
                ];
            }
        }
        self.http.listen = addr;
    }

    /// The configuration with every default and no file or environment: what tests start from.
    pub fn defaults() -> Self {
        let env: std::collections::HashMap<String, String> = Default::default();
        resolve(&env, &Overrides::default()).expect("the defaults are valid")
    }
}

/// Resolution from a made-up environment and file, for the tests of every settings area.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;

    use super::{Config, ConfigError, Overrides, resolve};

    /// An environment of `pairs`.
    pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Resolve a configuration file holding `text`, under the environment `pairs`.
    pub fn with_file(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcpgate.toml");
        std::fs::write(&path, text).expect("write");
        let overrides = Overrides {
            config_file: Some(path),
            ..Default::default()
        };
        resolve(&env(pairs), &overrides)
    }
}

//! Upstream MCP servers federated behind this one: each configured `[[upstreams]]` entry is a
//! catalog source whose tools are listed under its prefix (`files__read_file`), pass the same
//! edge, policy and limits as native tools, and are called on the upstream under their own
//! names. Only tools the entry's `tools.allow` globs name (and its `tools.deny` globs do not)
//! are exposed; with no `allow`, nothing is. The operator can rename a tool, replace its
//! description, set its annotations, fix some of its arguments and give it its own timeout.
//!
//! Each upstream has a pool of sessions (`pool.rs`; for stdio, one child process per session,
//! started with only the environment the entry lists plus `PATH`, `HOME` and `LANG`, no shell),
//! a circuit breaker (`breaker.rs`), a retry policy with a budget (`retry.rs`), and a
//! supervisor (`source.rs`) that lists it until that works, pings its sessions and probes an
//! open breaker. An upstream that cannot be reached at start-up is served without tools and
//! joins when it answers. A 2026-07-28 upstream over HTTP is called straight over HTTP, one
//! POST per request (`direct.rs`); other sessions go through rmcp's client, whose HTTP
//! requests carry the gateway's request id (`correlate.rs`).

mod breaker;
mod check;
mod child;
mod correlate;
mod credential;
mod direct;
pub mod oauth;
mod pins;
mod pool;
mod probe;
mod resources;
mod retry;
mod session;
mod sse;
mod tls;
mod tools;

mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use breaker::BreakerPolicy;
pub use check::{approve, check, login};
pub use credential::{Attempt, Credential, Presented, Refusal};
pub use pins::Pinning;
pub use probe::probe;
pub use retry::RetryPolicy;
pub use source::UpstreamSource;
pub use tls::{
    UpstreamTls, client_config, connector, install_default_provider, unused as unused_tls,
};
pub use tools::{REQUEST_ID_META, ToolOverride};

use crate::edge::glob;
use crate::lifecycle::Lifecycle;
use crate::mcp::Catalog;
use tokio_util::sync::CancellationToken;

/// How to reach an upstream.
#[derive(Clone)]
pub enum UpstreamTransport {
    /// A child process speaking MCP on its stdin/stdout.
    Stdio {
        /// The program (a path, or a name looked up in `PATH`); never run through a shell.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// The only variables it gets besides `PATH`, `HOME` and `LANG`.
        env: BTreeMap<String, String>,
        /// Its working directory.
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP server, or (with `sse`) a legacy HTTP+SSE one.
    Http {
        /// Its MCP endpoint (for `sse`, its event stream).
        url: String,
        /// It speaks the legacy HTTP+SSE transport (2024-11-05), `transport = "sse"`.
        sse: bool,
        /// Headers sent with every request (names and values as configured).
        headers: BTreeMap<String, String>,
        /// Where the bearer token mcpgate presents comes from (never the caller's own
        /// credential).
        bearer: Option<SecretSource>,
        /// OAuth toward the upstream (`[upstreams.oauth]`), which takes the bearer's place.
        oauth: Option<Box<oauth::OAuthConfig>>,
        /// Sign each request with signed tenant headers under this secret
        /// (`sign_tenant_headers`).
        signing: Option<SecretSource>,
        /// TLS toward an `https://` upstream (roots, client identity).
        tls: Option<UpstreamTls>,
    },
}

impl std::fmt::Debug for UpstreamTransport {
    /// Variable values are left out: they are often secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            Self::Http {
                url,
                sse,
                headers,
                bearer,
                oauth,
                signing,
                tls,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("sse", sse)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .field("bearer", bearer)
                .field("oauth", &oauth.as_ref().map(|o| &o.grant))
                .field("signing", signing)
                .field("tls", &tls.is_some())
                .finish(),
        }
    }
}

/// Where a secret toward an upstream (its bearer token, its signing secret, an OAuth client's
/// secret or key) is read: when it is used, or through a [`CachedSecret`] (so a rotated file
/// is picked up).
#[derive(Clone)]
pub enum SecretSource {
    /// An environment variable of this process.
    Env(String),
    /// A file (surrounding whitespace is trimmed).
    File(PathBuf),
    /// The secret itself (one learned at run time, such as a registered client's secret).
    Value(Arc<str>),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(name) => f.debug_tuple("Env").field(name).finish(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Value(_) => f.write_str("Value(…)"),
        }
    }
}

impl SecretSource {
    /// The token.
    pub fn read(&self) -> anyhow::Result<String> {
        use anyhow::Context;
        let token = match self {
            Self::Env(name) => {
                std::env::var(name).with_context(|| format!("environment variable {name}"))?
            }
            Self::File(path) => {
                std::fs::read_to_string(path).with_context(|| format!("file {}", path.display()))?
            }
            Self::Value(value) => value.to_string(),
        };
        let token = token.trim();
        anyhow::ensure!(!token.is_empty(), "the secret is empty");
        Ok(token.to_owned())
    }
}

/// A secret read from its source at most once a second, so a rotated file is used within a
/// second without a read on every request.
#[derive(Debug)]
pub struct CachedSecret {
    source: SecretSource,
    cached: arc_swap::ArcSwapOption<(std::time::Instant, Arc<str>)>,
}

impl CachedSecret {
    /// How long a read secret is used before its source is read again.
    const FRESH: Duration = Duration::from_secs(1);

    /// A cache over `source` (read on first use).
    pub fn new(source: SecretSource) -> Self {
        Self {
            source,
            cached: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// The secret.
    pub fn get(&self) -> anyhow::Result<Arc<str>> {
        if let Some(cached) = self.cached.load_full()
            && cached.0.elapsed() < Self::FRESH
        {
            return Ok(Arc::clone(&cached.1));
        }
        let secret: Arc<str> = self.source.read()?.into();
        self.cached.store(Some(Arc::new((
            std::time::Instant::now(),
            Arc::clone(&secret),
        ))));
        Ok(secret)
    }
}

/// Signs requests toward an upstream with signed tenant headers (see [`crate::edge::signed`]).
#[derive(Debug, Clone)]
pub struct TenantSigner {
    secret: Arc<CachedSecret>,
}

impl TenantSigner {
    /// Who requests are signed for when no caller is behind them (discovery, listing,
    /// heartbeats, list-change streams): this tenant and subject.
    pub const GATEWAY: (&'static str, &'static str) = ("mcpgate-gateway", "mcpgate");

    /// A signer under the secret from `source`.
    pub fn new(source: SecretSource) -> Self {
        Self {
            secret: Arc::new(CachedSecret::new(source)),
        }
    }

    /// The headers of request `method target` with `body`, signed now for `tenant`/`subject`.
    pub fn headers(
        &self,
        method: &str,
        target: &str,
        (tenant, subject): (&str, &str),
        body: &[u8],
    ) -> anyhow::Result<Vec<(http::HeaderName, http::HeaderValue)>> {
        let secret = self.secret.get()?;
        Ok(crate::edge::signed::sign(
            secret.as_bytes(),
            method,
            target,
            tenant,
            subject,
            body,
        ))
    }
}

/// One `[[upstreams]]` entry.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The upstream's name (also the catalog source's name).
    pub name: String,
    /// How to reach it.
    pub transport: UpstreamTransport,
    /// Put before each of its tool names (default `<name>__`).
    pub prefix: String,
    /// Which of its tools (by the upstream's own names) are exposed.
    pub tools: Allowlist,
    /// Which of its resources and resource templates (by the upstream's own URIs) are exposed.
    pub resources: Allowlist,
    /// Which of its prompts (by the upstream's own names) are exposed.
    pub prompts: Allowlist,
    /// How long connecting, listing and each call may take.
    pub timeout: Duration,
    /// Which protocol era to speak with it.
    pub protocol: UpstreamProtocol,
    /// How many sessions it gets (for stdio, child processes).
    pub pool_size: usize,
    /// Open every session at start rather than on first use.
    pub warm: bool,
    /// When to retry.
    pub retry: RetryPolicy,
    /// When to stop calling it for a while.
    pub breaker: BreakerPolicy,
    /// How often each session is pinged (zero: never).
    pub heartbeat_interval: Duration,
    /// How long a ping may take before its session is replaced.
    pub heartbeat_timeout: Duration,
    /// The operator's changes per upstream tool (by the upstream's own name).
    pub overrides: BTreeMap<String, ToolOverride>,
    /// Believe the upstream's `readOnlyHint` and `idempotentHint` (for role checks and
    /// retries).
    pub trust_annotations: bool,
    /// An argument that carries the request id to the upstream tool, if any.
    pub correlation_argument: Option<String>,
    /// Readiness fails while this upstream is not ready.
    pub required: bool,
    /// Whether callers share sessions, or each gets its own.
    pub isolation: Isolation,
    /// Under per-caller isolation: how many callers' session sets are kept at most.
    pub max_principals: usize,
    /// Under per-caller isolation: how long a caller's unused sessions are kept.
    pub principal_idle: Duration,
    /// What a changed tool definition leads to.
    pub pinning: Pinning,
}

/// Whether callers share an upstream's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// One pool for every caller (a stateless upstream, or one whose state is shared anyway).
    Shared,
    /// Each caller gets a set of sessions of its own (a stateful upstream).
    PerPrincipal,
}

/// The protocol era mcpgate speaks with an upstream, whatever era its own callers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// A session opened with `initialize` (2025-11-25 and older); the upstream's list changes
    /// are heard on the session.
    Legacy,
    /// Stateless 2026-07-28: `server/discover`, then self-contained requests; list changes are
    /// followed through a `subscriptions/listen` stream.
    Modern,
    /// `server/discover` first, `initialize` when the upstream turns out to be legacy. The
    /// default.
    Auto,
}

/// Globs of what to expose and what never to: nothing is exposed until `allow` names it, and
/// `deny` wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Globs of names to expose.
    pub allow: Vec<String>,
    /// Globs of names never to expose, whatever `allow` says.
    pub deny: Vec<String>,
}

impl Allowlist {
    /// Whether `name` is exposed.
    pub fn permits(&self, name: &str) -> bool {
        self.allow.iter().any(|p| glob(p, name)) && !self.deny.iter().any(|p| glob(p, name))
    }

    /// Whether nothing can be exposed.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
    }
}

impl UpstreamConfig {
    /// Whether the upstream's tool `name` is exposed.
    pub fn exposes(&self, name: &str) -> bool {
        self.tools.permits(name)
    }

    /// The names callers would see for the tools this entry names outright: each `allow`
    /// entry without glob characters, and each override with a new `name` for a tool it
    /// allows, with the prefix. What globs let through is known only once the upstream lists
    /// its tools; these are known at load, so a collision among them is a configuration error.
    pub fn named_tools(&self) -> Vec<String> {
        let literal = |p: &String| !p.contains(['*', '?', '[']);
        let mut named: Vec<String> = self
            .tools
            .allow
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|p| literal(p) && self.exposes(p))
            .map(|p| {
                let renamed = self.overrides.get(p).and_then(|o| o.name.as_ref());
                format!("{}{}", self.prefix, renamed.unwrap_or(p))
            })
            .collect();
        for (tool, rule) in &self.overrides {
            if let Some(name) = &rule.name
                && !self.tools.allow.contains(tool)
                && self.exposes(tool)
            {
                named.push(format!("{}{name}", self.prefix));
            }
        }
        named
    }
}

/// Where an upstream stands, as `health` and `/readyz` report it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct UpstreamStatus {
    /// The upstream's name.
    pub name: String,
    /// `connecting` (never listed yet), `ready`, `degraded` (the last attempt failed),
    /// `open_breaker` (calls fail fast, tools hidden) or `quarantined` (its tools collide).
    pub state: String,
    /// Whether readiness waits for it.
    pub required: bool,
    /// The protocol version its last session opened with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub era: Option<String>,
    /// Tools it exposes.
    pub tools: usize,
    /// Sessions open now.
    pub sessions: usize,
    /// Sessions it may have.
    pub pool_size: usize,
    /// `closed`, `open` or `half_open`.
    pub breaker: String,
    /// The last problem seen, until the next success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tools whose definition changed since it was pinned (hidden under `pinning = "block"`
    /// until approved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_tools: Vec<String>,
}

/// One running upstream: its source and the token that stops its supervisor.
struct Running {
    source: Arc<UpstreamSource>,
    stop: CancellationToken,
}

/// Every configured upstream, in configuration order; replaced one by one on a reload.
#[derive(Clone)]
pub struct Upstreams {
    running: Arc<std::sync::Mutex<Vec<Running>>>,
    metrics: crate::telemetry::Metrics,
    pins: Arc<dyn crate::store::PinStore>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sources().iter().map(|s| s.config().name.clone()))
            .finish()
    }
}

/// What a reload did to the upstreams.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamChanges {
    /// Upstreams started (new names).
    pub added: Vec<String>,
    /// Upstreams stopped (names no longer configured).
    pub removed: Vec<String>,
    /// Upstreams whose settings changed: stopped, then started with the new ones.
    pub replaced: Vec<String>,
}

impl UpstreamChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.replaced.is_empty()
    }
}

impl Upstreams {
    /// A source per entry, none connected yet; tool pins kept in `pins`.
    pub fn new(
        configs: &[UpstreamConfig],
        metrics: &crate::telemetry::Metrics,
        pins: Arc<dyn crate::store::PinStore>,
    ) -> Self {
        let upstreams = Self {
            running: Arc::default(),
            metrics: metrics.clone(),
            pins,
        };
        let running = configs
            .iter()
            .map(|c| Running {
                source: upstreams.source(c),
                stop: CancellationToken::new(),
            })
            .collect();
        *upstreams.lock() = running;
        upstreams
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn source(&self, config: &UpstreamConfig) -> Arc<UpstreamSource> {
        UpstreamSource::new(
            config.clone(),
            self.metrics.upstream(&config.name),
            Some(Arc::clone(&self.pins)),
        )
    }

    /// The running sources, in configuration order.
    fn sources(&self) -> Vec<Arc<UpstreamSource>> {
        self.lock().iter().map(|r| Arc::clone(&r.source)).collect()
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Connect to every upstream at once (each within its own timeouts), add each to
    /// `catalog` as a prefixed source and start its supervisor, stopped with `lifecycle`. One
    /// that cannot be reached yet is logged and added without tools: it joins when it answers.
    pub async fn start(&self, catalog: &Catalog, lifecycle: &Lifecycle) {
        let running: Vec<(Arc<UpstreamSource>, CancellationToken)> = self
            .lock()
            .iter()
            .map(|r| (Arc::clone(&r.source), r.stop.clone()))
            .collect();
        let starts = running.iter().map(|(source, _)| source.start());
        let started = futures::future::join_all(starts).await;
        for ((source, stop), started) in running.into_iter().zip(started) {
            enlist(source, stop, started, catalog, lifecycle);
        }
    }

    /// Make the running upstreams those of `configs` (a reload): stop the ones no longer
    /// configured, start new ones, and replace the ones whose settings changed; the others
    /// keep running untouched, their sessions and calls with them. A stopped upstream's tools
    /// leave the catalog first, so no new call reaches it.
    pub async fn reconfigure(
        &self,
        configs: &[UpstreamConfig],
        catalog: &Catalog,
        lifecycle: &Lifecycle,
    ) -> UpstreamChanges {
        let mut changes = UpstreamChanges::default();
        let mut stopped = Vec::new();
        let mut fresh = Vec::new();
        let mut next = Vec::with_capacity(configs.len());
        {
            let mut running = self.lock();
            let mut old: Vec<Running> = std::mem::take(&mut *running);
            for config in configs {
                let same = old
                    .iter()
                    .position(|r| r.source.config().name == config.name);
                match same.map(|i| old.remove(i)) {
                    Some(r) if format!("{:?}", r.source.config()) == format!("{config:?}") => {
                        next.push(r);
                    }
                    previous => {
                        if let Some(previous) = previous {
                            changes.replaced.push(config.name.clone());
                            stopped.push(previous);
                        } else {
                            changes.added.push(config.name.clone());
                        }
                        let r = Running {
                            source: self.source(config),
                            stop: CancellationToken::new(),
                        };
                        fresh.push((Arc::clone(&r.source), r.stop.clone()));
                        next.push(r);
                    }
                }
            }
            for r in old {
                changes.removed.push(r.source.config().name.clone());
                stopped.push(r);
            }
            *running = next;
        }
        for r in stopped {
            catalog.remove_source(&r.source.config().name);
            r.stop.cancel();
        }
        let started = futures::future::join_all(fresh.iter().map(|(s, _)| s.start())).await;
        for ((source, stop), started) in fresh.into_iter().zip(started) {
            enlist(source, stop, started, catalog, lifecycle);
        }
        changes
    }

    /// Each upstream's status.
    pub async fn statuses(&self) -> Vec<UpstreamStatus> {
        let sources = self.sources();
        let mut statuses = Vec::with_capacity(sources.len());
        for source in sources {
            statuses.push(source.status().await);
        }
        statuses
    }
}

/// Add a started (or not yet reachable) `source` to `catalog` and supervise it until `stop`
/// or the app's shutdown.
fn enlist(
    source: Arc<UpstreamSource>,
    stop: CancellationToken,
    started: anyhow::Result<usize>,
    catalog: &Catalog,
    lifecycle: &Lifecycle,
) {
    let name = source.config().name.clone();
    match started {
        Ok(tools) => tracing::info!(upstream = %name, tools, "upstream connected"),
        Err(e) => tracing::error!(
            upstream = %name,
            error = %format!("{e:#}"),
            "upstream unreachable; its tools are offered once it answers"
        ),
    }
    match catalog.add_source_prefixed(Arc::clone(&source) as _, &source.config().prefix) {
        Ok(None) => {}
        Ok(Some(problem)) => {
            tracing::warn!(upstream = %name, problem = %problem, "upstream quarantined");
        }
        Err(e) => {
            tracing::error!(upstream = %name, error = %e, "upstream not added");
            return;
        }
    }
    lifecycle
        .tasks()
        .spawn(format!("upstream {name}"), move |shutdown| async move {
            // Stopped by a reload (`stop`) or with the app (`shutdown`), whichever comes first.
            let supervise = source.supervise(stop.clone());
            let relay = async {
                shutdown.cancelled().await;
                stop.cancel();
                std::future::pending::<()>().await;
            };
            tokio::select! {
                done = supervise => done,
                () = relay => Ok(()),
            }
        });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config(allow: &[&str], deny: &[&str]) -> UpstreamConfig {
        UpstreamConfig {
            name: "files".into(),
            transport: UpstreamTransport::Stdio {
                command: "x".into(),
                args: Vec::new(),
                env: BTreeMap::from([("TOKEN".to_owned(), "s3cret".to_owned())]),
                cwd: None,
            },
            prefix: "files__".into(),
            tools: Allowlist {
                allow: allow.iter().map(|s| (*s).to_owned()).collect(),
                deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            },
            resources: Allowlist::default(),
            prompts: Allowlist::default(),
            timeout: Duration::from_secs(1),
            protocol: UpstreamProtocol::Legacy,
            pool_size: 2,
            warm: false,
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(10),
            overrides: BTreeMap::new(),
            trust_annotations: false,
            correlation_argument: None,
            required: false,
            isolation: Isolation::Shared,
            max_principals: 64,
            principal_idle: Duration::from_secs(300),
            pinning: Pinning::Warn,
        }
    }

    #[test]
    fn nothing_is_exposed_until_allowed_and_deny_wins() {
        assert!(!config(&[], &[]).exposes("read_file"));
        assert!(config(&["read_*"], &[]).exposes("read_file"));
        assert!(!config(&["*"], &["read_*"]).exposes("read_file"));
        assert!(config(&["*"], &["read_*"]).exposes("write_file"));
    }

    #[test]
    fn debug_output_leaves_environment_values_out() {
        let text = format!("{:?}", config(&[], &[]));
        assert!(text.contains("TOKEN") && !text.contains("s3cret"), "{text}");
    }
}

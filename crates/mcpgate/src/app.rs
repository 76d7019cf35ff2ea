//! The app factory: build everything from a [`Config`] (plus any extra tool modules written in
//! Rust), then serve it over HTTP or stdio until a shutdown signal, and drain.
//!
//! There is no module-level state: two apps can live in one process, and a host application
//! can mount [`App::router`] inside its own axum service and share its lifespan.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use rmcp::ServiceExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Transport};
use crate::edge::{AuthMode, Authenticator, Challenges, Gate, Limits, Policy, RateLimiter};
use crate::http::{ConnectionLimits, DrainSignals, ResourceMetadata};
use crate::http::{RouterParts, build_router};
use crate::mcp::{
    Catalog, CatalogSettings, EventBus, Handler, HandlerParts, Module, ServerIdentity,
};
use crate::modules::{ModuleDeps, native, system::AppFacts};
use crate::store::{self, Store};
use crate::telemetry::Metrics;
use crate::workspace::WorkspaceService;

/// A built application, ready to serve.
pub struct App {
    config: Config,
    handler: Handler,
    gate: Gate,
    oauth_metadata: Option<Router>,
    store: Arc<dyn Store>,
    workspace: Arc<WorkspaceService>,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    /// Cancelled when draining starts: `subscriptions/listen` streams end gracefully.
    draining: CancellationToken,
    /// Cancelled once in-flight work is done and connections are closing: rmcp ends sessions
    /// and open streams (and would fail any stateless call still waiting for its answer, so it
    /// is never cancelled while one can be in flight).
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl App {
    /// Build the app from `config` with the native modules it enables.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Vec::new()).await
    }

    /// Build the app with extra modules after the configured native ones.
    pub async fn build_with(config: Config, extra: Vec<Arc<dyn Module>>) -> anyhow::Result<Self> {
        let store = store::open(&config.store)
            .await
            .context("open the store (store.database_url)")?;
        let applied = store.migrate().await.context("apply migrations")?;
        if applied > 0 {
            tracing::info!(applied, backend = store.backend(), "migrations applied");
        }

        let facts = Arc::new(AppFacts {
            started: Instant::now(),
            name: "mcpgate".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            transport: match config.transport {
                Transport::Stdio => "stdio",
                Transport::Http => "http",
            },
            modules: config.modules.enabled.clone(),
            catalog: OnceLock::new(),
            store: Arc::clone(&store),
            probe_ttl: config.store.health_probe_ttl,
        });
        let workspace = Arc::new(WorkspaceService::new(
            store.clone(),
            config.workspace.limits(),
        ));
        let deps = ModuleDeps {
            facts: Arc::clone(&facts),
            workspace: Arc::clone(&workspace),
            workspace_write: config.workspace.write,
        };
        let mut modules: Vec<Arc<dyn Module>> = Vec::new();
        for name in &config.modules.enabled {
            modules.push(
                native(name, &deps)
                    .with_context(|| format!("unknown module {name:?} (modules.enabled)"))?,
            );
        }
        modules.extend(extra);

        let metrics = Metrics::new();
        let limits = rate_limits(&config, &metrics).await?;
        let events = EventBus::new(config.modules.event_buffer);
        let catalog = Catalog::new(CatalogSettings {
            page_size: config.modules.page_size,
            policy: Policy::new(&config.auth.rules),
            disabled: config.modules.disabled_tools.clone(),
            limits: limits.clone(),
            metrics: metrics.clone(),
            events: events.clone(),
        });
        for module in modules {
            let name = module.name().to_owned();
            catalog
                .add_native(module)
                .with_context(|| format!("register the tools of module {name}"))?;
        }
        catalog
            .check_disabled()
            .context("disable tools (modules.disabled_tools)")?;
        let _ = facts.catalog.set(catalog.clone());

        let auth = Authenticator::new(&config.auth).context("set up JWT keys (auth.jwt)")?;
        if let Some(jwt) = auth.jwt() {
            if config.auth.jwt.issuer.is_none() {
                tracing::warn!(
                    "auth jwt without an issuer (MCPGATE_JWT_ISSUER): tokens from any issuer \
                     the keys sign for are accepted"
                );
            }
            // A failure is logged by the verifier; the keys are fetched again on first use.
            let _ = jwt.prefetch().await;
        }
        let metadata = oauth_metadata(&config);
        let default_principal = auth.default_principal().clone();
        let gate = Gate::new(
            auth,
            Challenges::new(metadata.as_ref().map(ResourceMetadata::url)),
            &config.auth.required_scopes,
            limits.clone(),
            metrics.clone(),
        );
        let oauth_metadata = metadata.map(|m| m.router());
        let draining = CancellationToken::new();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let handler = Handler::new(HandlerParts {
            catalog,
            events,
            metrics: metrics.clone(),
            default_principal,
            identity: ServerIdentity {
                name: facts.name.clone(),
                version: facts.version.clone(),
                instructions: None,
            },
            list_ttl: config.modules.list_ttl,
            tracker: tracker.clone(),
            draining: draining.clone(),
        });
        Ok(Self {
            config,
            handler,
            gate,
            oauth_metadata,
            store,
            workspace,
            metrics,
            ready: Arc::new(AtomicBool::new(true)),
            draining,
            shutdown,
            tracker,
        })
    }

    /// The resolved configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The MCP handler (for stdio, or to serve it some other way).
    pub fn handler(&self) -> Handler {
        self.handler.clone()
    }

    /// The workspace service (what the `workspace` tools and the REST API call).
    pub fn workspace(&self) -> &Arc<WorkspaceService> {
        &self.workspace
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The whole HTTP router: MCP at the configured path, the REST API under `/api/v1` with its
    /// OpenAPI document at `/openapi.json`, `/healthz`, `/readyz`, `/metrics`.
    pub fn router(&self) -> Router {
        build_router(RouterParts {
            http: self.config.http.clone(),
            handler: self.handler.clone(),
            gate: self.gate.clone(),
            oauth_metadata: self.oauth_metadata.clone(),
            store: Arc::clone(&self.store),
            ready: Arc::clone(&self.ready),
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
            workspace: self
                .config
                .modules
                .enabled
                .iter()
                .any(|m| m == "workspace")
                .then(|| Arc::clone(&self.workspace)),
            workspace_write: self.config.workspace.write,
        })
    }

    /// Serve HTTP on `listener` until `signal` resolves, then drain: readiness goes false and
    /// answers ask clients to close their connections; after `http.shutdown_delay` the listener
    /// stops; in-flight requests finish and their answers are delivered (up to
    /// `http.shutdown_grace`); idle connections get `http.shutdown_linger` to deliver a last
    /// request; then connections close and streams end.
    pub async fn serve_http(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let local = listener.local_addr().context("read the listener address")?;
        let router = self.router();
        let drain = DrainSignals::default();
        let limits = ConnectionLimits {
            header_read_timeout: self.config.http.header_read_timeout,
            max_header_bytes: self.config.http.max_header_bytes,
            http2_idle_timeout: self.config.http.http2_idle_timeout,
            hsts_max_age: self.config.http.hsts_max_age,
        };
        let server = crate::http::serve(listener, router, limits, drain.clone());
        let mut server = tokio::spawn(server);
        tracing::info!(address = %local, mcp_path = %self.config.http.mcp_path, "serving MCP over HTTP");

        tokio::select! {
            () = signal => {}
            result = &mut server => {
                result.context("server task")?;
                anyhow::bail!("the HTTP server stopped on its own");
            }
        }
        self.ready.store(false, Ordering::Release);
        drain.closing.cancel();
        let delay = self.config.http.shutdown_delay;
        if !delay.is_zero() {
            tracing::info!(
                delay_s = delay.as_secs_f64(),
                "shutting down: not ready, still accepting"
            );
            tokio::time::sleep(delay).await;
        }
        let grace = self.config.http.shutdown_grace;
        let deadline = Instant::now() + grace;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            "shutting down: draining in-flight requests"
        );
        drain.stop_accepting.cancel();
        self.finish_calls(deadline).await;
        // Connections that were idle when draining began have not seen `Connection: close`;
        // a request may be on its way on one of them. Give it time to arrive (it is answered),
        // unless every connection has closed already.
        let linger = self.config.http.shutdown_linger.min(remaining(deadline));
        let mut server = match tokio::time::timeout(linger, &mut server).await {
            Ok(result) => {
                result.context("server task")?;
                None
            }
            Err(_) => Some(server),
        };
        drain.close_connections.cancel();
        // Requests that arrived while lingering are answered before sessions and streams end.
        self.drain_calls(deadline).await;
        self.shutdown.cancel();
        if let Some(server) = server.as_mut() {
            match tokio::time::timeout(remaining(deadline), &mut *server).await {
                Ok(result) => result.context("server task")?,
                Err(_) => {
                    tracing::warn!("connections still open at the shutdown deadline; closing them");
                    server.abort();
                }
            }
        }
        self.store.close().await;
        tracing::info!("shutdown complete");
        Ok(())
    }

    /// Serve MCP on stdin/stdout until the client closes stdin or `signal` resolves.
    pub async fn serve_stdio(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let running = self
            .handler
            .clone()
            .serve(rmcp::transport::stdio())
            .await
            .context("start the stdio transport")?;
        tracing::info!("serving MCP over stdio");
        let cancel = running.cancellation_token();
        let mut waiting = tokio::spawn(running.waiting());
        tokio::select! {
            () = signal => {
                let deadline = Instant::now() + self.config.http.shutdown_grace;
                self.finish_calls(deadline).await;
                cancel.cancel();
                let _ = tokio::time::timeout(remaining(deadline), &mut waiting).await;
            }
            _ = &mut waiting => {}
        }
        self.draining.cancel();
        self.shutdown.cancel();
        self.store.close().await;
        Ok(())
    }

    /// The drain both transports share: open-ended streams (`subscriptions/listen`) are told to
    /// end, and calls in flight finish, until `deadline`.
    async fn finish_calls(&self, deadline: Instant) {
        self.draining.cancel();
        self.drain_calls(deadline).await;
    }

    async fn drain_calls(&self, deadline: Instant) {
        self.tracker.close();
        if tokio::time::timeout(remaining(deadline), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.tracker.len(),
                "in-flight calls still running at the shutdown deadline"
            );
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = term => tracing::info!("received SIGTERM"),
    }
}

/// The rate limiter the configuration asks for: none without limits, Redis-shared with
/// `MCPGATE_REDIS_URL`, in process otherwise.
async fn rate_limits(config: &Config, metrics: &Metrics) -> anyhow::Result<Option<Limits>> {
    let settings = &config.rate_limit;
    if !settings.any() {
        return Ok(None);
    }
    let limiter = match &config.redis_url {
        Some(url) => RateLimiter::redis(
            &url.0,
            &settings.key_prefix,
            settings.failure,
            settings.redis_timeout,
        )
        .await
        .context("set up Redis rate limits (MCPGATE_REDIS_URL)")?,
        None => RateLimiter::local(),
    };
    tracing::info!(backend = limiter.backend(), "rate limits on");
    Ok(Some(Limits::new(limiter, settings, metrics)))
}

/// The protected-resource metadata, served when this server accepts OAuth tokens (auth `jwt`)
/// and knows at least one authorization server.
fn oauth_metadata(config: &Config) -> Option<ResourceMetadata<'_>> {
    let auth = &config.auth;
    (auth.mode == AuthMode::Jwt && !auth.authorization_servers.is_empty()).then(|| {
        ResourceMetadata {
            public_url: &config.http.public_url,
            mcp_path: &config.http.mcp_path,
            authorization_servers: &auth.authorization_servers,
            scopes_supported: &auth.scopes_supported,
        }
    })
}

//! The app factory: build everything from a [`Config`] (plus any extra tool modules written in
//! Rust), then serve it over HTTP or stdio until a shutdown signal, and drain.
//!
//! There is no module-level state: two apps can live in one process, and a host application
//! can mount [`App::router`] inside its own axum service and share its lifespan (see
//! `examples/embed.rs`).

mod admin;
mod transports;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError, ConfigIssue, Overrides};
use crate::edge::{AuthMode, Authenticator, Challenges, Gate, Limits, Policy};
use crate::http::{ResourceMetadata, admin_router, build_router};
use crate::lifecycle::{Lifecycle, TaskStopped};
use crate::mcp::{
    Catalog, CatalogSettings, EventBus, Handler, HandlerParts, Module, ServerIdentity,
};
use crate::modules::native;
use crate::proxy::Proxy;
use crate::state::{AppState, ReloadError, ReloadReport, Reloader};
use crate::store;
use crate::telemetry::{LogHandle, Metrics};
use crate::upstream::Upstreams;
use crate::workspace::WorkspaceService;
pub use admin::AdminServer;
use transports::{HostIntake, HttpIntake, StdioIntake};

/// A built application, ready to serve.
pub struct App {
    state: AppState,
    handler: Handler,
    oauth_metadata: Option<Router>,
}

impl App {
    /// Build the app from `config` with the native modules it enables.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Vec::new()).await
    }

    /// Build the app with extra modules after the configured native ones.
    pub async fn build_with(config: Config, extra: Vec<Arc<dyn Module>>) -> anyhow::Result<Self> {
        let started = Instant::now();
        crate::upstream::install_default_provider();
        let store = store::open(&config.store)
            .await
            .context("open the store (store.database_url)")?;
        let applied = store.migrate().await.context("apply migrations")?;
        if applied > 0 {
            tracing::info!(applied, backend = store.backend(), "migrations applied");
        }
        let workspace = Arc::new(WorkspaceService::new(
            store.clone(),
            config.workspace.limits(),
        ));

        let mut auth = Authenticator::new(&config.auth).context("set up JWT keys (auth.jwt)")?;
        if let Some(url) = &config.redis_url {
            // Replicas sharing Redis refuse each other's replays of signed requests too.
            auth.share_replay_store(
                &config.auth.signing_secrets,
                &url.0,
                &config.rate_limit.key_prefix,
            )
            .context("set up the signed-request replay store (MCPGATE_REDIS_URL)")?;
        }
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
        let metrics = Metrics::new();
        let limits = Limits::from_config(
            &config.rate_limit,
            config.redis_url.as_ref().map(|url| url.0.as_str()),
            &metrics,
        )
        .await?;
        let events = EventBus::new(config.modules.event_buffer);
        let catalog = Catalog::new(CatalogSettings {
            page_size: config.modules.page_size,
            policy: Policy::new(&config.auth.rules),
            disabled: config.modules.disabled_tools.clone(),
            limits: limits.clone(),
            metrics: metrics.clone(),
            events: events.clone(),
        });
        let metadata = oauth_metadata(&config);
        let default_principal = auth.default_principal().clone();
        let gate = Gate::new(
            auth,
            Challenges::new(metadata.as_ref().map(ResourceMetadata::url)),
            &config.auth.required_scopes,
            limits,
            metrics.clone(),
        );
        let oauth_metadata = metadata.map(|m| m.router());
        let upstreams = Upstreams::new(&config.upstreams, &metrics, Arc::clone(&store) as _);
        let proxy = match &config.proxy {
            Some(upstream) => Some(Arc::new(
                Proxy::new(upstream, config.http.sse_keep_alive)
                    .context("set up the proxy's upstream (proxy.upstream)")?,
            )),
            None => None,
        };
        let reloader = Arc::new(Reloader::new(config.clone(), None));
        let state = AppState {
            reloader,
            upstreams,
            proxy,
            config: Arc::new(config),
            store,
            workspace,
            catalog,
            events,
            gate,
            metrics,
            lifecycle: Lifecycle::new(),
            started,
            log: LogHandle::default(),
        };

        // In proxy mode the MCP endpoint belongs to the upstream: nothing is served here.
        let modules = match state.proxy {
            Some(_) => &[][..],
            None => &state.config.modules.enabled[..],
        };
        let extra = if state.proxy.is_some() {
            Vec::new()
        } else {
            extra
        };
        for name in modules {
            let module = native(name, &state)
                .with_context(|| format!("unknown module {name:?} (modules.enabled)"))?;
            state
                .catalog
                .add_native(module)
                .with_context(|| format!("register the tools of module {name}"))?;
        }
        for module in extra {
            let name = module.name().to_owned();
            state
                .catalog
                .add_native(module)
                .with_context(|| format!("register the tools of module {name}"))?;
        }
        let natives = state.catalog.registered_tools();
        state.reloader.set_natives(natives.clone());
        let clashes: Vec<ConfigIssue> = state
            .config
            .upstreams
            .iter()
            .flat_map(|u| {
                u.named_tools()
                    .into_iter()
                    .filter(|tool| natives.contains(tool))
                    .map(|tool| ConfigIssue {
                        setting: "upstreams".to_owned(),
                        message: format!(
                            "{}: the tool name {tool:?} is already taken by a native module's \
                             tool (give the upstream a `prefix`, rename the tool, or deny it)",
                            u.name
                        ),
                    })
            })
            .collect();
        if !clashes.is_empty() {
            return Err(ConfigError::Invalid(clashes).into());
        }
        let prefixes: Vec<&str> = state
            .config
            .upstreams
            .iter()
            .map(|u| u.prefix.as_str())
            .collect();
        state
            .catalog
            .check_disabled(&natives, &prefixes)
            .context("disable tools (modules.disabled_tools)")?;
        state
            .upstreams
            .start(&state.catalog, &state.lifecycle)
            .await;

        let handler = Handler::new(HandlerParts {
            catalog: state.catalog.clone(),
            events: state.events.clone(),
            metrics: state.metrics.clone(),
            default_principal,
            identity: ServerIdentity {
                name: "mcpgate".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                instructions: None,
            },
            list_ttl: state.config.modules.list_ttl,
            lifecycle: state.lifecycle.clone(),
        });
        Ok(Self {
            state,
            handler,
            oauth_metadata,
        })
    }

    /// Attach the process's logging (what [`crate::telemetry::init_logging`] returned): the
    /// status page shows its recent warnings and errors, and reload changes its filter.
    #[must_use]
    pub fn with_log(mut self, log: LogHandle) -> Self {
        self.state.log = log;
        self
    }

    /// Let reloads read the configuration again: from `overrides` (the command line) over
    /// the process environment, compared against `resolved` (the configuration as resolved,
    /// before [`Config::bound_to`] recorded the listener's real port).
    #[must_use]
    pub fn with_config_source(mut self, overrides: Overrides, resolved: Config) -> Self {
        self.state.reloader = Arc::new(Reloader::new(resolved, Some(overrides)));
        self
    }

    /// Apply a new configuration's live settings (see [`AppState::reconfigure`]); an embedding
    /// host calls this with a configuration it resolved itself.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, ReloadError> {
        self.state.reconfigure(config).await
    }

    /// The resolved configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The handles the app shares (store, workspace, catalog, gate, metrics, lifecycle).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The MCP handler (for stdio, or to serve it some other way).
    pub fn handler(&self) -> Handler {
        self.handler.clone()
    }

    /// The workspace service (what the `workspace` tools and the REST API call).
    pub fn workspace(&self) -> &Arc<WorkspaceService> {
        &self.state.workspace
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// The whole HTTP router: MCP at the configured path, the REST API under `/api/v1` with its
    /// OpenAPI document at `/openapi.json`, `/healthz`, `/readyz`, `/metrics`.
    pub fn router(&self) -> Router {
        build_router(&self.state, &self.handler, self.oauth_metadata.clone())
    }

    /// The admin router: `/metrics`, `/healthz`, `/readyz` and the status page, for the admin
    /// listener (`MCPGATE_ADMIN_LISTEN`).
    pub fn admin_router(&self) -> Router {
        admin_router(&self.state)
    }

    /// Serve HTTP on `listener` until `signal` resolves, then drain (see [`crate::lifecycle`]):
    /// readiness goes false and answers ask clients to close their connections; after
    /// `http.shutdown_delay` the listener stops; in-flight requests finish and their answers
    /// are delivered (up to `http.shutdown_grace`); idle connections get
    /// `http.shutdown_linger` to deliver a last request; then connections close, streams end
    /// and background tasks stop.
    pub async fn serve_http(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let local = listener.local_addr().context("read the listener address")?;
        let http = &self.state.config.http;
        let tls = match &http.tls {
            // Unusable certificate files are bad configuration (exit 64), found before serving.
            Some(tls) => Some(
                crate::http::Tls::load(tls, http.header_read_timeout, &self.state.lifecycle)
                    .map_err(|e| {
                        ConfigError::Invalid(vec![ConfigIssue {
                            setting: "http.tls_cert, http.tls_key, http.tls_client_ca".to_owned(),
                            message: format!("{e:#}"),
                        }])
                    })?,
            ),
            None => None,
        };
        let tls_on = tls.is_some();
        let mut intake = HttpIntake::start(listener, self.router(), http, tls);
        tracing::info!(
            tls = tls_on,
            address = %local,
            mcp_path = %self.state.config.http.mcp_path,
            "serving MCP over HTTP"
        );
        tokio::select! {
            () = signal => {}
            result = intake.stopped_on_its_own() => {
                result?;
                anyhow::bail!("the HTTP server stopped on its own");
            }
        }
        self.drain_through(&mut intake).await
    }

    /// Drain an app whose router a host application serves (see `examples/embed.rs`): not
    /// ready, listen streams end, calls in flight finish (up to `http.shutdown_grace`), then
    /// sessions and streams end (so the host's own graceful shutdown is not held open by
    /// them), background tasks stop and the store closes. Call it when the host starts its
    /// shutdown; the host's server keeps its connections until their answers are written.
    pub async fn drain(&self) -> anyhow::Result<()> {
        self.drain_through(&mut HostIntake).await
    }

    /// Serve MCP on stdin/stdout until the client closes stdin or `signal` resolves, then
    /// drain the same way as HTTP.
    pub async fn serve_stdio(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut intake = StdioIntake::start(self.handler.clone()).await?;
        tracing::info!("serving MCP over stdio");
        tokio::select! {
            () = signal => {}
            () = intake.client_closed() => {}
        }
        self.drain_through(&mut intake).await
    }

    /// The one drain sequence, through the transport's intake; then the store closes.
    async fn drain_through(
        &self,
        intake: &mut impl crate::lifecycle::Intake,
    ) -> anyhow::Result<()> {
        let grace = self.state.config.http.shutdown_grace;
        let drained = self.state.lifecycle.drain(intake, grace).await;
        self.state.store.close().await;
        for TaskStopped { name, error } in drained? {
            tracing::warn!(task = %name, error, "background task failed or did not stop");
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
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

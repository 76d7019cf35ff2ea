//! The router and its middleware stack, read top to bottom in the order a request meets it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::admin::{AdminToken, require_token};
use super::api;
use super::edge_layer::{EdgeState, edge};
use super::mcp_layer::{McpState, mcp_exchange};
use super::modern_calls::ModernCalls;
use super::probes::{healthz, metrics, readyz};
use super::proxy_route::{ProxyState, proxy_exchange};
use super::sessions::{Owned, SessionLimits, Sessions, SharedSessions};
use crate::config::{Config, HttpConfig, SessionStoreKind};
use crate::edge::OriginPolicy;
use crate::lifecycle::Lifecycle;
use crate::mcp::Handler;
use crate::proxy::Proxy;
use crate::state::AppState;
use crate::telemetry::Metrics;

/// Legacy sessions: bound to their creators, capped, closed when idle; in memory, and with
/// `MCPGATE_SESSION_STORE=redis` recorded in Redis too, so any replica continues them.
fn sessions(config: &Config, metrics: &Metrics, lifecycle: &Lifecycle) -> Arc<Sessions> {
    let http = &config.http;
    let gauge = metrics.sessions_live().clone();
    let shared = match (http.session_store, &config.redis_url) {
        (SessionStoreKind::Redis, Some(url)) => {
            let idle = http.session_idle_timeout;
            match SharedSessions::open(&url.0, &http.session_prefix, idle, SESSION_STORE_TIMEOUT) {
                Ok(shared) => Some(Arc::new(shared)),
                Err(e) => {
                    tracing::error!(error = %e, "sessions are not shared: the store cannot be opened");
                    None
                }
            }
        }
        _ => None,
    };
    match shared {
        Some(shared) => Sessions::shared(session_limits(http), gauge, lifecycle, shared),
        None => Arc::new(Sessions::new(session_limits(http), gauge, lifecycle)),
    }
}

/// Each call to the shared session store is bounded by this.
const SESSION_STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// The caps and timings of sessions, served or proxied.
fn session_limits(http: &HttpConfig) -> SessionLimits {
    SessionLimits {
        max_sessions: http.max_sessions,
        max_per_principal: http.max_sessions_per_principal,
        idle_timeout: http.session_idle_timeout,
        sse_retry: Some(http.sse_retry),
    }
}

/// The rmcp Streamable HTTP service over our handler, configured from [`HttpConfig`].
fn mcp_service(
    state: &AppState,
    handler: &Handler,
    sessions: Arc<Sessions>,
) -> StreamableHttpService<Handler, Sessions> {
    let http = &state.config.http;
    let config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(http.sse_keep_alive))
        .with_sse_retry(Some(http.sse_retry))
        .with_json_response(http.json_response)
        .with_cancellation_token(state.lifecycle.shutdown().child_token())
        .with_max_request_body_bytes(http.max_body_bytes)
        // Host and Origin are checked by our own layer on every route (same lists), so rmcp's
        // copy of the check is switched off rather than kept in two places.
        .disable_allowed_hosts()
        .disable_allowed_origins();
    let mut config = config;
    config.session_store = sessions.store().map(|store| {
        store as Arc<dyn rmcp::transport::streamable_http_server::session::SessionStore>
    });
    let handler = handler.clone();
    StreamableHttpService::new(move || Ok(handler.for_new_session()), sessions, config)
}

/// Proxy mode's MCP endpoint: everything relayed to the upstream (see `proxy_route`).
fn proxy_route(state: &AppState, proxy: &Arc<Proxy>) -> Router {
    let http = &state.config.http;
    let proxy_state = ProxyState {
        proxy: Arc::clone(proxy),
        gate: state.gate.clone(),
        catalog: state.catalog.clone(),
        max_body_bytes: http.max_body_bytes,
        sessions: Arc::new(Owned::new(
            session_limits(http),
            state.metrics.sessions_live().clone(),
            &state.lifecycle,
        )),
        session_retry_after: http.session_idle_timeout.min(Duration::from_secs(60)),
        lifecycle: state.lifecycle.clone(),
    };
    Router::new()
        .fallback(proxy_exchange)
        .with_state(proxy_state)
}

/// CORS for the configured origins (none: same-origin only, no CORS headers at all). Browsers
/// may send the MCP and auth headers and read the session, protocol, rate-limit and challenge
/// headers back.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let name = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                name("mcp-session-id"),
                name("mcp-protocol-version"),
                name("last-event-id"),
                name("x-request-id"),
            ])
            .expose_headers([
                header::WWW_AUTHENTICATE,
                header::RETRY_AFTER,
                header::ETAG,
                header::LOCATION,
                name("mcp-session-id"),
                name("mcp-protocol-version"),
                name("x-request-id"),
                name("ratelimit-limit"),
                name("ratelimit-remaining"),
                name("ratelimit-reset"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Build the whole router over the app's shared handles: MCP (served by `handler`), the REST
/// API when the `workspace` module is enabled, probes, metrics and the OAuth metadata routes,
/// all behind the edge.
pub fn build_router(state: &AppState, handler: &Handler, oauth_metadata: Option<Router>) -> Router {
    let http = &state.config.http;
    // Origins allowed to call cross-origin are allowed past the Origin check too.
    let mut origins = http.allowed_origins.clone();
    origins.extend(http.cors_origins.iter().cloned());
    let edge_state = EdgeState {
        metrics: state.metrics.clone(),
        mcp_path: http.mcp_path.as_str().into(),
        policy: OriginPolicy::new(&http.allowed_hosts, &origins),
        max_body_bytes: http.max_body_bytes,
        query_key: state.gate.accepts_query_key(),
        permits: Arc::new(tokio::sync::Semaphore::new(http.max_concurrent_requests)),
        readers: Arc::new(tokio::sync::Semaphore::new(http.max_body_readers)),
        pace: super::paced_body::BodyPace {
            timeout: http.body_read_timeout,
            min_rate: http.min_body_rate,
            grace: http.min_body_rate_grace,
        },
        request_timeout: http.request_timeout,
        hsts: (!http.hsts_max_age.is_zero())
            .then(|| {
                HeaderValue::from_str(&format!(
                    "max-age={}; includeSubDomains",
                    http.hsts_max_age.as_secs()
                ))
                .ok()
            })
            .flatten(),
        trusted_proxies: http.trusted_proxies.clone().into(),
        in_flight: state.lifecycle.calls().clone(),
    };
    let sessions = sessions(&state.config, &state.metrics, &state.lifecycle);
    let mcp_state = McpState {
        sessions: Arc::clone(&sessions),
        session_retry_after: http.session_idle_timeout.min(Duration::from_secs(60)),
        gate: state.gate.clone(),
        max_body_bytes: http.max_body_bytes,
        calls: http
            .json_response
            .then(|| Arc::new(ModernCalls::new(handler))),
    };

    let workspace = state.proxy.is_none()
        && state
            .config
            .modules
            .enabled
            .iter()
            .any(|m| m == "workspace");
    let api = workspace.then(|| api::router(state).merge(super::docs::docs_router()));

    // Only the MCP endpoint and `/api/v1` are authenticated; probes, metrics, `/docs` and
    // `/openapi.json` answer anyone who passes the edge's Host/Origin check (bind the listener
    // accordingly).
    let mcp = match &state.proxy {
        Some(proxy) => proxy_route(state, proxy),
        None => Router::new()
            .fallback_service(mcp_service(state, handler, sessions))
            .layer(from_fn_with_state(mcp_state, mcp_exchange)),
    };

    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    // Metrics belong to the admin listener; the public one serves them too only when asked (by
    // default when it is loopback itself), behind the same token.
    if state.config.admin.public_metrics {
        router = router.route(
            "/metrics",
            get(metrics).route_layer(from_fn_with_state(
                AdminToken(state.config.admin.metrics_token.clone()),
                require_token,
            )),
        );
    }
    let mut router = router.with_state(state.clone());
    if let Some(api) = api {
        router = router.merge(api);
    }
    if let Some(metadata) = oauth_metadata {
        router = router.merge(metadata);
    }
    if http.legacy_sse && state.proxy.is_none() {
        router = router.merge(super::legacy_sse::routes(super::legacy_sse::LegacySse {
            gate: state.gate.clone(),
            handler: handler.clone(),
            sessions: Arc::new(Owned::new(
                session_limits(http),
                state.metrics.sessions_live().clone(),
                &state.lifecycle,
            )),
            max_body_bytes: http.max_body_bytes,
            keep_alive: http.sse_keep_alive,
            session_retry_after: http.session_idle_timeout.min(Duration::from_secs(60)),
            lifecycle: state.lifecycle.clone(),
        }));
    }
    let mut router = router.nest_service(&http.mcp_path, mcp);
    if let Some(cors) = cors(&http.cors_origins) {
        router = router.layer(cors);
    }
    router
        // Request id, span, Host/Origin, body limit, metrics and logs: see `edge_layer`.
        .layer(from_fn_with_state(edge_state, edge))
}

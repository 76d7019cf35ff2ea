//! The floor: the smallest rmcp Streamable HTTP server, to measure what rmcp itself costs.
//!
//! One read-only tool, `health`, returning `{"status":"ok"}` as text and `structuredContent`;
//! `StreamableHttpService` with a `LocalSessionManager` nested at `/mcp`; default settings
//! except `json_response`, so stateless modern requests get plain JSON. No auth, no limits, no
//! logging. Whatever mcpgate adds on top of rmcp shows up as the distance from this floor.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::CallToolResult;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The floor server's MCP handler.
#[derive(Clone)]
pub struct Floor {
    /// Built once and shared, so a call does not rebuild the router.
    tool_router: Arc<ToolRouter<Floor>>,
}

impl Default for Floor {
    fn default() -> Self {
        Self {
            tool_router: Arc::new(Self::tool_router()),
        }
    }
}

#[tool_router]
impl Floor {
    /// Reports that the server is up.
    #[tool(
        description = "Reports that the server is up.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn health(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::structured(json!({ "status": "ok" })))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Floor {}

/// The floor's settings: rmcp's defaults except `json_response`, stopping with `shutdown`.
pub fn floor_config(shutdown: &CancellationToken) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_cancellation_token(shutdown.child_token())
}

/// The HTTP app: the rmcp service, configured with `config`, nested at `/mcp`.
pub fn app(config: StreamableHttpServerConfig) -> axum::Router {
    let handler = Floor::default();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    axum::Router::new().nest_service("/mcp", service)
}

/// Serves the floor on `listen` until SIGINT or SIGTERM.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("bind {listen} (--listen)"))?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    eprintln!("rmcp-floor: serving MCP on http://{listen}/mcp");
    serve_on(listener, floor_config(&shutdown), shutdown).await
}

/// Serves `app(config)` on `listener` until `shutdown` is cancelled.
pub async fn serve_on(
    listener: TcpListener,
    config: StreamableHttpServerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Small request/response exchanges must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app(config))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serve HTTP")
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}

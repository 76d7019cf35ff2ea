//! An existing axum service that adds mcpgate: its own routes stay as they are, mcpgate's
//! router is merged beside them (MCP at `/mcp`, plus `/api/v1`, `/healthz`, `/readyz`,
//! `/metrics`), a tool module written in the service is registered next to the native ones,
//! and one shutdown signal drains both.
//!
//! ```text
//! MCPGATE_DATA_DIR=/tmp/embed cargo run --example embed -- 127.0.0.1:3000
//! curl localhost:3000/orders/42
//! ```
//!
//! The configuration comes from the usual `MCPGATE_*` variables and `--config` file layers;
//! the listener is the service's own.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use mcpgate::App;
use mcpgate::config::{Overrides, ProcessEnv, resolve};
use mcpgate::mcp::{Module, ToolSpec};
use mcpgate::modules::{object, output_schema};
use rmcp::model::{CallToolResult, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

/// An order, as the service already serves it.
#[derive(Serialize, JsonSchema)]
struct Order {
    id: u64,
    status: &'static str,
}

/// What the service already does: look up orders.
fn order(id: u64) -> Order {
    let status = if id.is_multiple_of(2) {
        "shipped"
    } else {
        "packing"
    };
    Order { id, status }
}

/// The service's own tool module: one read-only tool over the same lookup its HTTP route uses.
struct Orders;

impl Module for Orders {
    fn name(&self) -> &str {
        "orders"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let input = object(json!({
            "type": "object",
            "properties": {"id": {"type": "integer", "minimum": 1}},
            "required": ["id"],
            "additionalProperties": false
        }));
        let tool = Tool::new(
            "get_order",
            "Look up an order by its number.",
            Arc::new(input),
        )
        .with_raw_output_schema(output_schema::<Order>())
        .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
        vec![ToolSpec::new(tool, |request, _cx| async move {
            let id = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("id"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or_default();
            let order = serde_json::to_value(order(id)).unwrap_or_default();
            Ok(CallToolResult::structured(order).into())
        })]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned())
        .parse()
        .context("the listen address (first argument)")?;
    let config = resolve(&ProcessEnv, &Overrides::default())?;
    let _log = mcpgate::telemetry::init_logging(&config.log, Some(&config.traces));
    let app = Arc::new(App::build_with(config, vec![Arc::new(Orders)]).await?);

    let service = Router::new()
        .route(
            "/orders/{id}",
            get(|Path(id): Path<u64>| async move { axum::Json(order(id)) }),
        )
        .merge(app.router());

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let draining = Arc::clone(&app);
    axum::serve(
        listener,
        service.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        mcpgate::shutdown_signal().await;
        if let Err(e) = draining.drain().await {
            tracing::error!(error = %format!("{e:#}"), "drain failed");
        }
    })
    .await?;
    Ok(())
}

//! The HTTP surface: one axum router with the MCP endpoint, the workspace REST API, health,
//! readiness and metrics, behind the request edge.

mod admin;
mod api;
mod bare_answers;
mod docs;
mod edge_layer;
mod jsonrpc;
mod legacy_sse;
mod mcp_layer;
mod modern_calls;
mod oauth;
mod paced_body;
mod probes;
mod proxy_route;
mod router;
mod server;
mod sessions;
mod tls;

pub use admin::admin_router;
pub use edge_layer::REQUEST_ID;
pub use oauth::{METADATA_PATH, ResourceMetadata};
pub use router::build_router;
pub use server::{ConnectionLimits, DrainSignals, serve};
pub use tls::Tls;

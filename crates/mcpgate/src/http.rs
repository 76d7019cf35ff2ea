//! The HTTP surface: one axum router with the MCP endpoint, the workspace REST API, health,
//! readiness and metrics, behind the request edge.

mod api;
mod docs;
mod edge_layer;
mod mcp_layer;
mod probes;
mod router;

pub use edge_layer::REQUEST_ID;
pub use router::{RouterParts, build_router};

//! The HTTP surface: one axum router with the MCP endpoint, health, readiness and metrics,
//! behind one middleware stack.

mod layers;
mod probes;
mod router;

pub use router::{RouterParts, build_router};

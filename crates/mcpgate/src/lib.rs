//! mcpgate: a production Model Context Protocol server and gateway.
//!
//! The crate is a library with a thin binary on top. [`App::build`] turns a resolved
//! [`config::Config`] into an application; [`App::serve_http`] and [`App::serve_stdio`] run it;
//! [`App::router`] hands an embedding axum service the whole HTTP surface to mount.

pub mod app;
pub mod cli;
pub mod config;
pub mod edge;
pub mod http;
pub mod lifecycle;
pub mod mcp;
pub mod modules;
pub mod proxy;
pub mod schema;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod workspace;

#[cfg(test)]
mod props;
mod redis_link;

pub use app::{App, shutdown_signal};

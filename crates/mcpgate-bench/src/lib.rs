//! Benchmark tooling for mcpgate.
//!
//! `mcpgate-bench` is a lean load generator that speaks MCP Streamable HTTP in both protocol
//! eras directly over HTTP, so that what it measures is the server, not a client SDK. It also
//! times cold starts. `rmcp-floor` is the smallest rmcp server, the lower bound that mcpgate's
//! figures are compared against.
//!
//! The modules follow a request's path: [`scenario`] picks a tool call, [`protocol`] turns it
//! into an HTTP request for the era, [`client`] sends it, [`reply`] (with [`sse`]) reads the
//! answer, and [`loadgen`] or [`coldstart`] run the measurement that [`report`] prints.
//! [`workspace`] seeds mcpgate's workspace and runs a mixed read/write load on it, building
//! each call's arguments from what the client read before.

pub mod cli;
pub mod client;
pub mod coldstart;
pub mod floor;
pub mod handoff;
pub mod loadgen;
pub mod protocol;
pub mod reply;
pub mod report;
pub mod rss;
pub mod scenario;
pub mod sessions;
pub mod sse;
pub mod workspace;

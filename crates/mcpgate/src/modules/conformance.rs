//! Module `conformance`: the fixtures the official MCP conformance suite calls. Off by default.

use std::sync::Arc;

use crate::mcp::{Module, ToolSpec};

/// The conformance fixture module.
#[derive(Debug, Default)]
pub struct ConformanceModule;

impl ConformanceModule {
    /// The module.
    pub fn new() -> Self {
        Self
    }
}

impl Module for ConformanceModule {
    fn name(&self) -> &'static str {
        "conformance"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        Vec::new()
    }
}

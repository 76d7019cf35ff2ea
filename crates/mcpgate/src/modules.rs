//! Native modules: each registers its tools (and optionally resources and prompts)
//! explicitly. `MCPGATE_MODULES` picks which are loaded, in order.

pub mod conformance;
pub mod system;

use std::sync::Arc;

use rmcp::model::JsonObject;

use crate::mcp::Module;

/// What a module may need from the app at construction.
#[derive(Clone)]
pub struct ModuleDeps {
    /// Facts about the running app (start time, modules, tool count, store).
    pub facts: Arc<system::AppFacts>,
}

/// Build the native module `name` (a name from [`crate::config::KNOWN_MODULES`]).
pub fn native(name: &str, deps: &ModuleDeps) -> Option<Arc<dyn Module>> {
    match name {
        "system" => Some(Arc::new(system::SystemModule::new(Arc::clone(&deps.facts)))),
        "conformance" => Some(Arc::new(conformance::ConformanceModule::new())),
        _ => None,
    }
}

/// A JSON object from a `json!` literal that is known to be an object.
pub fn object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("schema literal must be a JSON object, got {other}"),
    }
}

/// The input schema of a tool that takes no arguments.
pub fn no_arguments() -> Arc<JsonObject> {
    Arc::new(object(serde_json::json!({
        "type": "object",
        "properties": {},
        "additionalProperties": false
    })))
}

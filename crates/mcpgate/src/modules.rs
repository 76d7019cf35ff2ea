//! Native modules: each registers its tools (and optionally resources and prompts)
//! explicitly. `MCPGATE_MODULES` picks which are loaded, in order.

pub mod conformance;
pub mod system;
pub mod workspace;

use std::sync::Arc;

use crate::mcp::Module;
// Tool modules, here and in applications that embed mcpgate, build their schemas with these.
pub use crate::schema::{no_arguments, object, output_schema, strip_nonstandard_formats};

/// What a module may need from the app at construction.
#[derive(Clone)]
pub struct ModuleDeps {
    /// Facts about the running app (start time, modules, tool count, store).
    pub facts: Arc<system::AppFacts>,
    /// The workspace service.
    pub workspace: Arc<crate::workspace::WorkspaceService>,
    /// Whether workspace write tools are registered.
    pub workspace_write: bool,
}

/// Build the native module `name` (a name from [`crate::config::KNOWN_MODULES`]).
pub fn native(name: &str, deps: &ModuleDeps) -> Option<Arc<dyn Module>> {
    match name {
        "system" => Some(Arc::new(system::SystemModule::new(Arc::clone(&deps.facts)))),
        "workspace" => Some(Arc::new(workspace::WorkspaceModule::new(
            Arc::clone(&deps.workspace),
            deps.workspace_write,
        ))),
        "conformance" => Some(Arc::new(conformance::ConformanceModule::new())),
        _ => None,
    }
}

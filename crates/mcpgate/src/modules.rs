//! Native modules: each registers its tools (and optionally resources and prompts)
//! explicitly. `MCPGATE_MODULES` picks which are loaded, in order.

pub mod conformance;
pub mod system;
pub mod workspace;

use std::sync::Arc;

use crate::mcp::Module;
use crate::state::AppState;
// Tool modules, here and in applications that embed mcpgate, build their schemas with these.
pub use crate::schema::{no_arguments, object, output_schema, strip_nonstandard_formats};

/// Build the native module `name` (a name from [`crate::config::KNOWN_MODULES`]) over the
/// app's shared handles.
pub fn native(name: &str, state: &AppState) -> Option<Arc<dyn Module>> {
    match name {
        "system" => Some(Arc::new(system::SystemModule::new(system::AppFacts::of(
            state,
        )))),
        "workspace" => Some(Arc::new(workspace::WorkspaceModule::new(
            Arc::clone(&state.workspace),
            state.config.workspace.write,
        ))),
        "conformance" => Some(Arc::new(conformance::ConformanceModule::new())),
        _ => None,
    }
}

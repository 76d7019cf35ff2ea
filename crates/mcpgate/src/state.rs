//! The handles every part of a running app shares: configuration, store, workspace service,
//! catalog, change events, the edge's gate, metrics, the lifecycle and the upstreams. One cloneable value,
//! built once by [`crate::App`]; the modules, the HTTP router, the REST API and the probes are
//! built from it, so a new capability takes the handles it needs from here instead of adding
//! one more parts struct.
//!
//! The MCP handler sits below it (`mcp/` does not know the app), and takes its few handles
//! directly.

mod reload;

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::edge::Gate;
use crate::lifecycle::Lifecycle;
use crate::mcp::{Catalog, EventBus};
use crate::store::Store;
use crate::telemetry::{LogHandle, Metrics};
use crate::upstream::Upstreams;
use crate::workspace::WorkspaceService;
pub use reload::{ReloadError, ReloadReport, Reloader};

/// The shared handles of one app. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The resolved configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Arc<dyn Store>,
    /// The workspace service (what the `workspace` tools and the REST API call).
    pub workspace: Arc<WorkspaceService>,
    /// What the server offers, live; it also authorizes every tool use.
    pub catalog: Catalog,
    /// List-change events, to legacy sessions and listen streams.
    pub events: EventBus,
    /// Authentication, required scopes and rate limits of the MCP endpoint and the REST API.
    pub gate: Gate,
    /// The metrics registry.
    pub metrics: Metrics,
    /// Readiness, in-flight calls, background tasks and the drain.
    pub lifecycle: Lifecycle,
    /// The federated upstream MCP servers.
    pub upstreams: Upstreams,
    /// Proxy mode: the upstream the MCP endpoint relays to.
    pub proxy: Option<Arc<crate::proxy::Proxy>>,
    /// When the app was built.
    pub started: Instant,
    /// The process's logging (recent warnings and errors; the filter reload changes), when the
    /// binary installed it; detached otherwise.
    pub log: LogHandle,
    /// Live reload: where the configuration is read again from, and what is in force.
    pub reloader: Arc<Reloader>,
}

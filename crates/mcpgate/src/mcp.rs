//! The MCP side: one [`Handler`] (rmcp's `ServerHandler`) over one live [`Catalog`] of what
//! the sources (native modules, later upstream servers) offer, each item registered explicitly. stdio and HTTP share the handler; only how the caller's
//! [`Principal`](crate::edge::Principal) is found differs.

mod catalog;
mod changes;
mod context;
mod cursor;
mod events;
mod handler;
mod module;
pub mod params;
mod request_state;
/// Asking the caller for input in either era: a facility for any module, tied to none.
pub mod rounds;
mod session;
mod task_store;

pub use catalog::{
    Catalog, CatalogError, CatalogSettings, Entry, Granted, Quarantined, Refused, Snapshot,
    WeakCatalog,
};
pub use context::{CallContext, RequestSpan};
pub use cursor::Cursor;
pub use events::{EventBus, ServerEvent};
pub(crate) use handler::rate_limited;
pub use handler::{Handler, HandlerParts, ServerIdentity};
pub use module::{BoxFuture, Module, SourceChanges, ToolHandler, ToolSpec};
/// Seals the `requestState` of multi-round requests; each module that drives [`rounds`] owns one.
pub use request_state::StateSealer;
pub(crate) use request_state::canonical as canonical_json;
pub use session::SessionState;
/// Tasks bound to their creator, for modules whose tools answer with a task.
pub use task_store::{TaskStore, unknown_task};

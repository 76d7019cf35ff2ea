//! The workspace domain: notes, tasks, comments, chats and chat messages, with search and
//! fetch. [`WorkspaceService`] holds the rules; a [`port::RecordStore`] keeps the rows; the
//! `workspace` module (MCP tools) and the REST API are two doors onto the same service.
//!
//! The domain sits below its adapters: it defines the storage port it needs and never names
//! the `store` module that implements it.

pub mod cursor;
pub mod fields;
mod kind;
mod operation;
pub mod patch;
pub mod port;
pub mod record;
pub mod search;
mod service;
pub mod slug;
pub mod snippet;
pub mod transitions;
pub mod view;

pub use kind::{Kind, Transition};
pub use operation::Op;
pub use record::{Record, Tenant};
pub use service::{ListRequest, Order, Page, WorkspaceError, WorkspaceLimits, WorkspaceService};

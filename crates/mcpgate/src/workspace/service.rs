//! The workspace service: every operation on notes, tasks, comments, chats and chat messages,
//! as MCP tools and REST handlers both call it. It validates, normalizes, resolves slugs and
//! parents, applies patches and transitions, checks versions, and keeps results under the size
//! cap. Every call takes the caller's [`Tenant`]; the store scopes every query to it.

mod reads;
mod search;
mod writes;

pub use reads::{ListRequest, Order, Page};

use std::sync::Arc;

use serde_json::Value;

use super::Kind;
use super::fields::{self, FieldError};
use super::port::{RecordStore, StoreError};
use super::record::{Record, Tenant};
use super::transitions::TransitionError;
use super::view;

/// Limits the service enforces.
#[derive(Debug, Clone)]
pub struct WorkspaceLimits {
    /// Page size when the caller gives none.
    pub default_page_size: u32,
    /// Largest page size a caller may ask for.
    pub max_page_size: u32,
    /// Largest result, in bytes of JSON; longer pages end early with a cursor.
    pub max_result_bytes: usize,
    /// Base URL of record links (`url` fields).
    pub public_url: String,
}

/// A failure the caller can act on, or a store failure (logged, never shown).
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No such record in the caller's org.
    #[error("{kind} {key:?} not found")]
    NotFound {
        /// What was looked for.
        kind: &'static str,
        /// The ID or slug given.
        key: String,
    },
    /// The expected version is not the current one.
    #[error(
        "version conflict: {kind} {id} is at version {current}, not {expected}; read it again and retry with version {current}"
    )]
    Conflict {
        /// Kind.
        kind: Kind,
        /// Record ID.
        id: String,
        /// What the caller expected.
        expected: i64,
        /// What it is.
        current: i64,
    },
    /// A field failed validation.
    #[error("invalid {0}")]
    Invalid(#[from] FieldError),
    /// A transition does not apply.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A cursor this server did not mint for this query.
    #[error("invalid cursor: {0}")]
    BadCursor(&'static str),
    /// A slug that names records of several kinds.
    #[error("{0:?} names more than one record; use its ID")]
    Ambiguous(String),
    /// The store failed.
    #[error("the workspace store failed")]
    Store(#[from] StoreError),
}

/// The workspace service.
pub struct WorkspaceService {
    store: Arc<dyn RecordStore>,
    limits: WorkspaceLimits,
    validators: Vec<(Kind, jsonschema::Validator)>,
}

pub(crate) type Result<T> = std::result::Result<T, WorkspaceError>;

impl WorkspaceService {
    /// The service over `store`.
    pub fn new(store: Arc<dyn RecordStore>, limits: WorkspaceLimits) -> Self {
        let validators = Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let schema = fields::schema(kind);
                jsonschema::validator_for(&schema).ok().map(|v| (kind, v))
            })
            .collect();
        Self {
            store,
            limits,
            validators,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &WorkspaceLimits {
        &self.limits
    }

    fn render(&self, record: &Record) -> Value {
        view::render(record, &self.limits.public_url)
    }

    /// Check `fields` against the kind's schema; the first problem names its field.
    fn validate(&self, kind: Kind, fields: &Value) -> Result<()> {
        let Some((_, validator)) = self.validators.iter().find(|(k, _)| *k == kind) else {
            return Ok(());
        };
        if let Some(error) = validator.iter_errors(fields).next() {
            return Err(FieldError::from_schema_error(&error).into());
        }
        Ok(())
    }

    /// Find a record of `kind` by ID or slug.
    pub async fn find(&self, t: &Tenant, kind: Kind, key: &str) -> Result<Record> {
        self.store
            .find_record(t, kind, key)
            .await?
            .ok_or_else(|| WorkspaceError::NotFound {
                kind: kind.label(),
                key: key.to_owned(),
            })
    }

    /// `get_*`.
    pub async fn get(&self, t: &Tenant, kind: Kind, key: &str) -> Result<Value> {
        Ok(self.render(&self.find(t, kind, key).await?))
    }
}

/// The span of one store query (exported spans only: a debug span, off without an exporter).
fn store_span(op: &'static str) -> tracing::Span {
    tracing::debug_span!("store.query", op)
}

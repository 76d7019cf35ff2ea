//! The workspace service: every operation on notes, tasks, comments, chats and chat messages,
//! as MCP tools and REST handlers both call it. It validates, normalizes, resolves slugs and
//! parents, applies patches and transitions, checks versions, and keeps results under the size
//! cap. Every call takes the caller's [`Tenant`]; the store scopes every query to it.

mod reads;

pub use reads::search_words;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::fields::{self, FieldError};
use super::patch::merge_patch;
use super::port::{RecordStore, StoreError};
use super::record::{ArchivedFilter, Record, SortField, Tenant, WriteOutcome, now};
use super::transitions::{self, TransitionError};
use super::view::{self, Deleted};
use super::{Kind, slug};

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

/// What a list call asks for, before it is checked.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    /// Cursor from a previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Status filter.
    pub status: Option<String>,
    /// Tag filter.
    pub tag: Option<String>,
    /// Parent filter (`target_id` / `chat_id`), ID or slug.
    #[serde(alias = "target_id", alias = "chat_id")]
    pub parent_id: Option<String>,
    /// Archive filter.
    pub archived: Option<ArchivedFilter>,
    /// Lower bound on `updated_at`.
    pub updated_since: Option<DateTime<Utc>>,
    /// Sort field.
    pub sort: Option<SortField>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}

impl ListRequest {
    /// The request from tool arguments or query parameters. `updated_since` is checked here so
    /// a bad time names its field (schemas do not assert formats).
    pub fn from_arguments(arguments: serde_json::Map<String, Value>) -> Result<Self> {
        if let Some(since) = arguments.get("updated_since").and_then(Value::as_str)
            && let Err(e) = since.parse::<DateTime<Utc>>()
        {
            let message = format!(
                "{since:?} is not a date-time ({e}); use RFC 3339, such as 2026-11-01T00:00:00Z"
            );
            return Err(FieldError::new("updated_since", message).into());
        }
        serde_json::from_value(Value::Object(arguments))
            .map_err(|e| FieldError::new("", e.to_string()).into())
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// One page of a list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page {
    /// The records, rendered.
    pub items: Vec<Value>,
    /// Cursor of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
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

    /// Validate and normalize `fields`, resolving the parent reference to an ID.
    async fn prepare(
        &self,
        t: &Tenant,
        kind: Kind,
        fields: &Value,
    ) -> Result<(Value, fields::Columns)> {
        self.validate(kind, fields)?;
        if let Some(field) = nul_field(fields) {
            return Err(FieldError::new(field, "must not contain NUL characters (U+0000)").into());
        }
        let (mut value, mut columns) = fields::normalize(kind, fields)?;
        if let Some((field, parent_kind, key)) = fields::parent(kind, &value) {
            let parent = self
                .store
                .find_record(t, parent_kind, &key)
                .await?
                .ok_or_else(|| {
                    FieldError::new(
                        field,
                        format!("no {} {key:?} in this workspace", parent_kind.label()),
                    )
                })?;
            value[field] = Value::String(parent.id.clone());
            columns.parent_id = Some(parent.id);
        }
        Ok((value, columns))
    }

    /// `create_*`.
    pub async fn create(&self, t: &Tenant, kind: Kind, fields: &Value) -> Result<Value> {
        let (value, columns) = self.prepare(t, kind, fields).await?;
        let at = now();
        let record = Record {
            id: format!("{}_{}", kind.id_prefix(), uuid::Uuid::now_v7().simple()),
            kind,
            slug: columns.title.as_deref().map(slug::slugify),
            title: columns.title,
            status: columns.status,
            parent_id: columns.parent_id,
            tags: columns.tags,
            text: columns.text,
            fields: value,
            version: 1,
            created_at: at,
            created_by: t.actor().to_owned(),
            updated_at: at,
            updated_by: t.actor().to_owned(),
            archived_at: None,
        };
        let stored = self.store.insert_record(t, &record).await?;
        Ok(self.render(&stored))
    }

    /// `update_*`: replace every field; `version` must be the current one.
    pub async fn update(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
        version: i64,
        fields: &Value,
    ) -> Result<Value> {
        let current = self.find(t, kind, key).await?;
        check_version(&current, Some(version))?;
        let (value, columns) = self.prepare(t, kind, fields).await?;
        keep_parent(&current, &columns)?;
        self.write(t, current, value, columns, version).await
    }

    /// `patch_*`: apply a JSON Merge Patch to the fields; `version` must be the current one.
    pub async fn patch(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
        version: i64,
        patch: &Value,
    ) -> Result<Value> {
        if !patch.is_object() {
            return Err(
                FieldError::new("patch", "must be a JSON object (RFC 7396 merge patch)").into(),
            );
        }
        let current = self.find(t, kind, key).await?;
        check_version(&current, Some(version))?;
        let mut merged = current.fields.clone();
        merge_patch(&mut merged, patch);
        let (value, columns) = self.prepare(t, kind, &merged).await?;
        keep_parent(&current, &columns)?;
        self.write(t, current, value, columns, version).await
    }

    /// Write new fields over `current`, if the stored record is still at `expected`.
    async fn write(
        &self,
        t: &Tenant,
        current: Record,
        value: Value,
        columns: fields::Columns,
        expected: i64,
    ) -> Result<Value> {
        let next = Record {
            version: expected,
            updated_at: now(),
            updated_by: t.actor().to_owned(),
            ..with_fields(current, value, columns)
        };
        self.finish(&next, self.store.update_record(t, &next).await?, expected)
    }

    fn finish(&self, next: &Record, outcome: WriteOutcome<Record>, expected: i64) -> Result<Value> {
        match outcome {
            WriteOutcome::Done(record) => Ok(self.render(&record)),
            WriteOutcome::NotFound => Err(WorkspaceError::NotFound {
                kind: next.kind.label(),
                key: next.id.clone(),
            }),
            WriteOutcome::Conflict { current } => Err(WorkspaceError::Conflict {
                kind: next.kind,
                id: next.id.clone(),
                expected,
                current,
            }),
        }
    }

    /// `delete_*`: remove the record and its children (comments on it; a chat's messages).
    pub async fn delete(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
        version: Option<i64>,
    ) -> Result<Deleted> {
        let current = self.find(t, kind, key).await?;
        check_version(&current, version)?;
        match self
            .store
            .delete_record(t, kind, &current.id, version)
            .await?
        {
            WriteOutcome::Done(children) => Ok(Deleted {
                id: current.id,
                kind,
                deleted: true,
                deleted_children: children,
            }),
            WriteOutcome::NotFound => Err(WorkspaceError::NotFound {
                kind: kind.label(),
                key: key.to_owned(),
            }),
            WriteOutcome::Conflict { current: now } => Err(WorkspaceError::Conflict {
                kind,
                id: current.id,
                expected: version.unwrap_or(current.version),
                current: now,
            }),
        }
    }

    /// `archive_*`: hide from default lists. Archiving an archived record changes nothing.
    pub async fn archive(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
        version: Option<i64>,
    ) -> Result<Value> {
        self.change(t, kind, key, version, |current| {
            Ok(current.archived_at.is_none().then(|| Record {
                archived_at: Some(now()),
                ..current.clone()
            }))
        })
        .await
    }

    /// `process_*`: apply the named transition.
    pub async fn process(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
        action: &str,
        version: Option<i64>,
    ) -> Result<Value> {
        self.change(t, kind, key, version, |current| {
            if action == "unarchive" {
                if current.archived_at.is_none() {
                    return Err(TransitionError::Invalid {
                        action: action.to_owned(),
                        kind,
                        state: "not archived".to_owned(),
                        hint: "only archived records can be unarchived".to_owned(),
                    }
                    .into());
                }
                return Ok(Some(Record {
                    archived_at: None,
                    ..current.clone()
                }));
            }
            let value = transitions::transition(kind, &current.fields, action)?;
            let (value, columns) = fields::normalize(kind, &value)?;
            Ok(Some(with_fields(current.clone(), value, columns)))
        })
        .await
    }

    /// Write the change `f` computes from the current record (`None`: nothing to change). When
    /// the caller named no version, a write that lands in between is not the caller's
    /// conflict: read again and re-apply, a few times.
    async fn change(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
        version: Option<i64>,
        f: impl Fn(&Record) -> Result<Option<Record>>,
    ) -> Result<Value> {
        let mut attempt = 0;
        loop {
            let current = self.find(t, kind, key).await?;
            check_version(&current, version)?;
            let expected = current.version;
            let Some(next) = f(&current)? else {
                return Ok(self.render(&current));
            };
            let next = Record {
                version: expected,
                updated_at: now(),
                updated_by: t.actor().to_owned(),
                ..next
            };
            let outcome = self.store.update_record(t, &next).await?;
            if matches!(outcome, WriteOutcome::Conflict { .. })
                && version.is_none()
                && attempt < UNVERSIONED_RETRIES
            {
                attempt += 1;
                continue;
            }
            return self.finish(&next, outcome, expected);
        }
    }
}

/// How often an unversioned change is re-applied after losing a race.
const UNVERSIONED_RETRIES: u32 = 3;

/// `current` with new fields and the columns derived from them.
fn with_fields(current: Record, value: Value, columns: fields::Columns) -> Record {
    Record {
        title: columns.title,
        status: columns.status,
        parent_id: columns.parent_id,
        tags: columns.tags,
        text: columns.text,
        fields: value,
        ..current
    }
}

fn check_version(current: &Record, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != current.version => Err(WorkspaceError::Conflict {
            kind: current.kind,
            id: current.id.clone(),
            expected: v,
            current: current.version,
        }),
        _ => Ok(()),
    }
}

fn keep_parent(current: &Record, columns: &fields::Columns) -> Result<()> {
    match (current.kind.parent_field(), &columns.parent_id) {
        (Some(field), Some(new)) if current.parent_id.as_ref() != Some(new) => {
            Err(FieldError::new(
                field,
                format!(
                    "a {} cannot move to another record; create a new one instead",
                    current.kind.label()
                ),
            )
            .into())
        }
        _ => Ok(()),
    }
}

/// The first field whose text holds a NUL character, which PostgreSQL cannot store.
fn nul_field(fields: &Value) -> Option<String> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fields
        .as_object()?
        .iter()
        .find(|(_, v)| has_nul(v))
        .map(|(k, _)| k.clone())
}

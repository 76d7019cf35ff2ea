//! The write side of the workspace service: `create`, `update`, `patch`, `delete`, `archive`
//! and `process`. Every write but `create` is conditional on the record's version: the
//! caller's, or for an unversioned change the one just read, re-read and re-applied when
//! another write lands in between.

use serde_json::Value;
use tracing::Instrument as _;

use super::store_span;
use super::{Result, WorkspaceError, WorkspaceService};
use crate::workspace::fields::{self, FieldError};
use crate::workspace::patch::merge_patch;
use crate::workspace::record::{Record, Tenant, WriteOutcome, now};
use crate::workspace::transitions::{self, TransitionError};
use crate::workspace::view::Deleted;
use crate::workspace::{Kind, slug};

impl WorkspaceService {
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
        let mut created = self.create_many(t, &[(kind, fields)]).await?;
        Ok(created.pop().unwrap_or_default())
    }

    /// Create several records in one transaction: all of them or, on the first problem, none.
    /// Each is validated as `create` does; a parent must exist before the call (a record of
    /// the same batch cannot be one). The created records, in order.
    pub async fn create_many(&self, t: &Tenant, drafts: &[(Kind, &Value)]) -> Result<Vec<Value>> {
        let mut records = Vec::with_capacity(drafts.len());
        for (kind, fields) in drafts {
            let (value, columns) = self.prepare(t, *kind, fields).await?;
            let at = now();
            records.push(Record {
                id: format!("{}_{}", kind.id_prefix(), uuid::Uuid::now_v7().simple()),
                kind: *kind,
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
            });
        }
        let stored = self
            .store
            .insert_records(t, &records)
            .instrument(store_span("insert_records"))
            .await?;
        Ok(stored.iter().map(|record| self.render(record)).collect())
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
        self.finish(
            &next,
            self.store
                .update_record(t, &next)
                .instrument(store_span("update_record"))
                .await?,
            expected,
        )
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
            let outcome = self
                .store
                .update_record(t, &next)
                .instrument(store_span("update_record"))
                .await?;
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

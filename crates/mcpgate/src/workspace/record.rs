//! What the store keeps and is asked: a [`Record`] (metadata columns plus the entity's fields as
//! JSON), the [`Tenant`] every query is scoped to, and the shapes of list and search queries.
//!
//! A `Tenant` can only be made from a [`Principal`], so a store call always acts for the org of
//! whoever is calling; no store method takes an org any other way.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

use super::Kind;
use crate::edge::Principal;

/// The org a store call acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    org: Arc<str>,
    actor: Arc<str>,
}

impl Tenant {
    /// The tenant of `principal`.
    pub fn of(principal: &Principal) -> Self {
        Self {
            org: Arc::clone(&principal.org),
            actor: Arc::clone(&principal.subject),
        }
    }

    /// The org.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// Who acts (recorded as `created_by` / `updated_by`).
    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// The current time at the precision both backends keep (microseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Opaque ID, `<prefix>_<uuid v7>`.
    pub id: String,
    /// Which kind.
    pub kind: Kind,
    /// Unique per org and kind, for kinds with a title.
    pub slug: Option<String>,
    /// Derived from the fields: the title, if the kind has one.
    pub title: Option<String>,
    /// Derived: the status, if the kind has one.
    pub status: Option<String>,
    /// Derived: the parent record's ID (comment target, message chat).
    pub parent_id: Option<String>,
    /// Derived: tags.
    pub tags: Vec<String>,
    /// Derived: the text full-text search indexes besides the title.
    pub text: String,
    /// The entity's fields, as validated JSON.
    pub fields: serde_json::Value,
    /// Starts at 1; every change adds 1.
    pub version: i64,
    /// When and by whom it was created.
    pub created_at: DateTime<Utc>,
    /// Creator subject.
    pub created_by: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last changer.
    pub updated_by: String,
    /// When it was archived, if it is.
    pub archived_at: Option<DateTime<Utc>>,
}

/// What a list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// Creation time.
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Title (kinds with a title only).
    Title,
}

/// Where a page starts: after the record with this sort key and ID.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct After {
    /// The sort value of the last record returned (a timestamp in microseconds, or a title).
    pub key: SortKey,
    /// Its ID, which breaks ties.
    pub id: String,
}

/// A sort value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SortKey {
    /// A timestamp, microseconds since the epoch.
    Micros(i64),
    /// A title.
    Text(String),
}

impl SortKey {
    /// The key of `record` under `field`.
    pub fn of(record: &Record, field: SortField) -> SortKey {
        match field {
            SortField::CreatedAt => SortKey::Micros(record.created_at.timestamp_micros()),
            SortField::UpdatedAt => SortKey::Micros(record.updated_at.timestamp_micros()),
            SortField::Title => SortKey::Text(record.title.clone().unwrap_or_default()),
        }
    }
}

/// Which records archive state a list includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchivedFilter {
    /// Only records that are not archived (the default).
    #[default]
    Exclude,
    /// Only archived records.
    Only,
    /// Both.
    Include,
}

/// A list query, always within one tenant and one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// The kind listed.
    pub kind: Kind,
    /// Only this status.
    pub status: Option<String>,
    /// Only records carrying this tag.
    pub tag: Option<String>,
    /// Only children of this record ID.
    pub parent_id: Option<String>,
    /// Archive state.
    pub archived: ArchivedFilter,
    /// Only records changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Order.
    pub sort: SortField,
    /// Descending when true.
    pub descending: bool,
    /// Start after this record.
    pub after: Option<After>,
    /// At most this many records.
    pub limit: u32,
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome<T> {
    /// Done.
    Done(T),
    /// No such record in this tenant.
    NotFound,
    /// The record's version is not the expected one; it is `current`.
    Conflict {
        /// The version the record has now.
        current: i64,
    },
}

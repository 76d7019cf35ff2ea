//! The workspace's storage port: what the workspace service asks of whatever keeps its records,
//! in the domain's own terms. [`RecordStore`] is the question, the types re-exported here
//! ([`Record`], [`Tenant`], [`ListQuery`], …) are the words it is asked in, and [`StoreError`]
//! is how it fails.
//!
//! The domain owns the port and the `store` module implements it (SQLite and PostgreSQL), so
//! dependencies run one way: `store` depends on `workspace` through this module, and nothing
//! in `workspace` names `store`. The app hands the service its store as a `dyn RecordStore`.
//! The other way round, `store` would own `Record`, `Tenant` and `Kind`: the rule that only a
//! `Principal` makes a `Tenant`, and everything a kind means (labels, statuses, transitions),
//! would live in an adapter that needs none of it but the names.

pub use super::Kind;
pub use super::record::{
    After, ArchivedFilter, ListQuery, Record, SortField, SortKey, Tenant, WriteOutcome,
};
pub use super::search::{self, Candidate, SearchWindow};
pub use super::slug;

/// The records of the workspace, kept somewhere. Every method takes the caller's tenant and
/// touches only its rows.
#[async_trait::async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// Store new records, in one transaction: all of them or none. Each `record.slug` is the
    /// slug base; each stored record carries the first free slug (`base`, `base-2`, …, see
    /// [`slug::candidate`]) for its org and kind. The stored records, in order.
    async fn insert_records(
        &self,
        t: &Tenant,
        records: &[Record],
    ) -> Result<Vec<Record>, StoreError>;
    /// Store one new record (see [`RecordStore::insert_records`]).
    async fn insert_record(&self, t: &Tenant, record: &Record) -> Result<Record, StoreError> {
        let stored = self.insert_records(t, std::slice::from_ref(record)).await?;
        stored
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt {
                id: record.id.clone(),
                message: "the store stored nothing".to_owned(),
            })
    }
    /// The record of `kind` whose ID or slug (as [`slug::looks_like_slug`] tells) is `key`.
    async fn find_record(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Record>, StoreError>;
    /// One page of records, in the query's order, starting after its cursor.
    async fn list_records(&self, t: &Tenant, query: &ListQuery) -> Result<Vec<Record>, StoreError>;
    /// Write `record`'s mutable columns if the stored version is `record.version`; the stored
    /// version becomes `record.version + 1`.
    async fn update_record(
        &self,
        t: &Tenant,
        record: &Record,
    ) -> Result<WriteOutcome<Record>, StoreError>;
    /// Delete a record (if at `expected` version, when given) and its children; returns how
    /// many children went with it.
    async fn delete_record(
        &self,
        t: &Tenant,
        kind: Kind,
        id: &str,
        expected: Option<i64>,
    ) -> Result<WriteOutcome<u64>, StoreError>;
    /// A search window: the newest records that are not archived, match every word of
    /// `window` (each as itself or as a prefix of a longer word) and were inserted before
    /// `window.before`, newest first, at most `window.size`.
    async fn search_window(
        &self,
        t: &Tenant,
        window: &SearchWindow,
    ) -> Result<Vec<Candidate>, StoreError>;
}

/// A storage failure, in storage terms. Callers never see the driver's text; it is logged.
///
/// It lives with the port so the service can carry it to the edges, which log it, without
/// knowing which backend failed. It names sqlx's errors as causes because both backends are
/// sqlx's, and the store's own start-up steps (connect, migrate) fail with it too.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Preparing the data directory failed.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Applying migrations failed.
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored row could not be read back.
    #[error("stored record {id} is unreadable: {message}")]
    Corrupt {
        /// The record.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// No free slug was found after several tries (many concurrent creations of one title).
    #[error("no free slug for {0:?}")]
    SlugExhausted(String),
}

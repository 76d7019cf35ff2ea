//! Storage: the [`Store`] trait and its two real backends, SQLite (the embedded default, a file
//! in the data directory) and PostgreSQL (for several replicas). Migrations are raw SQL, one
//! folder per backend, embedded in the binary and applied by `mcpgate migrate` and at start.

mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use crate::workspace::Kind;
use crate::workspace::record::{ListQuery, Record, SearchQuery, Tenant, WriteOutcome};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`. Default SQLite at `<data_dir>/mcpgate.db`. Env
    /// `MCPGATE_DATABASE_URL`.
    pub database_url: String,
    /// Largest connection pool. Default 8. Env `MCPGATE_DB_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// How long to wait for a pooled connection. Default 5s. Env `MCPGATE_DB_ACQUIRE_TIMEOUT`.
    pub acquire_timeout: Duration,
    /// Connections kept open when idle. Default 0. Env `MCPGATE_DB_MIN_CONNECTIONS`.
    pub min_connections: u32,
    /// How long an idle connection above the minimum stays open. Default 10m. Env
    /// `MCPGATE_DB_IDLE_TIMEOUT`.
    pub idle_timeout: Duration,
    /// SQLite only: bytes of the database file mapped into memory. Reads through the map skip
    /// the per-connection page cache, which WAL mode throws away whenever another connection
    /// commits. 0 turns it off. Default 268435456 (256 MiB). Env `MCPGATE_SQLITE_MMAP_SIZE`.
    pub sqlite_mmap_size: u64,
    /// How long the `health` tool may reuse a store probe. Default 1s. Env
    /// `MCPGATE_HEALTH_PROBE_TTL`.
    pub health_probe_ttl: Duration,
}

/// A storage failure, in storage terms. Callers never see the driver's text; it is logged.
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

/// The data layer. Every method that touches tenant data takes the org it acts for.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Apply pending migrations; returns how many were applied.
    async fn migrate(&self) -> Result<usize, StoreError>;
    /// Whether every migration this build knows is applied.
    async fn is_migrated(&self) -> Result<bool, StoreError>;
    /// A cheap round trip to the database.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Close the pool, waiting for checked-out connections.
    async fn close(&self);

    // Workspace records. Every method takes the caller's tenant and touches only its rows.

    /// Store a new record. `record.slug` is the slug base; the stored record carries the
    /// first free slug (`base`, `base-2`, …) for its org and kind.
    async fn insert_record(&self, t: &Tenant, record: &Record) -> Result<Record, StoreError>;
    /// The record of `kind` whose ID or slug is `key`.
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
    /// Ranked full-text search over records that are not archived, best first.
    async fn search_records(
        &self,
        t: &Tenant,
        query: &SearchQuery,
    ) -> Result<Vec<Record>, StoreError>;
}

/// Open the store `config` names (without migrating).
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    if config.database_url.starts_with("postgres") {
        Ok(Arc::new(PostgresStore::connect(config).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(config).await?))
    }
}

/// Count the migrations of `migrator` recorded as applied in `applied`.
fn all_applied(migrator: &sqlx::migrate::Migrator, applied: &[i64]) -> bool {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .all(|m| applied.contains(&m.version))
}

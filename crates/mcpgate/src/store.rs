//! Storage: the [`Store`] trait and its two real backends, SQLite (the embedded default, a file
//! in the data directory) and PostgreSQL (for several replicas). Migrations are raw SQL, one
//! folder per backend, embedded in the binary and applied by `mcpgate migrate` and at start.
//!
//! The store is an adapter: it implements the workspace's storage port ([`RecordStore`],
//! defined in `workspace::port` with the record types it speaks) and depends on the workspace
//! through that port alone, while the workspace never names the store. A [`Store`] is a
//! `RecordStore` plus the database's own lifecycle, so the app opens one store, keeps it for
//! migrations and probes, and hands it to the workspace service as its `dyn RecordStore`.
//!
//! What the backends do alike is written once: the lifecycle over a sqlx pool (`pool`), and
//! the shape of the list query with the other rules every record query follows (`records`).
//! Each backend keeps its own SQL where the dialects differ, and its own transactions.

mod pins;
mod pool;
mod postgres;
mod records;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use crate::workspace::port::RecordStore;

pub use crate::workspace::port::StoreError;
pub use pins::PinStore;
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
    /// commits. The map is address space, not memory: pages are read in as they are used and
    /// belong to the page cache, counted once however many connections map them (`Pss_File`).
    /// 0 turns it off. Default 68719476736 (64 GiB: the whole database). Env
    /// `MCPGATE_SQLITE_MMAP_SIZE`.
    pub sqlite_mmap_size: u64,
    /// How long the `health` tool may reuse a store probe. Default 1s. Env
    /// `MCPGATE_HEALTH_PROBE_TTL`.
    pub health_probe_ttl: Duration,
}

/// A database the app runs on: the workspace's records (the port the workspace defines), the
/// gateway's tool pins, and what the app does with the database itself.
#[async_trait::async_trait]
pub trait Store: RecordStore + PinStore {
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
}

/// Open the store `config` names (without migrating).
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    if config.database_url.starts_with("postgres") {
        Ok(Arc::new(PostgresStore::connect(config).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(config).await?))
    }
}

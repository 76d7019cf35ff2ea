//! Storage: the [`Store`] trait and its two real backends, SQLite (the embedded default, a file
//! in the data directory) and PostgreSQL (for several replicas). Migrations are raw SQL, one
//! folder per backend, embedded in the binary and applied by `mcpgate migrate` and at start.

mod postgres;
mod sqlite;

use std::sync::Arc;

use crate::config::StoreConfig;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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

//! SQLite backend: the embedded default. One file in the data directory, WAL journaling, a
//! small connection pool, migrations applied at start.

use std::str::FromStr;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod records;

use super::pool::{BackendPool, Migrations};
use super::{Store, StoreConfig, StoreError};
use crate::workspace::port::{
    Candidate, Kind, ListQuery, Record, RecordStore, SearchWindow, Tenant, WriteOutcome,
};

static MIGRATIONS: Migrations = Migrations {
    migrator: sqlx::migrate!("./migrations/sqlite"),
    table_exists: "SELECT name FROM sqlite_master \
                   WHERE type = 'table' AND name = '_sqlx_migrations'",
};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: BackendPool<Sqlite>,
}

impl SqliteStore {
    /// Open (creating if needed) the database `config.database_url` names.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&config.database_url)
            .map_err(StoreError::Connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .pragma("mmap_size", config.sqlite_mmap_size.to_string())
            .busy_timeout(config.acquire_timeout);
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .idle_timeout(config.idle_timeout)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        Ok(Self {
            db: BackendPool::new(pool, &MIGRATIONS),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        self.db.pool()
    }

    /// How SQLite would run the list query for `query` (`EXPLAIN QUERY PLAN`, a line per step):
    /// for checking that every filter is served by an index in the list's order.
    pub async fn list_plan(
        &self,
        t: &Tenant,
        query: &ListQuery,
    ) -> Result<Vec<String>, StoreError> {
        records::list_plan(self.pool(), t, query).await
    }

    /// How SQLite would read a search window (`EXPLAIN QUERY PLAN`, a line per step): for
    /// checking that it is read newest first from the full-text index and stops early.
    pub async fn search_plan(
        &self,
        t: &Tenant,
        window: &SearchWindow,
    ) -> Result<Vec<String>, StoreError> {
        records::search_plan(self.pool(), t, window).await
    }
}

#[async_trait::async_trait]
impl super::PinStore for SqliteStore {
    async fn tool_pins(
        &self,
        upstream: &str,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        super::pins::sqlite_pins(self.db.pool(), upstream).await
    }

    async fn pin_tools(
        &self,
        upstream: &str,
        digests: &[(String, String)],
        replace: bool,
    ) -> Result<(), StoreError> {
        super::pins::sqlite_pin(self.db.pool(), upstream, digests, replace).await
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        self.db.migrate().await
    }

    async fn is_migrated(&self) -> Result<bool, StoreError> {
        self.db.is_migrated().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    async fn close(&self) {
        self.db.close().await;
    }
}

#[async_trait::async_trait]
impl RecordStore for SqliteStore {
    async fn insert_records(
        &self,
        t: &Tenant,
        records: &[Record],
    ) -> Result<Vec<Record>, StoreError> {
        records::insert(self.pool(), t, records).await
    }

    async fn find_record(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        records::find(self.pool(), t, kind, key).await
    }

    async fn list_records(&self, t: &Tenant, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        records::list(self.pool(), t, query).await
    }

    async fn update_record(
        &self,
        t: &Tenant,
        record: &Record,
    ) -> Result<WriteOutcome<Record>, StoreError> {
        records::update(self.pool(), t, record).await
    }

    async fn delete_record(
        &self,
        t: &Tenant,
        kind: Kind,
        id: &str,
        expected: Option<i64>,
    ) -> Result<WriteOutcome<u64>, StoreError> {
        records::delete(self.pool(), t, kind, id, expected).await
    }

    async fn search_window(
        &self,
        t: &Tenant,
        window: &SearchWindow,
    ) -> Result<Vec<Candidate>, StoreError> {
        records::search_window(self.pool(), t, window).await
    }
}

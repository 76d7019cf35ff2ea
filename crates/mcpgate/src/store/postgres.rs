//! PostgreSQL backend: for several replicas sharing one database.
//!
//! Workspace records are guarded twice: every query filters on the caller's org, and row-level
//! security (see `migrations/postgres/0002_workspace.sql`) hides other orgs' rows from a
//! transaction scoped to one org. A store connected as a superuser or a role with BYPASSRLS,
//! which policies do not bind, acts as the `mcpgate_tenant` role for record operations.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

mod records;

use super::pool::{BackendPool, Migrations};
use super::{Store, StoreConfig, StoreError};
use crate::workspace::port::{
    Candidate, Kind, ListQuery, Record, RecordStore, SearchWindow, Tenant, WriteOutcome,
};

static MIGRATIONS: Migrations = Migrations {
    migrator: sqlx::migrate!("./migrations/postgres"),
    table_exists: "SELECT table_name::text FROM information_schema.tables WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()",
};

/// A pooled connection idle longer than this is pinged before use. One in steady use is not:
/// the ping is a round trip of its own, and a record operation is only four.
const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    db: BackendPool<Postgres>,
    /// The connected role skips row-level security (superuser or BYPASSRLS), so record
    /// operations switch to the tenant role.
    as_tenant: bool,
}

impl PostgresStore {
    /// Connect to the database `config.database_url` names.
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .idle_timeout(config.idle_timeout)
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(&config.database_url)
            .await
            .map_err(StoreError::Connect)?;
        // Statements stay prepared on each connection, planned once the table has statistics;
        // without autovacuum's analyses a plan made while the tables were nearly empty stays,
        // and may walk every record of a kind for one. Asked with the role, in one round trip.
        let (as_tenant, autovacuum): (bool, String) = sqlx::query_as(
            "SELECT rolsuper OR rolbypassrls, current_setting('autovacuum') \
             FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&pool)
        .await
        .map_err(StoreError::Connect)?;
        if autovacuum == "off" {
            tracing::warn!(
                "PostgreSQL runs without autovacuum: run ANALYZE as the workspace grows, or \
                 queries planned while it was small stay slow"
            );
        }
        Ok(Self {
            db: BackendPool::new(pool, &MIGRATIONS),
            as_tenant,
        })
    }

    /// How PostgreSQL would run the list query for `query` with sequential scans and sorts
    /// priced out (`EXPLAIN`, a line per step): a `Seq Scan` or `Sort` left in it means no index
    /// serves the filter in the list's order.
    pub async fn list_plan(
        &self,
        t: &Tenant,
        query: &ListQuery,
    ) -> Result<Vec<String>, StoreError> {
        records::list_plan(self.pool(), self.as_tenant, t, query).await
    }

    /// The plans of a search window's two steps (`EXPLAIN`, a line per node) as the tenant,
    /// with sequential scans priced out: for checking that row-level security leaves each
    /// step an index.
    pub async fn search_plan(
        &self,
        t: &Tenant,
        window: &SearchWindow,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        records::search_plan(self.pool(), self.as_tenant, t, window).await
    }

    /// The plan of the lookup of the slugs a new record of `kind` with slug base `base` could
    /// take (`EXPLAIN`, a line per node), as the tenant: for the plan tests.
    pub async fn slug_plan(
        &self,
        t: &Tenant,
        kind: Kind,
        base: &str,
    ) -> Result<Vec<String>, StoreError> {
        records::slug_plan(self.pool(), self.as_tenant, t, kind, base).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        self.db.pool()
    }
}

#[async_trait::async_trait]
impl super::PinStore for PostgresStore {
    async fn tool_pins(
        &self,
        upstream: &str,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        super::pins::postgres_pins(self.db.pool(), upstream).await
    }

    async fn pin_tools(
        &self,
        upstream: &str,
        digests: &[(String, String)],
        replace: bool,
    ) -> Result<(), StoreError> {
        super::pins::postgres_pin(self.db.pool(), upstream, digests, replace).await
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
impl RecordStore for PostgresStore {
    async fn insert_records(
        &self,
        t: &Tenant,
        records: &[Record],
    ) -> Result<Vec<Record>, StoreError> {
        records::insert(self.pool(), self.as_tenant, t, records).await
    }

    async fn find_record(
        &self,
        t: &Tenant,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        records::find(self.pool(), self.as_tenant, t, kind, key).await
    }

    async fn list_records(&self, t: &Tenant, query: &ListQuery) -> Result<Vec<Record>, StoreError> {
        records::list(self.pool(), self.as_tenant, t, query).await
    }

    async fn update_record(
        &self,
        t: &Tenant,
        record: &Record,
    ) -> Result<WriteOutcome<Record>, StoreError> {
        records::update(self.pool(), self.as_tenant, t, record).await
    }

    async fn delete_record(
        &self,
        t: &Tenant,
        kind: Kind,
        id: &str,
        expected: Option<i64>,
    ) -> Result<WriteOutcome<u64>, StoreError> {
        records::delete(self.pool(), self.as_tenant, t, kind, id, expected).await
    }

    async fn search_window(
        &self,
        t: &Tenant,
        window: &SearchWindow,
    ) -> Result<Vec<Candidate>, StoreError> {
        records::search_window(self.pool(), self.as_tenant, t, window).await
    }
}

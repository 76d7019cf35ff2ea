//! What both backends do alike with their sqlx pool: apply migrations and tell whether all are
//! applied, ping, close. Written once, generic over the database, because only two things
//! differ and each backend passes them in as its [`Migrations`]: the migrations embedded from
//! its folder, and how to ask whether the migrations table exists yet.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, FromRow, IntoArguments, Pool};

use super::StoreError;

/// A backend's migrations, and how to tell whether any were ever applied.
#[derive(Debug)]
pub(super) struct Migrations {
    /// The migrations, embedded from the backend's folder.
    pub migrator: Migrator,
    /// A query that returns a row when the `_sqlx_migrations` table exists.
    pub table_exists: &'static str,
}

/// A backend's connection pool, with the migrations that belong to it.
#[derive(Debug)]
pub(super) struct BackendPool<DB: Database> {
    pool: Pool<DB>,
    migrations: &'static Migrations,
}

impl<DB: Database> Clone for BackendPool<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            migrations: self.migrations,
        }
    }
}

// What sqlx asks of a database to run these statements on its pool; SQLite and PostgreSQL
// meet it.
impl<DB> BackendPool<DB>
where
    DB: Database,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    /// `pool`, migrated by `migrations`.
    pub(super) fn new(pool: Pool<DB>, migrations: &'static Migrations) -> Self {
        Self { pool, migrations }
    }

    /// The connection pool.
    pub(super) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Apply pending migrations; returns how many were applied.
    pub(super) async fn migrate(&self) -> Result<usize, StoreError> {
        let before = self.applied_versions().await.unwrap_or_default().len();
        self.migrations.migrator.run(&self.pool).await?;
        let after = self.applied_versions().await?.len();
        Ok(after - before)
    }

    /// Whether every migration this build knows is applied.
    pub(super) async fn is_migrated(&self) -> Result<bool, StoreError> {
        let applied = self.applied_versions().await?;
        Ok(self
            .migrations
            .migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .all(|m| applied.contains(&m.version)))
    }

    /// A cheap round trip to the database.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool, waiting for checked-out connections.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    /// The versions of the migrations recorded as applied; none before the first migration.
    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: Option<(String,)> = sqlx::query_as(self.migrations.table_exists)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }
}

//! PostgreSQL backend: for several replicas sharing one database.

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{Store, StoreError, all_applied};
use crate::config::StoreConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connect to the database `config.database_url` names.
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect(&config.database_url)
            .await
            .map_err(StoreError::Connect)?;
        Ok(Self { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        let before = applied_versions(&self.pool).await.unwrap_or_default().len();
        MIGRATOR.run(&self.pool).await?;
        let after = applied_versions(&self.pool).await?.len();
        Ok(after - before)
    }

    async fn is_migrated(&self) -> Result<bool, StoreError> {
        Ok(all_applied(&MIGRATOR, &applied_versions(&self.pool).await?))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let exists: Option<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()",
    )
    .fetch_optional(pool)
    .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

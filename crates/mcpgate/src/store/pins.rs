//! Tool pinning's storage: the digest of each upstream tool's definition, as first seen or as
//! last approved. Kept in the database so every replica (and every restart) compares against
//! the same record. The SQL is the same on both backends but for its placeholders.

use std::collections::HashMap;

use sqlx::{PgPool, Row, SqlitePool};

use super::StoreError;

/// Where pins are kept.
#[async_trait::async_trait]
pub trait PinStore: Send + Sync {
    /// The pinned digests of `upstream`'s tools, by tool name.
    async fn tool_pins(&self, upstream: &str) -> Result<HashMap<String, String>, StoreError>;
    /// Pin `digests` (tool name, digest) of `upstream`: only tools not pinned yet, or — with
    /// `replace` (an operator's approval) — every one given.
    async fn pin_tools(
        &self,
        upstream: &str,
        digests: &[(String, String)],
        replace: bool,
    ) -> Result<(), StoreError>;
}

const SELECT_SQLITE: &str = "SELECT tool, digest FROM upstream_tool_pins WHERE upstream = ?1";
const SELECT_POSTGRES: &str = "SELECT tool, digest FROM upstream_tool_pins WHERE upstream = $1";

fn insert_sql(placeholders: [&str; 3], replace: bool) -> String {
    let [upstream, tool, digest] = placeholders;
    let conflict = if replace {
        "DO UPDATE SET digest = excluded.digest, pinned_at = excluded.pinned_at"
    } else {
        "DO NOTHING"
    };
    format!(
        "INSERT INTO upstream_tool_pins (upstream, tool, digest) VALUES ({upstream}, {tool}, \
         {digest}) ON CONFLICT (upstream, tool) {conflict}"
    )
}

/// The pins on SQLite.
pub(super) async fn sqlite_pins(
    pool: &SqlitePool,
    upstream: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query(SELECT_SQLITE)
        .bind(upstream)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect())
}

/// Pin on SQLite, in one transaction.
pub(super) async fn sqlite_pin(
    pool: &SqlitePool,
    upstream: &str,
    digests: &[(String, String)],
    replace: bool,
) -> Result<(), StoreError> {
    let sql = insert_sql(["?1", "?2", "?3"], replace);
    let mut tx = pool.begin().await?;
    for (tool, digest) in digests {
        sqlx::query(&sql)
            .bind(upstream)
            .bind(tool)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The pins on PostgreSQL.
pub(super) async fn postgres_pins(
    pool: &PgPool,
    upstream: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query(SELECT_POSTGRES)
        .bind(upstream)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect())
}

/// Pin on PostgreSQL, in one transaction.
pub(super) async fn postgres_pin(
    pool: &PgPool,
    upstream: &str,
    digests: &[(String, String)],
    replace: bool,
) -> Result<(), StoreError> {
    let sql = insert_sql(["$1", "$2", "$3"], replace);
    let mut tx = pool.begin().await?;
    for (tool, digest) in digests {
        sqlx::query(&sql)
            .bind(upstream)
            .bind(tool)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

//! Workspace record queries for SQLite. Every statement filters on the tenant's org; full-text
//! search uses the FTS5 index the migration keeps in step with `records` by triggers.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use crate::store::StoreError;
use crate::store::records::{
    CANDIDATE_COLUMNS, ListDialect, candidate, corrupt, first_free_slug, key_column, list_query,
    missed,
};
use crate::workspace::port::{
    After, Candidate, Kind, ListQuery, Record, SearchWindow, SortField, SortKey, Tenant,
    WriteOutcome, search,
};

const COLUMNS: &str = "id, kind, slug, title, status, parent_id, tags, body, fields, version, \
                       created_at, created_by, updated_at, updated_by, archived_at";

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn record(row: &SqliteRow) -> Result<Record, StoreError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let kind = Kind::parse(&kind).ok_or_else(|| corrupt(&id, "unknown kind"))?;
    let tags: String = row.try_get("tags")?;
    let fields: String = row.try_get("fields")?;
    Ok(Record {
        kind,
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        status: row.try_get("status")?,
        parent_id: row.try_get("parent_id")?,
        tags: serde_json::from_str(&tags).map_err(|e| corrupt(&id, e))?,
        text: row.try_get("body")?,
        fields: serde_json::from_str(&fields).map_err(|e| corrupt(&id, e))?,
        version: row.try_get("version")?,
        created_at: from_micros(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
        updated_at: from_micros(row.try_get("updated_at")?),
        updated_by: row.try_get("updated_by")?,
        archived_at: row
            .try_get::<Option<i64>, _>("archived_at")?
            .map(from_micros),
        id,
    })
}

/// The first free slug for `base` among the tenant's records of `kind`.
async fn free_slug(
    conn: &mut sqlx::SqliteConnection,
    t: &Tenant,
    kind: Kind,
    base: &str,
) -> Result<String, StoreError> {
    // `LIKE 'base-%'` cannot use the slug index (it ignores case): it read every slug of the
    // kind.
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT slug FROM records WHERE org = ? AND kind = ? \
         AND (slug = ? OR (slug >= ? AND slug < ?))",
    )
    .bind(t.org())
    .bind(kind.singular())
    .bind(base)
    .bind(format!("{base}-0"))
    .bind(format!("{base}-:"))
    .fetch_all(&mut *conn)
    .await?;
    Ok(first_free_slug(base, &taken))
}

pub(super) async fn insert(
    pool: &SqlitePool,
    t: &Tenant,
    records: &[Record],
) -> Result<Vec<Record>, StoreError> {
    // SQLite has one writer at a time; taking the write lock before looking for a free slug
    // means no concurrent insert can take the same slug between the look and the insert.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut stored = Vec::with_capacity(records.len());
    for r in records {
        stored.push(insert_one(&mut tx, t, r).await?);
    }
    tx.commit().await?;
    Ok(stored)
}

/// One record of a batch, inside its transaction.
async fn insert_one(
    tx: &mut Transaction<'_, Sqlite>,
    t: &Tenant,
    r: &Record,
) -> Result<Record, StoreError> {
    let slug = match &r.slug {
        Some(base) => Some(free_slug(&mut *tx, t, r.kind, base).await?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO records (id, org, kind, slug, title, status, parent_id, tags, body, fields, \
         version, created_at, created_by, updated_at, updated_by, archived_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.id)
    .bind(t.org())
    .bind(r.kind.singular())
    .bind(&slug)
    .bind(&r.title)
    .bind(&r.status)
    .bind(&r.parent_id)
    .bind(serde_json::to_string(&r.tags).unwrap_or_else(|_| "[]".into()))
    .bind(&r.text)
    .bind(r.fields.to_string())
    .bind(r.version)
    .bind(micros(r.created_at))
    .bind(&r.created_by)
    .bind(micros(r.updated_at))
    .bind(&r.updated_by)
    .bind(r.archived_at.map(micros))
    .execute(&mut **tx)
    .await?;
    remember_terms(&mut **tx, r).await?;
    Ok(Record { slug, ..r.clone() })
}

pub(super) async fn find(
    pool: &SqlitePool,
    t: &Tenant,
    kind: Kind,
    key: &str,
) -> Result<Option<Record>, StoreError> {
    let column = key_column(key);
    let sql = format!("SELECT {COLUMNS} FROM records WHERE org = ? AND kind = ? AND {column} = ?");
    let row = sqlx::query(&sql)
        .bind(t.org())
        .bind(kind.singular())
        .bind(key)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(record).transpose()
}

/// SQLite keeps times as microseconds and compares a cursor's key as it comes: a title with
/// text, a time with an integer; a record's tag rows name it by `seq`.
impl ListDialect for Sqlite {
    const TAG_JOIN: &'static str = "r.seq = t.seq";

    fn push_time(sql: &mut QueryBuilder<'_, Self>, at: DateTime<Utc>) {
        sql.push_bind(micros(at));
    }

    fn push_after(sql: &mut QueryBuilder<'_, Self>, _: SortField, after: &After) {
        match &after.key {
            SortKey::Micros(us) => sql.push_bind(*us),
            SortKey::Text(text) => sql.push_bind(text.clone()),
        };
        sql.push(", ").push_bind(after.id.clone());
    }
}

pub(super) async fn list(
    pool: &SqlitePool,
    t: &Tenant,
    q: &ListQuery,
) -> Result<Vec<Record>, StoreError> {
    let rows = list_query::<Sqlite>("", COLUMNS, t, q)
        .build()
        .fetch_all(pool)
        .await?;
    rows.iter().map(record).collect()
}

/// The query plan of the list query for `q` (`EXPLAIN QUERY PLAN`, one line per step).
pub(super) async fn list_plan(
    pool: &SqlitePool,
    t: &Tenant,
    q: &ListQuery,
) -> Result<Vec<String>, StoreError> {
    let rows = list_query::<Sqlite>("EXPLAIN QUERY PLAN ", COLUMNS, t, q)
        .build()
        .fetch_all(pool)
        .await?;
    plan_steps(&rows)
}

/// The steps of an `EXPLAIN QUERY PLAN`, one line each.
fn plan_steps(rows: &[SqliteRow]) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|row| row.try_get::<String, _>("detail").map_err(Into::into))
        .collect()
}

/// The version of a record, to tell a conflict from a missing record after a write missed.
async fn version_of(
    pool: &SqlitePool,
    t: &Tenant,
    kind: Kind,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT version FROM records WHERE org = ? AND kind = ? AND id = ?")
            .bind(t.org())
            .bind(kind.singular())
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(v,)| v))
}

pub(super) async fn update(
    pool: &SqlitePool,
    t: &Tenant,
    r: &Record,
) -> Result<WriteOutcome<Record>, StoreError> {
    // Before the write, not with it: a term of a write that then misses its version stays in
    // the vocabulary, which only ever widens what a prefix is tried as. Skipped when the title
    // and text are those stored (most updates change a status, tags or fields).
    let unchanged: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM records WHERE org = ? AND kind = ? AND id = ? \
         AND title IS ? AND body = ?)",
    )
    .bind(t.org())
    .bind(r.kind.singular())
    .bind(&r.id)
    .bind(&r.title)
    .bind(&r.text)
    .fetch_one(pool)
    .await?;
    if !unchanged {
        remember_terms(pool, r).await?;
    }
    let sql = format!(
        "UPDATE records SET title = ?, status = ?, parent_id = ?, tags = ?, body = ?, fields = ?, \
         version = version + 1, updated_at = ?, updated_by = ?, archived_at = ? \
         WHERE org = ? AND kind = ? AND id = ? AND version = ? RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(&r.title)
        .bind(&r.status)
        .bind(&r.parent_id)
        .bind(serde_json::to_string(&r.tags).unwrap_or_else(|_| "[]".into()))
        .bind(&r.text)
        .bind(r.fields.to_string())
        .bind(micros(r.updated_at))
        .bind(&r.updated_by)
        .bind(r.archived_at.map(micros))
        .bind(t.org())
        .bind(r.kind.singular())
        .bind(&r.id)
        .bind(r.version)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => Ok(WriteOutcome::Done(record(&row)?)),
        None => Ok(missed(version_of(pool, t, r.kind, &r.id).await?)),
    }
}

pub(super) async fn delete(
    pool: &SqlitePool,
    t: &Tenant,
    kind: Kind,
    id: &str,
    expected: Option<i64>,
) -> Result<WriteOutcome<u64>, StoreError> {
    // IMMEDIATE takes the write lock first, so the child count and the delete see one state.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (children,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM records WHERE org = ? AND parent_id = ?")
            .bind(t.org())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let done = sqlx::query(
        "DELETE FROM records WHERE org = ? AND kind = ? AND id = ? AND (? IS NULL OR version = ?)",
    )
    .bind(t.org())
    .bind(kind.singular())
    .bind(id)
    .bind(expected)
    .bind(expected)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        tx.rollback().await?;
        return Ok(missed(version_of(pool, t, kind, id).await?));
    }
    tx.commit().await?;
    Ok(WriteOutcome::Done(u64::try_from(children).unwrap_or(0)))
}

/// Adds `r`'s words to the vocabulary that search words are widened with: FTS5 answers a
/// prefix query (`"incid"*`) by merging the postings of every word with that prefix before
/// returning its first row, so its cost grows with the data; the same words given as
/// alternatives (`"incident" OR "incidents"`) are read lazily, newest first, and a window stops
/// early.
async fn remember_terms<'c>(
    conn: impl sqlx::SqliteExecutor<'c>,
    r: &Record,
) -> Result<(), StoreError> {
    let terms = search::terms([r.title.as_deref().unwrap_or(""), r.text.as_str()]);
    sqlx::query("INSERT OR IGNORE INTO search_terms (term) SELECT value FROM json_each(?)")
        .bind(serde_json::to_string(&terms).unwrap_or_else(|_| "[]".into()))
        .execute(conn)
        .await?;
    Ok(())
}

/// The most words of the vocabulary one search word stands for.
const MAX_EXPANSION: i64 = 256;

/// The FTS5 query for `words`: each word as itself or any word of the vocabulary it begins
/// (at most [`MAX_EXPANSION`] of them, in byte order), every word required. Words are letters
/// and digits, so quoting them is enough to keep query syntax out.
async fn match_expression(pool: &SqlitePool, words: &[String]) -> Result<String, StoreError> {
    let mut groups = Vec::with_capacity(words.len());
    for word in words {
        let word = search::fold(word);
        let mut alternatives: Vec<String> = sqlx::query_scalar(
            "SELECT term FROM search_terms WHERE term >= ?1 AND term < ?1 || char(1114111) \
             ORDER BY term LIMIT ?2",
        )
        .bind(&word)
        .bind(MAX_EXPANSION)
        .fetch_all(pool)
        .await?;
        if !alternatives.contains(&word) {
            alternatives.push(word);
        }
        let quoted: Vec<String> = alternatives
            .iter()
            .map(|w| format!("\"{}\"", w.replace('"', "")))
            .collect();
        groups.push(format!("({})", quoted.join(" OR ")));
    }
    Ok(groups.join(" AND "))
}

/// The newest matches of `w` older than its bound: FTS5 walks the words' postings backwards
/// by rowid (which is `seq`) and stops at the window's size.
pub(super) async fn search_window(
    pool: &SqlitePool,
    t: &Tenant,
    w: &SearchWindow,
) -> Result<Vec<Candidate>, StoreError> {
    let sql = format!("SELECT {CANDIDATE_COLUMNS} {WINDOW_FROM}");
    let expression = match_expression(pool, &w.words).await?;
    let rows = window_query(&sql, expression, t, w).fetch_all(pool).await?;
    rows.iter().map(candidate).collect()
}

/// How SQLite would read the window for `w` (`EXPLAIN QUERY PLAN`, a line per step).
pub(super) async fn search_plan(
    pool: &SqlitePool,
    t: &Tenant,
    w: &SearchWindow,
) -> Result<Vec<String>, StoreError> {
    let sql = format!("EXPLAIN QUERY PLAN SELECT {CANDIDATE_COLUMNS} {WINDOW_FROM}");
    let expression = match_expression(pool, &w.words).await?;
    let rows = window_query(&sql, expression, t, w).fetch_all(pool).await?;
    plan_steps(&rows)
}

/// The window query's tables, conditions, order and limit.
const WINDOW_FROM: &str = "FROM records_fts JOIN records r ON r.seq = records_fts.rowid \
     WHERE records_fts MATCH ? AND records_fts.rowid < ? AND r.org = ? AND r.archived_at IS NULL \
     ORDER BY records_fts.rowid DESC LIMIT ?";

fn window_query<'q>(
    sql: &'q str,
    expression: String,
    t: &'q Tenant,
    w: &SearchWindow,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    sqlx::query(sql)
        .bind(expression)
        .bind(w.before.unwrap_or(i64::MAX))
        .bind(t.org())
        .bind(i64::from(w.size))
}

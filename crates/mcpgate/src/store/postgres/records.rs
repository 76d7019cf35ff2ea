//! Workspace record queries for PostgreSQL. Every statement filters on the tenant's org, and
//! every operation runs in a transaction scoped to that org for row-level security (the second
//! wall; see the migration). An operation costs four round trips: `BEGIN`, the scope, its one
//! statement, `COMMIT`. Only a conditional write that missed costs a fifth, to tell a conflict
//! from a missing record.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Execute, Postgres, QueryBuilder, Row, Transaction};

use crate::store::StoreError;
use crate::store::records::{
    CANDIDATE_COLUMNS, ListDialect, candidate, corrupt, first_free_slug, key_column, list_query,
    missed,
};
use crate::workspace::port::{
    After, Candidate, Kind, ListQuery, Record, SearchWindow, SortField, SortKey, Tenant,
    WriteOutcome,
};

/// How many times an insert looks for a free slug before giving up.
const SLUG_ATTEMPTS: u32 = 32;

/// The role a store connected as a superuser or BYPASSRLS role acts as for record operations.
pub(super) const TENANT_ROLE: &str = "mcpgate_tenant";

/// The columns a [`Record`] is read from.
const COLUMNS: &str = "id, kind, slug, title, status, parent_id, tags, body, fields::text AS fields, \
                       version, created_at, created_by, updated_at, updated_by, archived_at";

/// Scope the transaction to an org (transaction-local, so it ends with the transaction).
const SCOPE: &str = "SELECT set_config('mcpgate.org', $1, true)";

/// The same, also acting as the tenant role: in one statement, so one round trip.
const SCOPE_AS_TENANT: &str =
    "SELECT set_config('mcpgate.org', $1, true), set_config('role', 'mcpgate_tenant', true)";

/// A list's scope, whose statement is also planned once per connection and kept (a generic
/// plan). PostgreSQL prices a generic plan with an org's average share of the records, and
/// the org that holds most of them as what it is: past ~100,000 records the kept plan looked
/// dearer than planning each call anew, and every page paid for planning with row-level
/// security (100-400 µs of postgres CPU at 100,000 records, more than reading the page). The
/// plan is the same either way; `list_plan` checks the kept one.
const SCOPE_LIST: &str = "SELECT set_config('mcpgate.org', $1, true), \
     set_config('plan_cache_mode', 'force_generic_plan', true)";

/// The same, also acting as the tenant role.
const SCOPE_LIST_AS_TENANT: &str = "SELECT set_config('mcpgate.org', $1, true), \
     set_config('role', 'mcpgate_tenant', true), \
     set_config('plan_cache_mode', 'force_generic_plan', true)";

/// Earliest instant PostgreSQL's `timestamptz` holds (4713 BC), in microseconds since the epoch.
const PG_MIN_MICROS: i64 = -210_866_803_200_000_000;

fn record(row: &PgRow) -> Result<Record, StoreError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let kind = Kind::parse(&kind).ok_or_else(|| corrupt(&id, "unknown kind"))?;
    let fields: String = row.try_get("fields")?;
    Ok(Record {
        kind,
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        status: row.try_get("status")?,
        parent_id: row.try_get("parent_id")?,
        tags: row.try_get("tags")?,
        text: row.try_get("body")?,
        fields: serde_json::from_str(&fields).map_err(|e| corrupt(&id, e))?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
        archived_at: row.try_get("archived_at")?,
        id,
    })
}

/// Begin a transaction that sees and writes only `t`'s rows. `as_tenant`: the connected role
/// bypasses row-level security, so switch to the tenant role for the transaction.
pub(super) async fn begin(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
) -> Result<Transaction<'static, Postgres>, StoreError> {
    scoped(pool, as_tenant, t, [SCOPE, SCOPE_AS_TENANT]).await
}

/// [`begin`] with the scope statements given: `[plain, as the tenant role]`.
async fn scoped(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    [plain, tenant]: [&'static str; 2],
) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    let sql = if as_tenant { tenant } else { plain };
    match sqlx::query(sql).bind(t.org()).execute(&mut *tx).await {
        Ok(_) => Ok(tx),
        Err(e) if as_tenant => Err(role_error(e)),
        Err(e) => Err(e.into()),
    }
}

/// Name the cause when switching to the tenant role fails: the role is missing (migrations not
/// applied, or the migrating role could not create it) or the connected role may not use it.
fn role_error(e: sqlx::Error) -> StoreError {
    let cause = match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("22023") => {
                "which does not exist: apply migrations (`mcpgate migrate`) as a role that may \
                 create roles, or create it NOLOGIN and grant it SELECT, INSERT, UPDATE, DELETE \
                 on records"
            }
            Some("42501") => {
                "which the connected role may not switch to: grant the role to the connected role"
            }
            _ => return e.into(),
        },
        _ => return e.into(),
    };
    StoreError::Query(sqlx::Error::Configuration(
        format!(
            "the connected role bypasses row-level security, so record operations act as the \
             role {TENANT_ROLE}, {cause} ({e})"
        )
        .into(),
    ))
}

/// The slugs a new record with slug base `$3` could collide with: the base itself and its
/// numbered forms (see `first_free_slug`). Two probes of the slug index: as one condition with
/// `OR`, the slug was a filter over every slug of the org and kind (~37 ms at 20,000 records).
/// Planned for its values on every insert, never kept prepared: a plan cached while the table
/// was nearly empty costs every index alike, and one kept walking every record of the kind
/// through another index (seeding fell from 840 to 390 records/s by 23,000 records on a server
/// without autovacuum, whose statistics never caught up).
const TAKEN_SLUGS: &str = "SELECT slug FROM records WHERE org = $1 AND kind = $2 AND slug = $3 \
     UNION ALL \
     SELECT slug FROM records WHERE org = $1 AND kind = $2 \
     AND slug >= $3 || '-0' AND slug < $3 || '-:'";

/// The plan of the free-slug lookup for `base` (`EXPLAIN`, a line per node), as the tenant.
pub(super) async fn slug_plan(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    kind: Kind,
    base: &str,
) -> Result<Vec<String>, StoreError> {
    let mut tx = begin(pool, as_tenant, t).await?;
    let plan = sqlx::query_scalar(&format!("EXPLAIN {TAKEN_SLUGS}"))
        .bind(t.org())
        .bind(kind.singular())
        .bind(base)
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(plan)
}

/// Insert `records` in one transaction, all or none.
pub(super) async fn insert(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    records: &[Record],
) -> Result<Vec<Record>, StoreError> {
    let mut tx = begin(pool, as_tenant, t).await?;
    let mut stored = Vec::with_capacity(records.len());
    for r in records {
        stored.push(insert_one(&mut tx, t, r).await?);
    }
    tx.commit().await?;
    Ok(stored)
}

/// Insert `r` with the first free slug for its base (`base`, `base-2`, …). A slug taken
/// concurrently makes the insert do nothing (no error, so the transaction stays usable) and
/// the next attempt, with a fresh snapshot, takes the next one. (The slugs are read first and
/// the free one chosen here: a single statement that joined the candidates against the kind's
/// slugs was planned as a scan of every record of the kind, ~100 ms at 60,000 tasks.)
async fn insert_one(
    tx: &mut Transaction<'_, Postgres>,
    t: &Tenant,
    r: &Record,
) -> Result<Record, StoreError> {
    let fields = r.fields.to_string();
    for _ in 0..SLUG_ATTEMPTS {
        let slug = match &r.slug {
            Some(base) => {
                let taken: Vec<String> = sqlx::query_scalar(TAKEN_SLUGS)
                    .persistent(false)
                    .bind(t.org())
                    .bind(r.kind.singular())
                    .bind(base)
                    .fetch_all(&mut **tx)
                    .await?;
                Some(first_free_slug(base, &taken))
            }
            None => None,
        };
        let inserted: Option<(Option<String>,)> = sqlx::query_as(
            "INSERT INTO records (id, org, kind, slug, title, status, parent_id, tags, body, \
             fields, version, created_at, created_by, updated_at, updated_by, archived_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (org, kind, slug) WHERE slug IS NOT NULL DO NOTHING \
             RETURNING slug",
        )
        .bind(&r.id)
        .bind(t.org())
        .bind(r.kind.singular())
        .bind(&slug)
        .bind(&r.title)
        .bind(&r.status)
        .bind(&r.parent_id)
        .bind(&r.tags)
        .bind(&r.text)
        .bind(&fields)
        .bind(r.version)
        .bind(r.created_at)
        .bind(&r.created_by)
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .bind(r.archived_at)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((slug,)) = inserted {
            return Ok(Record { slug, ..r.clone() });
        }
    }
    Err(StoreError::SlugExhausted(
        r.slug.clone().unwrap_or_default(),
    ))
}

pub(super) async fn find(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    kind: Kind,
    key: &str,
) -> Result<Option<Record>, StoreError> {
    let column = key_column(key);
    let sql =
        format!("SELECT {COLUMNS} FROM records WHERE org = $1 AND kind = $2 AND {column} = $3");
    let mut tx = begin(pool, as_tenant, t).await?;
    let row = sqlx::query(&sql)
        .bind(t.org())
        .bind(kind.singular())
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row.as_ref().map(record).transpose()
}

/// Push the cursor's sort value. Cursors come back from clients, so the key may not fit the
/// column; it then compares as SQLite compares mismatched types (numbers before all text), and
/// times PostgreSQL cannot hold compare as its infinities: never an error.
fn push_key(sql: &mut QueryBuilder<'_, Postgres>, field: SortField, key: &SortKey) {
    match (field, key) {
        (SortField::Title, SortKey::Text(text)) => {
            sql.push_bind(text.clone());
        }
        // A number sorts before every title: the empty string does too, given an empty ID.
        (SortField::Title, SortKey::Micros(_)) => {
            sql.push("''::text");
        }
        (_, SortKey::Micros(us)) if *us < PG_MIN_MICROS => {
            sql.push("'-infinity'::timestamptz");
        }
        (_, SortKey::Micros(us)) => match DateTime::<Utc>::from_timestamp_micros(*us) {
            Some(at) => {
                sql.push_bind(at);
            }
            None => {
                sql.push("'infinity'::timestamptz");
            }
        },
        // Text sorts after every number.
        (_, SortKey::Text(_)) => {
            sql.push("'infinity'::timestamptz");
        }
    }
}

/// PostgreSQL keeps times as `timestamptz`, and a cursor's key is made to fit the sort column
/// first (see [`push_key`]); a record's tag rows name it by id.
impl ListDialect for Postgres {
    const TAG_JOIN: &'static str = "r.id = t.id";

    fn push_time(sql: &mut QueryBuilder<'_, Self>, at: DateTime<Utc>) {
        sql.push_bind(at);
    }

    fn push_after(sql: &mut QueryBuilder<'_, Self>, sort: SortField, after: &After) {
        push_key(sql, sort, &after.key);
        sql.push(", ");
        match (sort, &after.key) {
            (SortField::Title, SortKey::Micros(_)) => sql.push("''::text"),
            _ => sql.push_bind(after.id.clone()),
        };
    }
}

pub(super) async fn list(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    q: &ListQuery,
) -> Result<Vec<Record>, StoreError> {
    let mut sql = list_query::<Postgres>("", COLUMNS, t, q);
    let mut tx = scoped(pool, as_tenant, t, [SCOPE_LIST, SCOPE_LIST_AS_TENANT]).await?;
    let rows = sql.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    rows.iter().map(record).collect()
}

/// The plan PostgreSQL keeps for the list query for `q` (its generic plan, as [`list`] runs
/// it) on a table too big to read whole or sort: sequential scans and sorts priced out, one
/// line per step, so a `Seq Scan` or `Sort` in it means no index serves the filter in the
/// list's order. PostgreSQL 15 cannot `EXPLAIN` a generic plan directly, so the query is
/// prepared by name and its execution explained.
pub(super) async fn list_plan(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    q: &ListQuery,
) -> Result<Vec<String>, StoreError> {
    let mut list = list_query::<Postgres>("", COLUMNS, t, q);
    let text = list.build().sql().to_owned();
    // A generic plan is the same whatever the values: `NULL` for each.
    let nulls = vec!["NULL"; text.matches('$').count()].join(", ");
    let mut tx = scoped(pool, as_tenant, t, [SCOPE_LIST, SCOPE_LIST_AS_TENANT]).await?;
    for setting in ["enable_seqscan", "enable_sort", "enable_bitmapscan"] {
        sqlx::query(&format!("SET LOCAL {setting} = off"))
            .execute(&mut *tx)
            .await?;
    }
    // A statement prepared by name outlives the transaction, so it is deallocated whatever
    // the explain did (which runs in a savepoint, so a failure leaves the transaction usable).
    sqlx::raw_sql(&format!("PREPARE mcpgate_list_plan AS {text}"))
        .execute(&mut *tx)
        .await?;
    let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
    let rows = sqlx::query(&format!("EXPLAIN EXECUTE mcpgate_list_plan({nulls})"))
        .fetch_all(&mut *savepoint)
        .await;
    savepoint.rollback().await?;
    sqlx::raw_sql("DEALLOCATE mcpgate_list_plan")
        .execute(&mut *tx)
        .await?;
    tx.rollback().await?;
    let rows = rows?;
    rows.iter()
        .map(|row| row.try_get::<String, _>(0).map_err(Into::into))
        .collect()
}

/// The version of a record, to tell a conflict from a missing record after a write missed. A
/// statement of its own, so (read committed) it sees whatever write made the first one miss.
async fn version_of(
    tx: &mut Transaction<'static, Postgres>,
    t: &Tenant,
    kind: Kind,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT version FROM records WHERE org = $1 AND kind = $2 AND id = $3")
            .bind(t.org())
            .bind(kind.singular())
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(v,)| v))
}

pub(super) async fn update(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    r: &Record,
) -> Result<WriteOutcome<Record>, StoreError> {
    let sql = format!(
        "UPDATE records SET title = $1, status = $2, parent_id = $3, tags = $4, body = $5, \
         fields = $6::jsonb, version = version + 1, updated_at = $7, updated_by = $8, \
         archived_at = $9 \
         WHERE org = $10 AND kind = $11 AND id = $12 AND version = $13 RETURNING {COLUMNS}"
    );
    let mut tx = begin(pool, as_tenant, t).await?;
    let row = sqlx::query(&sql)
        .bind(&r.title)
        .bind(&r.status)
        .bind(&r.parent_id)
        .bind(&r.tags)
        .bind(&r.text)
        .bind(r.fields.to_string())
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .bind(r.archived_at)
        .bind(t.org())
        .bind(r.kind.singular())
        .bind(&r.id)
        .bind(r.version)
        .fetch_optional(&mut *tx)
        .await?;
    let outcome = match row {
        Some(row) => WriteOutcome::Done(record(&row)?),
        None => missed(version_of(&mut tx, t, r.kind, &r.id).await?),
    };
    tx.commit().await?;
    Ok(outcome)
}

pub(super) async fn delete(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    kind: Kind,
    id: &str,
    expected: Option<i64>,
) -> Result<WriteOutcome<u64>, StoreError> {
    // One statement: the children are counted in the snapshot the delete starts from, before
    // the cascade removes them.
    let mut tx = begin(pool, as_tenant, t).await?;
    let (deleted, children): (i64, i64) = sqlx::query_as(
        "WITH gone AS ( \
             DELETE FROM records \
             WHERE org = $1 AND kind = $2 AND id = $3 AND ($4::bigint IS NULL OR version = $4) \
             RETURNING id) \
         SELECT (SELECT count(*) FROM gone), \
                (SELECT count(*) FROM records WHERE org = $1 AND parent_id = $3)",
    )
    .bind(t.org())
    .bind(kind.singular())
    .bind(id)
    .bind(expected)
    .fetch_one(&mut *tx)
    .await?;
    let outcome = if deleted == 0 {
        missed(version_of(&mut tx, t, kind, id).await?)
    } else {
        WriteOutcome::Done(u64::try_from(children).unwrap_or(0))
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The `to_tsquery` text for `words`: every word, each also as a prefix (`'w1':* & 'w2':*`).
/// The words are letters and digits already; anything else is dropped all the same, so the
/// text can never carry query syntax.
fn tsquery(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| format!("'{w}':*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// A search word that begins more distinct words than this is broad (see [`search_window`]).
const NARROW_WORDS: i64 = 32;

/// How many of the newest records a broad word's search reads before it walks its words.
const RECENT_ROWS: i64 = 2000;

/// The most words of a broad prefix that are walked, as on SQLite (its `MAX_EXPANSION`).
const MAX_EXPANSION: i64 = 256;

/// The most word rows one batch of a walk reads per word.
const MAX_BATCH: i64 = 6400;

/// The newest matches of `w` older than its bound. GIN returns a word's matches in no order
/// (and cannot serve under row-level security at all: see migration 0006), so the longest
/// search word leads, through `record_words`: first the distinct words it begins (a search
/// word matches as a prefix), one index probe each, then
///
/// - none: nothing matches;
/// - up to [`NARROW_WORDS`] (a whole word, mostly): the words' newest rows are read from
///   their end of the index, a batch at a time, and the batch's records checked for every
///   search word, until the window is full or the rows run out (see [`WORD_WALK`]). A batch
///   reads at most its size times the words, and a single search word fills its window in
///   one batch however many records hold it (several fill it sooner the more often they
///   meet);
/// - more (a short prefix, which begins many words and is in many records): the newest
///   [`RECENT_ROWS`] records are walked backwards through `records_recent` and checked, which
///   fills the window after a few rows. Only when it does not, and there were more records
///   than that, are the prefix's words walked as above, the first [`MAX_EXPANSION`] of them
///   in byte order, as SQLite reads them: the rows read are bounded by that times a batch.
///
/// Every statement is planned for its values, never kept prepared (see [`TAKEN_SLUGS`]).
pub(super) async fn search_window(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    w: &SearchWindow,
) -> Result<Vec<Candidate>, StoreError> {
    let Some(search) = WindowSearch::new(t, w) else {
        return Ok(Vec::new());
    };
    let mut tx = begin(pool, as_tenant, t).await?;
    let words = search.words(&mut tx, NARROW_WORDS).await?;
    let found = if words.is_empty() {
        Vec::new()
    } else if words.len() as i64 <= NARROW_WORDS {
        search.walk(&mut tx, &words).await?
    } else {
        let (found, short) = search.recent(&mut tx).await?;
        if short {
            let words = search.words(&mut tx, MAX_EXPANSION - 1).await?;
            search.walk(&mut tx, &words).await?
        } else {
            found
        }
    };
    tx.commit().await?;
    Ok(found)
}

/// The plans of a window's statements for `w` (`EXPLAIN`, a line per node), as the tenant,
/// with sequential scans priced out, so what is left is what an index cannot do: the words
/// the longest search word begins, the walk of their rows, the walk of the newest records.
pub(super) async fn search_plan(
    pool: &PgPool,
    as_tenant: bool,
    t: &Tenant,
    w: &SearchWindow,
) -> Result<Vec<Vec<String>>, StoreError> {
    let Some(search) = WindowSearch::new(t, w) else {
        return Ok(Vec::new());
    };
    let mut tx = begin(pool, as_tenant, t).await?;
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await?;
    let (words, walk, recent) = (
        format!("EXPLAIN {PREFIX_WORDS}"),
        format!("EXPLAIN {}", *WORD_WALK),
        format!("EXPLAIN {}", *RECENT),
    );
    let driver = [search.driver.clone()];
    let statements = [
        search.words_query(&words, NARROW_WORDS),
        search.walk_query(&walk, &driver, search.before, search.size),
        search.recent_query(&recent),
    ];
    let mut plans = Vec::new();
    for statement in statements {
        let rows = statement.fetch_all(&mut *tx).await?;
        plans.push(
            rows.iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?,
        );
    }
    tx.rollback().await?;
    Ok(plans)
}

/// The distinct words (of the org `$1`) that begin with the longest lexeme of the search words
/// `$2` as the index has them (`to_tsvector` may split what the search took for one word:
/// `5e3f9a1b` is `5e3` and `f9a1b` there), in order, at most `$3` + 1 of them: one probe of
/// the index each, past the last word found.
const PREFIX_WORDS: &str = "WITH RECURSIVE driver(word) AS ( \
         SELECT l FROM unnest(tsvector_to_array(to_tsvector('simple', $2))) AS l \
         ORDER BY length(l) DESC, l LIMIT 1 \
     ), words(word, n) AS ( \
         SELECT (SELECT w.word FROM record_words w, driver d \
             WHERE w.org = $1 AND w.word >= d.word AND w.word < d.word || chr(1114111) \
             ORDER BY w.word LIMIT 1), 1 \
         UNION ALL \
         SELECT (SELECT w.word FROM record_words w, driver d \
             WHERE w.org = $1 AND w.word > words.word AND w.word < d.word || chr(1114111) \
             ORDER BY w.word LIMIT 1), n + 1 \
         FROM words WHERE words.word IS NOT NULL AND n <= $3 \
     ) SELECT word FROM words WHERE word IS NOT NULL";

/// A batch of a walk: the newest `$4` records older than `$3` with any of the words `$5`
/// (each word's rows read newest first from its end of the index, `$4` at most, which holds
/// the newest `$4` records of them all), each with its columns when it matches every search
/// word (`$1`), else only its `seq`, so the caller sees where the batch ended. The records
/// are looked up by ID one by one (`OFFSET 0` keeps the planner from turning the lookups into
/// a join: on a young table without statistics a join was planned as a nested loop over
/// every record and word row, ~80 ms at 1,600 records).
static WORD_WALK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT hits.seq AS word_seq, {CANDIDATE_COLUMNS} FROM ( \
             SELECT DISTINCT hit.id, hit.seq FROM unnest($5::text[]) AS words(word) \
             CROSS JOIN LATERAL ( \
                 SELECT w.id, w.seq FROM record_words w \
                 WHERE w.org = $2 AND w.word = words.word AND w.seq < $3 \
                 ORDER BY w.seq DESC LIMIT $4) hit \
             ORDER BY hit.seq DESC LIMIT $4 \
         ) hits LEFT JOIN LATERAL ( \
             SELECT {CANDIDATE_COLUMNS} FROM records r \
             WHERE r.id = hits.id AND r.org = $2 AND r.archived_at IS NULL \
             AND r.search @@ to_tsquery('simple', $1) OFFSET 0) r ON true \
         ORDER BY hits.seq DESC"
    )
});

/// The matches (`$1`) among the newest `$5` records older than `$3`, at most `$4`.
static RECENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CANDIDATE_COLUMNS} FROM ( \
             SELECT {CANDIDATE_COLUMNS}, r.search FROM records r \
             WHERE r.org = $2 AND r.archived_at IS NULL AND r.seq < $3 \
             ORDER BY r.seq DESC LIMIT $5) r \
         WHERE r.search @@ to_tsquery('simple', $1) ORDER BY r.seq DESC LIMIT $4"
    )
});

/// One search window's statements and their values.
struct WindowSearch<'w> {
    t: &'w Tenant,
    tsquery: String,
    /// The search words, for [`PREFIX_WORDS`] to take its driver from.
    text: String,
    /// The longest search word (what a plan is shown for).
    driver: String,
    before: i64,
    size: i64,
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

impl<'w> WindowSearch<'w> {
    /// `None` when `w` has no words.
    fn new(t: &'w Tenant, w: &SearchWindow) -> Option<Self> {
        let tsquery = tsquery(&w.words);
        let driver = w.words.iter().max_by_key(|w| w.chars().count())?;
        (!tsquery.is_empty()).then(|| Self {
            t,
            tsquery,
            text: w.words.join(" "),
            driver: driver.clone(),
            before: w.before.unwrap_or(i64::MAX),
            size: i64::from(w.size),
        })
    }

    /// [`PREFIX_WORDS`] (or a prefixed form of it), at most `cap` + 1 words.
    fn words_query<'q>(&'q self, sql: &'q str, cap: i64) -> PgQuery<'q> {
        sqlx::query(sql)
            .persistent(false)
            .bind(self.t.org())
            .bind(&self.text)
            .bind(cap)
    }

    /// [`WORD_WALK`] (or a prefixed form of it): `rows` word rows of `words` older than
    /// `before`.
    fn walk_query<'q>(
        &'q self,
        sql: &'q str,
        words: &'q [String],
        before: i64,
        rows: i64,
    ) -> PgQuery<'q> {
        sqlx::query(sql)
            .persistent(false)
            .bind(&self.tsquery)
            .bind(self.t.org())
            .bind(before)
            .bind(rows)
            .bind(words)
    }

    /// [`RECENT`] (or a prefixed form of it).
    fn recent_query<'q>(&'q self, sql: &'q str) -> PgQuery<'q> {
        sqlx::query(sql)
            .persistent(false)
            .bind(&self.tsquery)
            .bind(self.t.org())
            .bind(self.before)
            .bind(self.size)
            .bind(RECENT_ROWS)
    }

    /// The distinct words the driver begins, at most `cap` + 1.
    async fn words(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        cap: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .words_query(PREFIX_WORDS, cap)
            .fetch_all(&mut **tx)
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// The window's matches through the rows of `words`: batches newest first, as large as
    /// the window and then four times the last, until the window is full or the rows end.
    async fn walk(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        words: &[String],
    ) -> Result<Vec<Candidate>, StoreError> {
        let mut found = Vec::new();
        let (mut before, mut batch) = (self.before, self.size);
        loop {
            let rows = self
                .walk_query(&WORD_WALK, words, before, batch)
                .fetch_all(&mut **tx)
                .await?;
            for row in &rows {
                if row.try_get::<Option<String>, _>("id")?.is_some() {
                    found.push(candidate(row)?);
                }
            }
            let Some(last) = rows.last() else { break };
            if found.len() as i64 >= self.size || (rows.len() as i64) < batch {
                break;
            }
            before = last.try_get("word_seq")?;
            batch = (batch * 4).min(MAX_BATCH);
        }
        found.truncate(self.size as usize);
        Ok(found)
    }

    /// The window's matches among the newest [`RECENT_ROWS`] records, and whether the window
    /// is short while older records than those remain.
    async fn recent(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<(Vec<Candidate>, bool), StoreError> {
        let rows = self.recent_query(&RECENT).fetch_all(&mut **tx).await?;
        let found = rows.iter().map(candidate).collect::<Result<Vec<_>, _>>()?;
        if found.len() as i64 == self.size {
            return Ok((found, false));
        }
        let read: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM records r \
             WHERE r.org = $1 AND r.archived_at IS NULL AND r.seq < $2 LIMIT $3) r",
        )
        .bind(self.t.org())
        .bind(self.before)
        .bind(RECENT_ROWS)
        .fetch_one(&mut **tx)
        .await?;
        Ok((found, read == RECENT_ROWS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_become_prefix_terms_joined_by_and() {
        let words = vec!["release".to_owned(), "q3".to_owned(), "café".to_owned()];
        assert_eq!(tsquery(&words), "'release':* & 'q3':* & 'café':*");
        let hostile = vec!["a'b".to_owned(), "&|!".to_owned(), "c:*".to_owned()];
        assert_eq!(tsquery(&hostile), "'ab':* & 'c':*");
        assert_eq!(tsquery(&[]), "");
    }

    #[test]
    fn the_earliest_postgres_time_is_within_chrono_range() {
        assert!(DateTime::<Utc>::from_timestamp_micros(PG_MIN_MICROS).is_some());
    }
}

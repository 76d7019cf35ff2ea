//! What both backends' record queries share: the shape of the list query (one tenant, one kind,
//! the optional filters, a keyset cursor, an order and a limit), which column a key names, and
//! what a conditional write that missed means, the first free slug, and how a search window's
//! row reads.
//!
//! The list query is written once, generic over the sqlx database; each backend says through
//! [`ListDialect`] how it writes the three things that differ: a tag filter, a time, and a
//! cursor's sort key. The rest of each backend's SQL differs in more than placeholders (slug
//! allocation, the delete's child count, full-text search), so it stays with the backend.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::StoreError;
use crate::workspace::port::{
    After, ArchivedFilter, Candidate, Kind, ListQuery, SortField, Tenant, WriteOutcome, slug,
};

/// The columns of a search window's row (`seq, id, kind, title, body`), as [`candidate`]
/// reads them.
pub(super) const CANDIDATE_COLUMNS: &str = "r.seq, r.id, r.kind, r.title, r.body";

/// A search window's row.
pub(super) fn candidate<'r, R>(row: &'r R) -> Result<Candidate, StoreError>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    Ok(Candidate {
        seq: row.try_get("seq")?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt(&id, "unknown kind"))?,
        title: row.try_get("title")?,
        text: row.try_get("body")?,
        id,
    })
}

/// How a backend writes the parts of a list query that differ between SQL dialects.
pub(super) trait ListDialect: Database {
    /// How a row of `record_tags t` names its record `r`.
    const TAG_JOIN: &'static str;
    /// Bind a time as the backend stores it.
    fn push_time(sql: &mut QueryBuilder<'_, Self>, at: DateTime<Utc>);
    /// Push `key, id` of the cursor, to compare with `(sort column, id)`.
    fn push_after(sql: &mut QueryBuilder<'_, Self>, sort: SortField, after: &After);
}

/// `SELECT {columns} FROM records WHERE …` for `q` within `t`: its filters, the keyset
/// condition when it has a cursor, its order (ties broken by ID) and its limit; after `prefix`
/// (`EXPLAIN …` to see its plan, else empty).
pub(super) fn list_query<'a, DB>(
    prefix: &str,
    columns: &str,
    t: &'a Tenant,
    q: &'a ListQuery,
) -> QueryBuilder<'a, DB>
where
    DB: ListDialect,
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    // A tag filter walks that tag's rows of `record_tags` (which carry the sort keys) in the
    // list's order; otherwise the records themselves are walked.
    let columns = columns
        .split(", ")
        .map(|c| format!("r.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let walked = if q.tag.is_some() { "t" } else { "r" };
    let from = if q.tag.is_some() {
        format!("record_tags t JOIN records r ON {}", DB::TAG_JOIN)
    } else {
        "records r".to_owned()
    };
    let mut sql = QueryBuilder::new(format!(
        "{prefix}SELECT {columns} FROM {from} WHERE {walked}.org = "
    ));
    sql.push_bind(t.org())
        .push(format!(" AND {walked}.kind = "))
        .push_bind(q.kind.singular());
    if let Some(tag) = &q.tag {
        sql.push(" AND t.tag = ").push_bind(tag.as_str());
    }
    if let Some(status) = &q.status {
        sql.push(" AND r.status = ").push_bind(status.as_str());
    }
    if let Some(parent) = &q.parent_id {
        sql.push(" AND r.parent_id = ").push_bind(parent.as_str());
    }
    match q.archived {
        ArchivedFilter::Exclude => {
            sql.push(" AND r.archived_at IS NULL");
        }
        ArchivedFilter::Only => {
            sql.push(" AND r.archived_at IS NOT NULL");
        }
        ArchivedFilter::Include => {}
    }
    if let Some(since) = q.updated_since {
        sql.push(format!(" AND {walked}.updated_at >= "));
        DB::push_time(&mut sql, since);
    }
    let column = format!("{walked}.{}", sort_column(q.sort));
    let op = if q.descending { "<" } else { ">" };
    if let Some(after) = &q.after {
        sql.push(format!(" AND ({column}, {walked}.id) {op} ("));
        DB::push_after(&mut sql, q.sort, after);
        sql.push(")");
    }
    // The limit is written into the statement, not bound: PostgreSQL's kept (generic) plan,
    // which lists use, prices a bound limit as a tenth of the rows, and would be chosen for
    // reading that many. A limit is a page size, so few statements result.
    let dir = if q.descending { "DESC" } else { "ASC" };
    sql.push(format!(
        " ORDER BY {column} {dir}, {walked}.id {dir} LIMIT {}",
        q.limit
    ));
    sql
}

fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::CreatedAt => "created_at",
        SortField::UpdatedAt => "updated_at",
        SortField::Title => "title",
    }
}

/// The column `key` is looked up in: `slug` or `id`.
pub(super) fn key_column(key: &str) -> &'static str {
    if slug::looks_like_slug(key) {
        "slug"
    } else {
        "id"
    }
}

/// The outcome of a conditional write that changed nothing, from the record's version read
/// after it: a conflict if the record is there, else not found.
pub(super) fn missed<T>(version: Option<i64>) -> WriteOutcome<T> {
    match version {
        Some(current) => WriteOutcome::Conflict { current },
        None => WriteOutcome::NotFound,
    }
}

/// A stored row that cannot be read back as a record.
pub(super) fn corrupt(id: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: id.to_owned(),
        message: message.to_string(),
    }
}

/// The first slug for `base` (`base`, `base-2`, …) not in `taken`, which holds the slugs equal
/// to `base` or starting with `base-` and a digit (read as a range of the slug index, `base-0`
/// up to `base-:`, as `:` follows `9` in byte order: the cost is the base's own numbered slugs,
/// not every slug that starts with the base, such as `the-plan` for `the`).
pub(super) fn first_free_slug(base: &str, taken: &[String]) -> String {
    let mut n = 1;
    while taken.iter().any(|s| *s == slug::candidate(base, n)) {
        n += 1;
    }
    slug::candidate(base, n)
}

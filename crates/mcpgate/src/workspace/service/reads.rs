//! The read side of the workspace service: lists (the request, keyset cursors, filters, the
//! size cap), `search` and `fetch`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::Instrument as _;

use super::store_span;
use super::{Result, WorkspaceError, WorkspaceService};
use crate::workspace::cursor::{self, ListCursor};
use crate::workspace::fields::FieldError;
use crate::workspace::record::{
    After, ArchivedFilter, ListQuery, Record, SortField, SortKey, Tenant,
};
use crate::workspace::view::{self, Document};
use crate::workspace::{Kind, slug};

/// Messages included in a fetched chat's text.
const CHAT_TRANSCRIPT_MESSAGES: u32 = 200;

/// What a list call asks for, before it is checked.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    /// Cursor from a previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Status filter.
    pub status: Option<String>,
    /// Tag filter.
    pub tag: Option<String>,
    /// Parent filter (`target_id` / `chat_id`), ID or slug.
    #[serde(alias = "target_id", alias = "chat_id")]
    pub parent_id: Option<String>,
    /// Archive filter.
    pub archived: Option<ArchivedFilter>,
    /// Lower bound on `updated_at`.
    pub updated_since: Option<DateTime<Utc>>,
    /// Sort field.
    pub sort: Option<SortField>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}

impl ListRequest {
    /// The request from tool arguments or query parameters. `updated_since` is checked here so
    /// a bad time names its field (schemas do not assert formats).
    pub fn from_arguments(arguments: serde_json::Map<String, Value>) -> Result<Self> {
        if let Some(since) = arguments.get("updated_since").and_then(Value::as_str)
            && let Err(e) = since.parse::<DateTime<Utc>>()
        {
            let message = format!(
                "{since:?} is not a date-time ({e}); use RFC 3339, such as 2026-11-01T00:00:00Z"
            );
            return Err(FieldError::new("updated_since", message).into());
        }
        serde_json::from_value(Value::Object(arguments))
            .map_err(|e| FieldError::new("", e.to_string()).into())
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// One page of a list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page {
    /// The records, rendered.
    pub items: Vec<Value>,
    /// Cursor of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl WorkspaceService {
    /// `list_*`.
    pub async fn list(&self, t: &Tenant, kind: Kind, req: ListRequest) -> Result<Page> {
        let limit = req
            .limit
            .unwrap_or(self.limits.default_page_size)
            .clamp(1, self.limits.max_page_size);
        if let Some(status) = &req.status
            && !kind.statuses().contains(&status.as_str())
        {
            let allowed = kind.statuses();
            let message = if allowed.is_empty() {
                format!("{} records have no status", kind.label())
            } else {
                format!("{status:?} is not one of {}", allowed.join(", "))
            };
            return Err(FieldError::new("status", message).into());
        }
        if req.tag.is_some() && !kind.has_tags() {
            let message = format!("{} records have no tags", kind.label());
            return Err(FieldError::new("tag", message).into());
        }
        let sort = req.sort.unwrap_or(SortField::CreatedAt);
        if sort == SortField::Title && !kind.has_title() {
            let message = format!("{} records have no title", kind.label());
            return Err(FieldError::new("sort", message).into());
        }
        let parent_id = match &req.parent_id {
            None => None,
            Some(key) => Some(self.resolve_parent_filter(t, kind, key).await?),
        };
        let descending = match req.order {
            Some(order) => order == Order::Desc,
            None => kind.default_descending(),
        };
        let mut query = ListQuery {
            kind,
            status: req.status.clone(),
            tag: req.tag.as_ref().map(|t| t.trim().to_ascii_lowercase()),
            parent_id,
            archived: req.archived.unwrap_or_default(),
            updated_since: req.updated_since,
            sort,
            descending,
            after: None,
            limit: limit + 1,
        };
        let signature = signature(&query);
        if let Some(text) = &req.cursor {
            let c: ListCursor =
                cursor::decode(text).ok_or(WorkspaceError::BadCursor("not a list cursor"))?;
            if c.q != signature {
                return Err(WorkspaceError::BadCursor(
                    "the cursor belongs to a list with other filters or sort",
                ));
            }
            query.after = Some(c.after);
        }
        let records = self
            .store
            .list_records(t, &query)
            .instrument(store_span("list_records"))
            .await?;
        let page_len = records.len().min(limit as usize);
        let more = records.len() > page_len;
        let budget = self.result_budget();
        let mut used = 0usize;
        let mut items = Vec::with_capacity(page_len);
        let mut last: Option<&Record> = None;
        for record in records.iter().take(page_len) {
            let item = self.render(record);
            let size = json_len(&item) + 1;
            if !items.is_empty() && used + size > budget {
                break;
            }
            used += size;
            items.push(item);
            last = Some(record);
        }
        let cut = items.len() < page_len;
        let next_cursor = match last {
            Some(record) if more || cut => Some(cursor::encode(&ListCursor {
                q: signature,
                after: After {
                    key: SortKey::of(record, sort),
                    id: record.id.clone(),
                },
            })),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Bytes of JSON one result may carry. Tool results carry it twice (structured content
    /// and its text rendering), so each copy gets half the cap, less room for the envelope.
    pub(super) fn result_budget(&self) -> usize {
        (self.limits.max_result_bytes / 2)
            .saturating_sub(512)
            .max(1)
    }

    async fn resolve_parent_filter(&self, t: &Tenant, kind: Kind, key: &str) -> Result<String> {
        let candidates: &[Kind] = match kind {
            Kind::Comment => &[Kind::Note, Kind::Task, Kind::Chat],
            Kind::ChatMessage => &[Kind::Chat],
            _ => {
                let message = format!("{} records have no parent", kind.label());
                return Err(FieldError::new("parent_id", message).into());
            }
        };
        if !slug::looks_like_slug(key) {
            return Ok(key.to_owned());
        }
        let mut found = Vec::new();
        for candidate in candidates {
            if let Some(r) = self
                .store
                .find_record(t, *candidate, key)
                .instrument(store_span("find_record"))
                .await?
            {
                found.push(r.id);
            }
        }
        match found.len() {
            0 => Err(WorkspaceError::NotFound {
                kind: "parent",
                key: key.to_owned(),
            }),
            1 => Ok(found.remove(0)),
            _ => Err(WorkspaceError::Ambiguous(key.to_owned())),
        }
    }

    /// `fetch`: one record by ID (or a slug naming one record) as a whole document. A chat's
    /// document carries its transcript.
    pub async fn fetch(&self, t: &Tenant, key: &str) -> Result<Document> {
        let record = match Kind::of_id(key) {
            Some(kind) if !slug::looks_like_slug(key) => self.find(t, kind, key).await?,
            _ => {
                let mut found = Vec::new();
                for kind in Kind::ALL.into_iter().filter(|k| k.has_title()) {
                    if let Some(r) = self
                        .store
                        .find_record(t, kind, key)
                        .instrument(store_span("find_record"))
                        .await?
                    {
                        found.push(r);
                    }
                }
                match found.len() {
                    0 => {
                        return Err(WorkspaceError::NotFound {
                            kind: "record",
                            key: key.to_owned(),
                        });
                    }
                    1 => found.remove(0),
                    _ => return Err(WorkspaceError::Ambiguous(key.to_owned())),
                }
            }
        };
        let mut doc = view::document(&record, &self.limits.public_url);
        if record.kind == Kind::Chat {
            self.append_transcript(t, &record, &mut doc).await?;
        }
        Ok(doc)
    }

    async fn append_transcript(&self, t: &Tenant, chat: &Record, doc: &mut Document) -> Result<()> {
        let query = ListQuery {
            kind: Kind::ChatMessage,
            status: None,
            tag: None,
            parent_id: Some(chat.id.clone()),
            archived: ArchivedFilter::Exclude,
            updated_since: None,
            sort: SortField::CreatedAt,
            descending: false,
            after: None,
            limit: CHAT_TRANSCRIPT_MESSAGES,
        };
        let budget = self.result_budget();
        for message in self
            .store
            .list_records(t, &query)
            .instrument(store_span("list_records"))
            .await?
        {
            let role = message
                .fields
                .get("role")
                .and_then(|r| r.as_str())
                .unwrap_or("user");
            let line = format!("\n\n**{role}**: {}", message.text);
            if doc.text.len() + line.len() > budget {
                doc.text
                    .push_str("\n\n(transcript truncated; list the chat's messages for the rest)");
                break;
            }
            doc.text.push_str(&line);
        }
        Ok(())
    }
}

/// The length of `value` as JSON, counted without building the text.
pub(super) fn json_len<T: serde::Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The canonical text of a list query's filters and sort, carried in its cursors.
fn signature(q: &ListQuery) -> String {
    serde_json::json!([
        q.kind,
        q.status,
        q.tag,
        q.parent_id,
        q.archived,
        q.updated_since.map(|t| t.timestamp_micros()),
        q.sort,
        q.descending
    ])
    .to_string()
}

//! How records look to callers, in MCP results and REST bodies alike: the metadata every record
//! has, then the kind's own fields. Also the JSON Schemas of those shapes, built from the same
//! field schemas the inputs use, so outputs and docs cannot drift from the data.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::fields;
use super::{Kind, Record};

/// The metadata every record carries.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecordMeta {
    /// Opaque ID (`<kind prefix>_<32 hex digits>`).
    pub id: String,
    /// The kind of record.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Readable name unique per org and kind, made from the title at creation; accepted
    /// wherever an ID is. Absent for kinds without a title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Optimistic-concurrency version: pass it back to `update`/`patch` (or as `If-Match`).
    pub version: i64,
    /// Whether the record is archived (hidden from default lists).
    pub archived: bool,
    /// When it was archived.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub archived_at: Option<String>,
    /// Creation time (RFC 3339, UTC).
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Last change (RFC 3339, UTC).
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: String,
    /// Where the record lives in the REST API.
    #[schemars(extend("format" = "uri"))]
    pub url: String,
}

/// RFC 3339 with microseconds and `Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The REST URL of a record.
pub fn url(base: &str, kind: Kind, id: &str) -> String {
    format!("{base}/api/v1/{}/{id}", kind.plural())
}

/// A record as callers see it: metadata, then fields.
pub fn render(record: &Record, base_url: &str) -> Value {
    let meta = RecordMeta {
        id: record.id.clone(),
        kind: record.kind,
        slug: record.slug.clone(),
        version: record.version,
        archived: record.archived_at.is_some(),
        archived_at: record.archived_at.map(timestamp),
        created_at: timestamp(record.created_at),
        created_by: record.created_by.clone(),
        updated_at: timestamp(record.updated_at),
        updated_by: record.updated_by.clone(),
        url: url(base_url, record.kind, &record.id),
    };
    let mut out = match serde_json::to_value(meta) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Value::Object(f) = &record.fields {
        for (k, v) in f {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The JSON Schema of a rendered record of `kind`.
pub fn record_schema(kind: Kind) -> Value {
    let mut fields = fields::schema(kind);
    let mut meta = schemars::schema_for!(RecordMeta).to_value();
    let mut properties = meta["properties"].take();
    let mut required = meta["required"].take();
    if let (Value::Object(props), Value::Object(extra)) =
        (&mut properties, fields["properties"].take())
    {
        props.extend(extra);
    }
    if let (Value::Array(req), Value::Array(extra)) = (&mut required, fields["required"].take()) {
        req.extend(extra);
    }
    let mut schema = json!({
        "type": "object",
        "title": format!("{}", kind.label()),
        "description": format!("A {} with its metadata.", kind.label()),
        "properties": properties,
        "required": required,
    });
    let mut defs = Map::new();
    for source in [&mut meta, &mut fields] {
        if let Value::Object(d) = source["$defs"].take() {
            defs.extend(d);
        }
    }
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs);
    }
    crate::schema::strip_nonstandard_formats(&mut schema);
    schema
}

/// The JSON Schema of one page of records of `kind`.
pub fn page_schema(kind: Kind) -> Value {
    let mut item = record_schema(kind);
    let defs = item.as_object_mut().and_then(|o| o.remove("$defs"));
    let mut schema = json!({
        "type": "object",
        "description": format!("One page of {}.", kind.plural().replace('_', " ")),
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {
                "type": "string",
                "description": "Pass as `cursor` to get the next page; absent on the last page."
            }
        },
        "required": ["items"]
    });
    if let Some(defs) = defs {
        schema["$defs"] = defs;
    }
    schema
}

/// The shape `delete_*` answers with.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Deleted {
    /// The deleted record's ID.
    pub id: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Always true.
    pub deleted: bool,
    /// Child records deleted with it (comments on it; a chat's messages).
    pub deleted_children: u64,
}

/// One `search` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchResult {
    /// Record ID; pass it to `fetch`.
    pub id: String,
    /// The record's title (or the start of its text, for comments and messages).
    pub title: String,
    /// Where the record lives in the REST API.
    #[schemars(extend("format" = "uri"))]
    pub url: String,
    /// The kind of record.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// An excerpt with the matching words in `**bold**`.
    pub snippet: String,
}

/// What `search` returns.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SearchPage {
    /// Hits, best first.
    pub results: Vec<SearchResult>,
    /// Pass as `cursor` for more hits; absent when there are no more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What `fetch` returns: a whole record as a document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Document {
    /// Record ID.
    pub id: String,
    /// Title.
    pub title: String,
    /// The full text: the body, description, comment or message, with its fields.
    pub text: String,
    /// Where the record lives in the REST API.
    #[schemars(extend("format" = "uri"))]
    pub url: String,
    /// Everything else about the record: type, status, tags, version, times, authors.
    pub metadata: Map<String, Value>,
}

/// The document form of `record`.
pub fn document(record: &Record, base_url: &str) -> Document {
    let rendered = render(record, base_url);
    let body_field = match record.kind {
        Kind::Note | Kind::Comment => "body",
        Kind::Task => "description",
        Kind::ChatMessage => "content",
        Kind::Chat => "",
    };
    let mut metadata = match rendered {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    metadata.remove("id");
    metadata.remove("url");
    metadata.remove("title");
    let body = metadata
        .remove(body_field)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let title = fields::display_title(record.kind, record.title.as_deref(), &record.text);
    let text = if record.kind.has_title() {
        if body.is_empty() {
            format!("# {title}")
        } else {
            format!("# {title}\n\n{body}")
        }
    } else {
        body
    };
    Document {
        id: record.id.clone(),
        title,
        text,
        url: url(base_url, record.kind, &record.id),
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::record::now;

    fn task() -> Record {
        Record {
            id: "task_1".into(),
            kind: Kind::Task,
            slug: Some("ship".into()),
            title: Some("Ship".into()),
            status: Some("todo".into()),
            parent_id: None,
            tags: vec![],
            text: String::new(),
            fields: json!({"title": "Ship", "description": "", "status": "todo", "priority": "normal", "tags": []}),
            version: 1,
            created_at: now(),
            created_by: "a".into(),
            updated_at: now(),
            updated_by: "a".into(),
            archived_at: None,
        }
    }

    #[test]
    fn rendered_records_and_pages_match_their_schemas() {
        let record = render(&task(), "http://x");
        let schema = record_schema(Kind::Task);
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        assert!(validator.is_valid(&record), "{record}");
        let mut broken = record.clone();
        broken["status"] = json!("someday");
        assert!(
            !validator.is_valid(&broken),
            "enums come from the field schema"
        );
        broken = record.clone();
        broken.as_object_mut().expect("object").remove("version");
        assert!(!validator.is_valid(&broken), "metadata is required");

        let page = json!({"items": [record], "next_cursor": "abc"});
        let validator = jsonschema::validator_for(&page_schema(Kind::Task)).expect("compiles");
        assert!(validator.is_valid(&page));
        assert!(!validator.is_valid(&json!({"items": [{"id": 1}]})));
    }

    #[test]
    fn documents_carry_title_text_and_metadata() {
        let doc = document(&task(), "http://x");
        assert_eq!(doc.title, "Ship");
        assert_eq!(doc.text, "# Ship");
        assert_eq!(doc.url, "http://x/api/v1/tasks/task_1");
        assert_eq!(doc.metadata["status"], "todo");
        assert!(!doc.metadata.contains_key("id"));
    }
}

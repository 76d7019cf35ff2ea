//! The fields of each kind: their JSON Schemas (shared by MCP tools, the REST API and
//! OpenAPI), validation and normalization, and the columns derived from them. The typed structs
//! themselves are in `entities`; this module is what the service does with them.

mod entities;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Kind;

pub use entities::{
    ChatFields, ChatMessageFields, ChatStatus, CommentFields, CommentStatus, MessageRole,
    NoteFields, Priority, TargetType, TaskFields, TaskStatus,
};

/// A field-level problem, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field at fault (JSON Pointer style path without the leading slash).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// The first problem a JSON Schema validator found, naming the field: the failing
    /// member's path, or for a missing or unexpected member at the top, that member's name.
    pub fn from_schema_error(error: &jsonschema::ValidationError<'_>) -> Self {
        use jsonschema::error::ValidationErrorKind;
        let path = error.instance_path().to_string();
        let mut field = path.trim_start_matches('/').to_owned();
        if field.is_empty() {
            match error.kind() {
                ValidationErrorKind::Required { property } => {
                    field = property.as_str().unwrap_or_default().to_owned();
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    field = unexpected.first().cloned().unwrap_or_default();
                }
                _ => {}
            }
        }
        Self::new(field, error.to_string())
    }

    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What the store indexes from a record's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    /// Title, for kinds with one.
    pub title: Option<String>,
    /// Status, for kinds with one.
    pub status: Option<String>,
    /// Parent ID, for kinds that belong to another record.
    pub parent_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Body text for full-text search.
    pub text: String,
}

/// The JSON Schema of `kind`'s fields.
pub fn schema(kind: Kind) -> serde_json::Value {
    let schema = match kind {
        Kind::Note => schemars::schema_for!(NoteFields),
        Kind::Task => schemars::schema_for!(TaskFields),
        Kind::Comment => schemars::schema_for!(CommentFields),
        Kind::Chat => schemars::schema_for!(ChatFields),
        Kind::ChatMessage => schemars::schema_for!(ChatMessageFields),
    };
    let mut value = schema.to_value();
    crate::schema::strip_nonstandard_formats(&mut value);
    value
}

/// The field that names a record's parent, and the kinds that parent may be.
pub fn parent(kind: Kind, fields: &serde_json::Value) -> Option<(&'static str, Kind, String)> {
    let key = |name: &str| fields.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match kind {
        Kind::Comment => {
            let target: TargetType =
                serde_json::from_value(fields.get("target_type")?.clone()).ok()?;
            Some(("target_id", target.kind(), key("target_id")?))
        }
        Kind::ChatMessage => Some(("chat_id", Kind::Chat, key("chat_id")?)),
        _ => None,
    }
}

pub(super) fn typed<T: DeserializeOwned>(fields: &serde_json::Value) -> Result<T, FieldError> {
    serde_json::from_value(fields.clone()).map_err(|e| {
        let text = e.to_string();
        let field = text
            .split('`')
            .nth(1)
            .filter(|_| text.contains("field `"))
            .unwrap_or("")
            .to_owned();
        FieldError::new(field, text)
    })
}

pub(super) fn to_value<T: Serialize>(fields: &T) -> serde_json::Value {
    serde_json::to_value(fields).unwrap_or(serde_json::Value::Null)
}

fn not_blank(field: &str, text: &str) -> Result<String, FieldError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    Ok(trimmed.to_owned())
}

fn normalize_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim().to_ascii_lowercase();
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

fn check_due(due: &Option<String>) -> Result<(), FieldError> {
    if let Some(due) = due
        && chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").is_err()
    {
        return Err(FieldError::new(
            "due",
            format!("{due:?} is not a date; use YYYY-MM-DD"),
        ));
    }
    Ok(())
}

/// Check and normalize `fields` of `kind` (trimmed titles, lowercase unique tags, defaults
/// filled in), returning the canonical JSON and the columns derived from it. Schema checks
/// (lengths, enums, unknown fields) have been done by the caller against [`schema`].
pub fn normalize(
    kind: Kind,
    fields: &serde_json::Value,
) -> Result<(serde_json::Value, Columns), FieldError> {
    match kind {
        Kind::Note => {
            let mut f: NoteFields = typed(fields)?;
            f.title = not_blank("title", &f.title)?;
            f.tags = normalize_tags(&f.tags);
            let columns = Columns {
                title: Some(f.title.clone()),
                status: None,
                parent_id: None,
                tags: f.tags.clone(),
                text: f.body.clone(),
            };
            Ok((to_value(&f), columns))
        }
        Kind::Task => {
            let mut f: TaskFields = typed(fields)?;
            f.title = not_blank("title", &f.title)?;
            f.tags = normalize_tags(&f.tags);
            check_due(&f.due)?;
            let columns = Columns {
                title: Some(f.title.clone()),
                status: Some(enum_name(&f.status)),
                parent_id: None,
                tags: f.tags.clone(),
                text: f.description.clone(),
            };
            Ok((to_value(&f), columns))
        }
        Kind::Comment => {
            let mut f: CommentFields = typed(fields)?;
            f.body = not_blank("body", &f.body)?;
            let columns = Columns {
                title: None,
                status: Some(enum_name(&f.status)),
                parent_id: Some(f.target_id.clone()),
                tags: Vec::new(),
                text: f.body.clone(),
            };
            Ok((to_value(&f), columns))
        }
        Kind::Chat => {
            let mut f: ChatFields = typed(fields)?;
            f.title = not_blank("title", &f.title)?;
            let columns = Columns {
                title: Some(f.title.clone()),
                status: Some(enum_name(&f.status)),
                parent_id: None,
                tags: Vec::new(),
                text: String::new(),
            };
            Ok((to_value(&f), columns))
        }
        Kind::ChatMessage => {
            let f: ChatMessageFields = typed(fields)?;
            if f.content.trim().is_empty() {
                return Err(FieldError::new("content", "must not be blank"));
            }
            let columns = Columns {
                title: None,
                status: None,
                parent_id: Some(f.chat_id.clone()),
                tags: Vec::new(),
                text: f.content.clone(),
            };
            Ok((to_value(&f), columns))
        }
    }
}

pub(super) fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A title for records without one (comments, messages): the start of their text.
pub fn display_title(kind: Kind, title: Option<&str>, text: &str) -> String {
    if let Some(title) = title {
        return title.to_owned();
    }
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut excerpt: String = first_line.trim().chars().take(80).collect();
    if first_line.trim().chars().count() > 80 {
        excerpt.push('…');
    }
    let label = match kind {
        Kind::Comment => "Comment",
        Kind::ChatMessage => "Message",
        _ => "Untitled",
    };
    if excerpt.is_empty() {
        label.to_owned()
    } else {
        format!("{label}: {excerpt}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_fills_defaults_and_derives_columns() {
        let (value, columns) = normalize(
            Kind::Task,
            &json!({"title": "  Ship it ", "tags": ["Release", "release", "ops"]}),
        )
        .expect("valid task");
        assert_eq!(value["title"], "Ship it");
        assert_eq!(value["status"], "todo");
        assert_eq!(value["priority"], "normal");
        assert_eq!(columns.tags, ["release", "ops"]);
        assert_eq!(columns.status.as_deref(), Some("todo"));
    }

    #[test]
    fn bad_dates_and_blank_titles_name_the_field() {
        let e = normalize(Kind::Task, &json!({"title": "x", "due": "2026-13-40"})).unwrap_err();
        assert_eq!(e.field, "due");
        let e = normalize(Kind::Note, &json!({"title": "   "})).unwrap_err();
        assert_eq!(e.field, "title");
        let e = normalize(Kind::Note, &json!({"title": "x", "colour": "red"})).unwrap_err();
        assert_eq!(e.field, "colour");
    }

    #[test]
    fn schemas_forbid_unknown_fields_and_carry_examples() {
        for kind in Kind::ALL {
            let s = schema(kind);
            assert_eq!(s["additionalProperties"], false, "{kind}");
            assert!(s["examples"].is_array(), "{kind}");
        }
    }

    #[test]
    fn display_titles_come_from_text_for_untitled_kinds() {
        assert_eq!(
            display_title(Kind::Comment, None, "\nLooks good\nmore"),
            "Comment: Looks good"
        );
        assert_eq!(display_title(Kind::Note, Some("N"), "body"), "N");
    }
}

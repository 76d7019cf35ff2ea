//! Input schemas of the workspace tools, built from each kind's field schema so tools, REST
//! and OpenAPI describe the same shapes. Every schema forbids unknown arguments.

use serde_json::{Map, Value, json};

use crate::workspace::fields;
use crate::workspace::{Kind, WorkspaceLimits};

fn id_property(kind: Kind) -> Value {
    let (description, example) = if kind.has_title() {
        (
            format!("The {}'s ID, or its slug.", kind.label()),
            json!([
                format!("{}_01936f2e8c7d7b5e9a3b4c5d6e7f8091", kind.id_prefix()),
                "release-checklist"
            ]),
        )
    } else {
        (
            format!("The {}'s ID.", kind.label()),
            json!([format!(
                "{}_01936f2e8c7d7b5e9a3b4c5d6e7f8091",
                kind.id_prefix()
            )]),
        )
    };
    json!({"type": "string", "minLength": 1, "maxLength": 200, "description": description, "examples": example})
}

fn version_property(required: bool) -> Value {
    let description = if required {
        "The version you read. A record changed since gets a conflict naming its current version."
    } else {
        "Optional: the version you read; if given and the record changed since, nothing happens and the conflict names the current version."
    };
    json!({"type": "integer", "minimum": 1, "description": description, "examples": [3]})
}

fn object(properties: Map<String, Value>, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

fn props(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Arguments of `list_<plural>`.
pub fn list(kind: Kind, limits: &WorkspaceLimits) -> Value {
    let mut p = props(vec![
        (
            "cursor",
            json!({"type": "string", "description": "`next_cursor` from the previous page of the same query."}),
        ),
        (
            "limit",
            json!({
                "type": "integer", "minimum": 1, "maximum": limits.max_page_size,
                "description": format!("Records per page (default {}). A page may end early to stay under the size cap; follow `next_cursor`.", limits.default_page_size),
                "examples": [limits.default_page_size]
            }),
        ),
        (
            "archived",
            json!({
                "type": "string", "enum": ["exclude", "only", "include"], "default": "exclude",
                "description": "Archived records: left out (default), only them, or both."
            }),
        ),
        (
            "updated_since",
            json!({
                "type": "string", "format": "date-time",
                "description": "Only records changed at or after this time (RFC 3339).",
                "examples": ["2026-11-01T00:00:00Z"]
            }),
        ),
    ]);
    let statuses = kind.statuses();
    if !statuses.is_empty() {
        p.insert("status".into(), json!({"type": "string", "enum": statuses, "description": "Only records with this status."}));
    }
    if kind.has_tags() {
        p.insert("tag".into(), json!({"type": "string", "minLength": 1, "maxLength": 40, "description": "Only records carrying this tag.", "examples": ["release"]}));
    }
    if let Some(field) = kind.parent_field() {
        let what = if kind == Kind::Comment {
            "the note, task or chat commented on"
        } else {
            "the chat"
        };
        p.insert(field.into(), json!({"type": "string", "minLength": 1, "maxLength": 200, "description": format!("Only children of this record: ID or slug of {what}.")}));
    }
    let mut sorts = vec!["created_at", "updated_at"];
    if kind.has_title() {
        sorts.push("title");
    }
    p.insert("sort".into(), json!({"type": "string", "enum": sorts, "default": "created_at", "description": "Sort field."}));
    let default_order = if kind.default_descending() {
        "desc"
    } else {
        "asc"
    };
    p.insert("order".into(), json!({"type": "string", "enum": ["asc", "desc"], "default": default_order, "description": format!("Sort direction (default {default_order}).")}));
    object(p, &[])
}

/// Arguments naming one record: `get_*`.
pub fn by_id(kind: Kind) -> Value {
    object(props(vec![("id", id_property(kind))]), &["id"])
}

/// Arguments of `delete_*` and `archive_*`: the record and, optionally, its version.
pub fn by_id_with_version(kind: Kind) -> Value {
    object(
        props(vec![
            ("id", id_property(kind)),
            ("version", version_property(false)),
        ]),
        &["id"],
    )
}

/// Arguments of `create_*`: the kind's fields.
pub fn create(kind: Kind) -> Value {
    fields::schema(kind)
}

/// Arguments of `update_*`: the record, the version read, and every field.
pub fn update(kind: Kind) -> Value {
    let mut schema = fields::schema(kind);
    if let Some(p) = schema["properties"].as_object_mut() {
        p.insert("id".into(), id_property(kind));
        p.insert("version".into(), version_property(true));
    }
    if let Some(r) = schema["required"].as_array_mut() {
        r.insert(0, json!("version"));
        r.insert(0, json!("id"));
    } else {
        schema["required"] = json!(["id", "version"]);
    }
    if let Some(o) = schema.as_object_mut() {
        o.remove("examples");
        o.remove("title");
    }
    schema
}

/// Arguments of `patch_*`: the record, the version read, and a merge patch.
pub fn patch(kind: Kind) -> Value {
    let example = match kind {
        Kind::Task => json!({"priority": "urgent", "assignee": null}),
        Kind::Note => json!({"pinned": true, "tags": ["release", "q4"]}),
        Kind::Comment => json!({"body": "Fixed in the latest build."}),
        Kind::Chat => json!({"title": "Incident 42 retro (final)"}),
        Kind::ChatMessage => json!({"pinned": true}),
    };
    object(
        props(vec![
            ("id", id_property(kind)),
            ("version", version_property(true)),
            (
                "patch",
                json!({
                    "type": "object",
                    "description": "JSON Merge Patch (RFC 7396) over the record's fields: members replace, `null` removes an optional field, objects merge.",
                    "examples": [example]
                }),
            ),
        ]),
        &["id", "version", "patch"],
    )
}

/// Arguments of `process_*`: the record and a named transition.
pub fn process(kind: Kind) -> Value {
    let actions: Vec<&str> = kind.transitions().iter().map(|t| t.action).collect();
    let description = kind
        .transitions()
        .iter()
        .map(|t| format!("`{}`: {}", t.action, t.description))
        .collect::<Vec<_>>()
        .join("; ");
    object(
        props(vec![
            ("id", id_property(kind)),
            (
                "action",
                json!({"type": "string", "enum": actions, "description": description}),
            ),
            ("version", version_property(false)),
        ]),
        &["id", "action"],
    )
}

/// Arguments of `search`.
pub fn search(limits: &WorkspaceLimits) -> Value {
    object(
        props(vec![
            (
                "query",
                json!({
                    "type": "string", "minLength": 1, "maxLength": 500,
                    "description": "Words to find in titles and text; every word must match, and words match as prefixes (`deplo` finds `deploy`). Results come newest matches first in windows of 200, each ranked by relevance.",
                    "examples": ["signing key rotation"]
                }),
            ),
            (
                "limit",
                json!({
                    "type": "integer", "minimum": 1, "maximum": limits.max_page_size,
                    "description": format!("Results per page (default {}).", limits.default_page_size)
                }),
            ),
            (
                "cursor",
                json!({"type": "string", "description": "`next_cursor` from the previous page of the same query."}),
            ),
        ]),
        &["query"],
    )
}

/// Arguments of `fetch`.
pub fn fetch() -> Value {
    object(
        props(vec![(
            "id",
            json!({
                "type": "string", "minLength": 1, "maxLength": 200,
                "description": "A record ID from `search` (or a slug naming one note, task or chat).",
                "examples": ["task_01936f2e8c7d7b5e9a3b4c5d6e7f8091"]
            }),
        )]),
        &["id"],
    )
}

//! The OpenAPI 3.1 document of the REST API, served at `/openapi.json`.
//!
//! Written by hand as a `serde_json::Value` instead of with utoipa: the schemas already exist
//! as schemars output shared with the MCP tools (record fields, rendered records, pages,
//! `Deleted`, `SearchPage`, `Document`, and the tools' own argument schemas for filters, IDs,
//! patches and actions), and the 40 record operations are generated from the five kind
//! descriptors (`Kind::ALL`, their transitions, statuses and parents), not declared one by one.
//! OpenAPI 3.1 takes JSON Schema 2020-12 as it is, so each schema goes into
//! `components/schemas` unchanged except that its `$defs` move there too and `#/$defs/X`
//! references become `#/components/schemas/X` (a definition whose name is taken by a different
//! schema is renamed `<Owner><Name>`).
//!
//! This file assembles the document (`info`, servers, security, tags, paths, components) and
//! holds the naming and `$ref` helpers every part uses. The parts:
//!
//! - `operations`: the tags and `paths`, one operation per kind and `Op`, plus search and fetch;
//! - `descriptions`: the prose of each tag and record operation;
//! - `components`: `components/schemas` (with `$defs` hoisting), shared parameters and headers;
//! - `responses`: the shared responses, the problem responses by status and their schemas.
//!
//! The document is built once, when the router is built; a unit test checks its structure
//! (every operation has an ID, every `$ref` resolves) and the integration suite validates it
//! with `openapi-spec-validator`.

mod components;
mod descriptions;
mod operations;
mod responses;

use serde_json::{Value, json};

use super::shapes::Shapes;

const INFO: &str = "\
The mcpgate workspace as a REST API: notes, tasks, comments, chats and chat messages, with \
full-text search. It is the second door onto the same service as the MCP `workspace` tools: \
same records, same rules, same principal and permissions.

**Tenancy and roles.** Every request acts for the caller's org, taken from the credential \
(see `bearerAuth`). `viewer` may only read; `editor` and `admin` may also write. Writes are \
answered 405 while the server is read-only (`MCPGATE_WORKSPACE_WRITE=false`, the default).

**Versions.** Every record has a `version`, sent as its `ETag` (`\"3\"`). PUT and PATCH require \
`If-Match` with the version you read (428 without it, 412 with `current_version` when it is \
stale); DELETE, archive and process take it optionally. GET honours `If-None-Match` (304).

**Pages.** Lists and search return `next_cursor` while there is more; pass it back as \
`cursor` with the same filters. A page may end early to stay under the size cap.

**Errors** are RFC 9457 problem details (`application/problem+json`) whose `type` is \
`https://mcpgate.dev/problems/<slug>`: `bad-request`, `unknown-parameter` and `bad-cursor` \
(400), `unauthorized` (401), `forbidden` (403), `not-found` (404), `read-only` and \
`method-not-allowed` (405), `invalid-transition` and `ambiguous-slug` (409), \
`version-conflict` (412), `unsupported-media-type` (415), `invalid-field` (422, with \
`field`), `precondition-required` (428), `store-failure` (500). Bodies over the size limit \
(413) and Host/Origin refusals come from the edge as `{\"error\", \"message\"}` JSON.";

/// The whole document, for the server at `public_url`.
pub fn document(shapes: &Shapes, public_url: &str) -> Value {
    let (tags, paths) = operations::tags_and_paths(shapes);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mcpgate",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "The workspace REST API of mcpgate.",
            "description": INFO,
            "license": {"name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE")},
        },
        "servers": [{"url": public_url}],
        "security": [{"bearerAuth": []}],
        "tags": tags,
        "paths": paths,
        "components": components::components(shapes),
    })
}

/// `list_chat_messages` → `listChatMessages`.
fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `chat_message` → `ChatMessage`.
fn pascal(snake: &str) -> String {
    let mut s = camel(snake);
    if let Some(first) = s.get(..1).map(str::to_ascii_uppercase) {
        s.replace_range(..1, &first);
    }
    s
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn parameter_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::workspace::{Kind, fields};

    async fn built() -> Value {
        let limits = crate::config::Config::defaults().workspace.limits();
        document(&Shapes::new(&limits), "https://mcp.example.com")
    }

    /// Every `$ref` in `value`, with where it was found.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[tokio::test]
    async fn every_operation_has_an_id_and_every_ref_resolves() {
        let doc = built().await;
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "https://mcp.example.com");
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}"));
                ids.push(id.to_owned());
                assert!(op["summary"].is_string(), "{id}");
                assert!(op["description"].is_string(), "{id}");
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{id}"
                );
                let placeholders = path.matches('{').count();
                let declared = item["parameters"].as_array().map_or(0, Vec::len)
                    + op["parameters"]
                        .as_array()
                        .map_or(0, |ps| ps.iter().filter(|p| p["in"] == "path").count());
                assert_eq!(placeholders, declared, "{id}: path parameters");
            }
        }
        assert_eq!(ids.len(), 42);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operation IDs are unique");
        for id in [
            "listNotes",
            "getChatMessage",
            "updateTask",
            "processComment",
            "search",
            "fetch",
        ] {
            assert!(ids.iter().any(|i| i == id), "{id}");
        }

        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        assert!(
            !doc.to_string().contains("$defs"),
            "every $defs was hoisted"
        );
    }

    #[tokio::test]
    async fn schemas_are_the_shared_ones() {
        let doc = built().await;
        let schemas = &doc["components"]["schemas"];
        let mut task_fields = fields::schema(Kind::Task);
        let hoisted = task_fields.as_object_mut().and_then(|o| {
            o.remove("$schema");
            o.remove("$defs")
        });
        components::rewrite_refs(&mut task_fields, &HashMap::new());
        assert_eq!(schemas["TaskFields"], task_fields);
        for name in hoisted
            .and_then(|d| d.as_object().cloned())
            .unwrap_or_default()
            .keys()
        {
            assert!(schemas[name].is_object(), "{name} hoisted");
        }
        assert_eq!(
            schemas["Task"]["properties"]["type"]["$ref"],
            "#/components/schemas/Kind"
        );
        assert_eq!(
            schemas["NotePage"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/Note"
        );
        let list = &doc["paths"]["/api/v1/tasks"]["get"]["parameters"];
        let status = list
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "status"))
            .expect("status filter");
        assert_eq!(status["schema"]["enum"], json!(Kind::Task.statuses()));
    }

    #[test]
    fn names_are_pascal_case() {
        assert_eq!(pascal("chat_message"), "ChatMessage");
    }
}

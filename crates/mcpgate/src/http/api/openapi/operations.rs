//! The document's tags and `paths`: each kind's eight operations (`Op::ALL`), generated from
//! the kind descriptor and the tools' argument schemas, then search and fetch.
//!
//! Every operation is put together here (method, path, ID, parameters, request body,
//! responses); its prose comes from `descriptions`, and everything it points at by `$ref`
//! lives in `components` and `responses`.

use serde_json::{Map, Value, json};

use super::descriptions::{description, tag_description};
use super::responses::problems;
use super::{camel, header_ref, parameter_ref, pascal, response_ref, schema_ref};
use crate::http::api::extract::MERGE_PATCH;
use crate::http::api::shapes::Shapes;
use crate::modules::workspace::{FETCH_TITLE, SEARCH_TITLE};
use crate::workspace::{Kind, Op, fields};

impl Op {
    /// `listNotes`, `getChatMessage`: the tool name in camel case.
    fn operation_id(self, kind: Kind) -> String {
        camel(&self.tool(kind))
    }

    fn method(self) -> &'static str {
        match self {
            Op::List | Op::Get => "get",
            Op::Create | Op::Archive | Op::Process => "post",
            Op::Update => "put",
            Op::Patch => "patch",
            Op::Delete => "delete",
        }
    }

    fn path(self, kind: Kind) -> String {
        let base = format!("/api/v1/{}", kind.plural());
        match self {
            Op::List | Op::Create => base,
            Op::Get | Op::Update | Op::Patch | Op::Delete => format!("{base}/{{id}}"),
            Op::Archive => format!("{base}/{{id}}/archive"),
            Op::Process => format!("{base}/{{id}}/process"),
        }
    }
}

/// The document's `tags` (one per collection, then search) and its `paths`.
pub(super) fn tags_and_paths(shapes: &Shapes) -> (Vec<Value>, Map<String, Value>) {
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for kind in Kind::ALL {
        tags.push(json!({"name": kind.plural(), "description": tag_description(kind)}));
        for op in Op::ALL {
            let path = op.path(kind);
            let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
            if path.contains("{id}") && item.get("parameters").is_none() {
                item["parameters"] = json!([parameter("id", "path", &shapes.id(kind), true)]);
            }
            item[op.method()] = operation(op, kind, shapes);
        }
    }
    tags.push(json!({
        "name": "search",
        "description": "Full-text search across every collection, and whole records by ID.",
    }));
    paths.insert(
        "/api/v1/search".into(),
        json!({"get": {
            "operationId": "search",
            "summary": SEARCH_TITLE,
            "description": "Search your workspace's notes, tasks, comments, chats and chat messages by words, best matches first. Returns IDs, titles, links and snippets; read a whole record with `fetch`. Archived records are not searched. The MCP tool `search` does the same.",
            "tags": ["search"],
            "parameters": query_parameters(&shapes.search()),
            "responses": Value::Object(
                std::iter::once(("200".to_owned(), ok("Hits, best first.", schema_ref("SearchPage"), false)))
                    .chain(problems(&[400, 401, 422, 500]))
                    .collect()
            ),
        }}),
    );
    paths.insert(
        "/api/v1/fetch/{id}".into(),
        json!({"get": {
            "operationId": "fetch",
            "summary": FETCH_TITLE,
            "description": "One record in full by the ID `search` returned (or a slug naming one note, task or chat): its title, text (a chat's includes its messages) and metadata. The MCP tool `fetch` does the same.",
            "tags": ["search"],
            "parameters": [parameter("id", "path", &shapes.fetch_id(), true)],
            "responses": Value::Object(
                std::iter::once(("200".to_owned(), ok("The record as a document.", schema_ref("Document"), false)))
                    .chain(problems(&[400, 401, 404, 409, 500]))
                    .collect()
            ),
        }}),
    );
    (tags, paths)
}
/// One operation on a collection.
fn operation(op: Op, kind: Kind, shapes: &Shapes) -> Value {
    let p = pascal(kind.singular());
    let tag = kind.plural();
    let mut operation = json!({
        "operationId": op.operation_id(kind),
        "summary": op.title(kind),
        "description": description(op, kind),
        "tags": [tag],
    });
    let record = schema_ref(&p);
    let mut responses: Vec<(String, Value)> = Vec::new();
    let mut parameters: Vec<Value> = Vec::new();
    let write_statuses: &[u16] = &[401, 403, 404, 405];
    match op {
        Op::List => {
            parameters = query_parameters(&shapes.list(kind));
            responses.push((
                "200".into(),
                ok(
                    &format!("A page of {}.", kind.plural().replace('_', " ")),
                    schema_ref(&format!("{p}Page")),
                    false,
                ),
            ));
            let mut statuses = vec![400, 401];
            if kind.parent_field().is_some() {
                statuses.extend([404, 409]);
            }
            statuses.extend([422, 500]);
            responses.extend(problems(&statuses));
        }
        Op::Get => {
            parameters.push(parameter_ref("IfNoneMatch"));
            responses.push((
                "200".into(),
                ok(&format!("The {}.", kind.label()), record, true),
            ));
            responses.push(("304".into(), response_ref("NotModified")));
            responses.extend(problems(&[400, 401, 404, 500]));
        }
        Op::Create => {
            let fields = fields::schema(kind);
            operation["requestBody"] = json!({
                "required": true,
                "description": format!("The {}'s fields.", kind.label()),
                "content": json_content(schema_ref(&format!("{p}Fields")), first_example(&fields)),
            });
            responses.push((
                "201".into(),
                json!({
                    "description": format!("The new {}.", kind.label()),
                    "headers": {"ETag": header_ref("ETag"), "Location": header_ref("Location")},
                    "content": json_content(record, None),
                }),
            ));
            responses.extend(problems(&[400, 401, 403, 405, 413, 415, 422, 500]));
        }
        Op::Update => {
            parameters.push(parameter_ref("IfMatchRequired"));
            let fields = fields::schema(kind);
            operation["requestBody"] = json!({
                "required": true,
                "description": format!("Every field of the {}.", kind.label()),
                "content": json_content(schema_ref(&format!("{p}Fields")), first_example(&fields)),
            });
            responses.push((
                "200".into(),
                ok(&format!("The {} as replaced.", kind.label()), record, true),
            ));
            responses.extend(problems(&[400]));
            responses.extend(problems(write_statuses));
            responses.extend(problems(&[412, 413, 415, 422, 428, 500]));
        }
        Op::Patch => {
            parameters.push(parameter_ref("IfMatchRequired"));
            let patch = shapes.merge_patch(kind);
            let example = first_example(&patch);
            let schema = schema_ref(&format!("{p}MergePatch"));
            let mut content = Map::new();
            for media in MERGE_PATCH {
                let mut m = json!({"schema": schema});
                if let Some(example) = &example {
                    m["example"] = example.clone();
                }
                content.insert((*media).to_owned(), m);
            }
            operation["requestBody"] = json!({
                "required": true,
                "description": "A JSON Merge Patch (RFC 7396) over the record's fields.",
                "content": content,
            });
            responses.push((
                "200".into(),
                ok(&format!("The {} as patched.", kind.label()), record, true),
            ));
            responses.extend(problems(&[400]));
            responses.extend(problems(write_statuses));
            responses.extend(problems(&[412, 413, 415, 422, 428, 500]));
        }
        Op::Delete => {
            parameters.push(parameter_ref("IfMatchOptional"));
            responses.push((
                "200".into(),
                ok(
                    &format!("The {} is deleted, with its children.", kind.label()),
                    schema_ref("Deleted"),
                    false,
                ),
            ));
            responses.extend(problems(&[400]));
            responses.extend(problems(write_statuses));
            responses.extend(problems(&[412, 500]));
        }
        Op::Archive => {
            parameters.push(parameter_ref("IfMatchOptional"));
            responses.push((
                "200".into(),
                ok(&format!("The archived {}.", kind.label()), record, true),
            ));
            responses.extend(problems(&[400]));
            responses.extend(problems(write_statuses));
            responses.extend(problems(&[412, 500]));
        }
        Op::Process => {
            parameters.push(parameter_ref("IfMatchOptional"));
            let action = shapes.process(kind);
            operation["requestBody"] = json!({
                "required": true,
                "description": "The action to apply.",
                "content": json_content(schema_ref(&format!("{p}Action")), first_example(&action)),
            });
            responses.push((
                "200".into(),
                ok(
                    &format!("The {} after the change.", kind.label()),
                    record,
                    true,
                ),
            ));
            responses.extend(problems(&[400]));
            responses.extend(problems(write_statuses));
            responses.extend(problems(&[409, 412, 413, 415, 422, 500]));
        }
    }
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    responses.sort_by(|a, b| a.0.cmp(&b.0));
    operation["responses"] = Value::Object(responses.into_iter().collect());
    operation
}

/// The first of a schema's `examples`.
fn first_example(schema: &Value) -> Option<Value> {
    schema["examples"]
        .as_array()
        .and_then(|e| e.first())
        .cloned()
}

/// A parameter from a tool argument's schema: the schema as it is, its description and first
/// example lifted onto the parameter.
fn parameter(name: &str, location: &str, schema: &Value, required: bool) -> Value {
    let mut p = json!({
        "name": name,
        "in": location,
        "required": required,
        "schema": schema,
    });
    if let Some(description) = schema.get("description") {
        p["description"] = description.clone();
    }
    if let Some(example) = first_example(schema) {
        p["example"] = example;
    }
    p
}

/// The query parameters of an object schema (a tool's arguments).
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| parameter(name, "query", s, required.contains(&name.as_str())))
                .collect()
        })
        .unwrap_or_default()
}

fn json_content(schema: Value, example: Option<Value>) -> Value {
    let mut media = json!({"schema": schema});
    if let Some(example) = example {
        media["example"] = example;
    }
    json!({"application/json": media})
}

/// A success response.
fn ok(description: &str, schema: Value, etag: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": json_content(schema, None),
    });
    if etag {
        response["headers"] = json!({"ETag": header_ref("ETag")});
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_camel_case() {
        assert_eq!(Op::List.operation_id(Kind::ChatMessage), "listChatMessages");
        assert_eq!(Op::Process.operation_id(Kind::Note), "processNote");
    }
}

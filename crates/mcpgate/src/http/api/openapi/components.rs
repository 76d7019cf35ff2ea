//! `components` of the document: the schemas, the shared header parameters (`If-Match`,
//! `If-None-Match`), the response headers, and the security scheme; the shared responses come
//! from `responses`.
//!
//! The schemas are the schemars output the MCP tools use too (records, fields, pages, merge
//! patches, actions, `Deleted`, `SearchPage`, `Document`). `Schemas::add` moves each one's
//! `$defs` up into `components/schemas` and points `#/$defs/X` at `#/components/schemas/X`,
//! renaming a definition `<Owner><Name>` when a different schema already holds its name.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::responses::{edge_error_schema, problem_schema, responses};
use super::{pascal, schema_ref};
use crate::http::api::shapes::Shapes;
use crate::workspace::view::{self, Deleted, Document, SearchPage};
use crate::workspace::{Kind, fields};

/// `components/schemas`, with `$defs` hoisted out of each schema added.
#[derive(Default)]
struct Schemas {
    map: Map<String, Value>,
}

impl Schemas {
    /// Add `schema` as `name` (its `$defs` beside it) and return a reference to it.
    fn add(&mut self, name: &str, mut schema: Value) -> Value {
        let defs = match schema.as_object_mut() {
            Some(object) => {
                object.remove("$schema");
                object.remove("$defs")
            }
            None => None,
        };
        let mut renames: HashMap<String, String> = HashMap::new();
        let mut hoisted = Vec::new();
        if let Some(Value::Object(defs)) = defs {
            for (def_name, def) in defs {
                let mut probe = def.clone();
                rewrite_refs(&mut probe, &HashMap::new());
                let target = match self.map.get(&def_name) {
                    Some(existing) if *existing != probe => {
                        let mut candidate = format!("{name}{def_name}");
                        let mut n = 2;
                        while self.map.contains_key(&candidate) {
                            candidate = format!("{name}{def_name}{n}");
                            n += 1;
                        }
                        candidate
                    }
                    _ => def_name.clone(),
                };
                renames.insert(def_name, target.clone());
                hoisted.push((target, def));
            }
        }
        for (target, mut def) in hoisted {
            rewrite_refs(&mut def, &renames);
            self.map.insert(target, def);
        }
        rewrite_refs(&mut schema, &renames);
        match self.map.get(name) {
            Some(existing) if *existing != schema => {
                panic!("two different OpenAPI schemas are both named {name}")
            }
            _ => {
                self.map.insert(name.to_owned(), schema);
            }
        }
        schema_ref(name)
    }
}

/// Point `#/$defs/X` references at `#/components/schemas/<renamed X>`.
pub(super) fn rewrite_refs(value: &mut Value, renames: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(rest) = target.strip_prefix("#/$defs/")
            {
                let (name, tail) = rest.split_once('/').map_or((rest, ""), |(n, t)| (n, t));
                let name = renames.get(name).map_or(name, String::as_str);
                let tail = if tail.is_empty() {
                    String::new()
                } else {
                    format!("/{tail}")
                };
                *target = format!("#/components/schemas/{name}{tail}");
            }
            map.values_mut().for_each(|v| rewrite_refs(v, renames));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

/// The schema of a schemars type, with only standard formats.
fn generated<T: schemars::JsonSchema>() -> Value {
    let mut schema = schemars::schema_for!(T).to_value();
    crate::schema::strip_nonstandard_formats(&mut schema);
    schema
}

/// The document's `components`.
pub(super) fn components(shapes: &Shapes) -> Value {
    let mut schemas = Schemas::default();
    schemas.add("Problem", problem_schema());
    schemas.add("EdgeError", edge_error_schema());
    for kind in Kind::ALL {
        let p = pascal(kind.singular());
        schemas.add(&p, view::record_schema(kind));
        schemas.add(&format!("{p}Fields"), fields::schema(kind));
        let mut page = view::page_schema(kind);
        if let Some(object) = page.as_object_mut() {
            object.remove("$defs");
        }
        page["properties"]["items"]["items"] = schema_ref(&p);
        schemas.add(&format!("{p}Page"), page);
        let mut patch = shapes.merge_patch(kind);
        patch["title"] = json!(format!("{p}MergePatch"));
        schemas.add(&format!("{p}MergePatch"), patch);
        let mut action = shapes.process(kind);
        action["title"] = json!(format!("{p}Action"));
        schemas.add(&format!("{p}Action"), action);
    }
    schemas.add("Deleted", generated::<Deleted>());
    schemas.add("SearchPage", generated::<SearchPage>());
    schemas.add("Document", generated::<Document>());

    let version_schema = json!({"type": "string", "pattern": "^\"[1-9][0-9]*\"$"});
    json!({
        "schemas": schemas.map,
        "parameters": {
            "IfMatchRequired": {
                "name": "If-Match", "in": "header", "required": true,
                "description": "The version you read, as its entity tag (the `ETag`, quotes included). Required: without it the answer is 428. If the record changed since, nothing is written and the answer is 412 with `current_version`.",
                "schema": version_schema, "example": "\"3\"",
            },
            "IfMatchOptional": {
                "name": "If-Match", "in": "header", "required": false,
                "description": "Optional: the version you read, as its entity tag (the `ETag`, quotes included). When given and the record changed since, nothing happens and the answer is 412 with `current_version`.",
                "schema": {"type": "string", "pattern": "^(\\*|\"[1-9][0-9]*\")$"}, "example": "\"3\"",
            },
            "IfNoneMatch": {
                "name": "If-None-Match", "in": "header", "required": false,
                "description": "Entity tags you hold (weak comparison); when one is the current version the answer is 304 with no body.",
                "schema": {"type": "string"}, "example": "\"3\"",
            },
        },
        "headers": {
            "ETag": {
                "description": "The record's version as a strong entity tag: `\"<version>\"`, the same number as the body's `version`. Send it back as `If-Match` to change the record, or as `If-None-Match` to revalidate.",
                "schema": version_schema, "example": "\"3\"",
            },
            "Location": {
                "description": "The new record's URL (its `url`).",
                "schema": {"type": "string", "format": "uri"},
            },
            "WWW-Authenticate": {
                "description": "The bearer challenge.",
                "schema": {"type": "string"}, "example": "Bearer error=\"invalid_token\"",
            },
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1}, "example": 2,
            },
            "RateLimit-Limit": {
                "description": "Requests allowed at once by your rate limit (its burst).",
                "schema": {"type": "integer", "minimum": 1}, "example": 60,
            },
            "RateLimit-Remaining": {
                "description": "Requests you may still make right now.",
                "schema": {"type": "integer", "minimum": 0}, "example": 0,
            },
            "RateLimit-Reset": {
                "description": "Seconds until your limit is fully restored.",
                "schema": {"type": "integer", "minimum": 0}, "example": 60,
            },
            "Allow": {
                "description": "The methods the path still allows on this read-only server (empty for POST-only action paths).",
                "schema": {"type": "string"}, "example": "GET, HEAD",
            },
            "Accept-Patch": {
                "description": "The media types PATCH takes.",
                "schema": {"type": "string"}, "example": "application/merge-patch+json, application/json",
            },
        },
        "responses": responses(),
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The same credential as the MCP endpoint. With `MCPGATE_AUTH=dev` the token is `dev:<user>:<org>:<role>` (role viewer, editor or admin); without a header the configured default principal is used. With `MCPGATE_AUTH=none` no token is needed.",
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashing_definitions_are_renamed() {
        let mut schemas = Schemas::default();
        schemas.add(
            "A",
            json!({"$defs": {"X": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/X"}}}),
        );
        schemas.add(
            "B",
            json!({"$defs": {"X": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/X"}}}),
        );
        schemas.add(
            "C",
            json!({"$defs": {"X": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/X"}}}),
        );
        assert_eq!(schemas.map["X"], json!({"type": "string"}));
        assert_eq!(schemas.map["BX"], json!({"type": "integer"}));
        assert_eq!(
            schemas.map["B"]["properties"]["x"]["$ref"],
            "#/components/schemas/BX"
        );
        assert_eq!(
            schemas.map["C"]["properties"]["x"]["$ref"],
            "#/components/schemas/X"
        );
    }
}

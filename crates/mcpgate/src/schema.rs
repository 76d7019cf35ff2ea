//! JSON Schema helpers shared by the workspace domain, the MCP modules and the REST API: schema
//! literals as JSON objects, generated schemas, and keeping to the formats JSON Schema defines.
//!
//! A leaf: it names nothing else in the crate, so the domain can use it without reaching up into
//! an adapter.

use std::sync::Arc;

use rmcp::model::JsonObject;

/// A JSON object from a `json!` literal that is known to be an object.
pub fn object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("schema literal must be a JSON object, got {other}"),
    }
}

/// The input schema of a tool that takes no arguments.
pub fn no_arguments() -> Arc<JsonObject> {
    Arc::new(object(serde_json::json!({
        "type": "object",
        "properties": {},
        "additionalProperties": false
    })))
}

/// Formats JSON Schema defines; schema generators also emit others (`uint`, `int64`, `double`)
/// that validators in clients warn about or reject.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Remove `format` keywords that are not standard JSON Schema formats, everywhere in `schema`.
pub fn strip_nonstandard_formats(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            let nonstandard = map
                .get("format")
                .and_then(|f| f.as_str())
                .is_some_and(|f| !STANDARD_FORMATS.contains(&f));
            if nonstandard {
                map.remove("format");
            }
            map.values_mut().for_each(strip_nonstandard_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nonstandard_formats),
        _ => {}
    }
}

/// The output schema of `T` (rmcp's generator), with only standard formats.
pub fn output_schema<T: schemars::JsonSchema + 'static>() -> Arc<JsonObject> {
    let generated = rmcp::handler::server::common::schema_for_output::<T>();
    let mut schema = serde_json::Value::Object((*generated).clone());
    strip_nonstandard_formats(&mut schema);
    Arc::new(object(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonstandard_formats_are_removed_and_standard_ones_kept() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint"},
                "at": {"type": "string", "format": "date-time"},
                "xs": {"type": "array", "items": {"type": "number", "format": "double"}}
            }
        });
        strip_nonstandard_formats(&mut schema);
        assert!(schema["properties"]["n"].get("format").is_none());
        assert!(schema["properties"]["xs"]["items"].get("format").is_none());
        assert_eq!(schema["properties"]["at"]["format"], "date-time");
    }
}

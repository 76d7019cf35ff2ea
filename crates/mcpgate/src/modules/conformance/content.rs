//! Tools that return fixed content: one per content type the protocol defines, a mixed
//! result, a tool error, and a tool whose input schema exercises JSON Schema 2020-12.

use std::sync::Arc;

use rmcp::model::{
    CallToolResult, ContentBlock, JsonObject, ResourceContents, Tool, ToolAnnotations,
};
use serde_json::json;

use crate::mcp::ToolSpec;
use crate::modules::{no_arguments, object};

/// A 1x1 red PNG, base64-encoded.
pub const TEST_IMAGE_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A minimal WAV file (a header and no samples), base64-encoded.
pub const TEST_AUDIO_WAV: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// Annotations of a fixture that only returns data.
pub fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

/// A read-only fixture tool with no arguments that always returns `result`.
fn constant(name: &'static str, description: &'static str, result: CallToolResult) -> ToolSpec {
    let tool = Tool::new(name, description, no_arguments()).with_annotations(read_only());
    ToolSpec::new(tool, move |_, _| {
        let result = result.clone();
        async move { Ok(result.into()) }
    })
}

/// The content fixtures, in listing order.
pub fn tools() -> Vec<ToolSpec> {
    vec![
        constant(
            "test_simple_text",
            "Return one text block.",
            CallToolResult::success(vec![ContentBlock::text(
                "This is a simple text response for testing.",
            )]),
        ),
        constant(
            "test_image_content",
            "Return one image block (a 1x1 PNG).",
            CallToolResult::success(vec![ContentBlock::image(TEST_IMAGE_PNG, "image/png")]),
        ),
        constant(
            "test_audio_content",
            "Return one audio block (a tiny WAV).",
            CallToolResult::success(vec![ContentBlock::audio(TEST_AUDIO_WAV, "audio/wav")]),
        ),
        constant(
            "test_embedded_resource",
            "Return one embedded text resource.",
            CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::text(
                    "This is an embedded resource content.",
                    "test://embedded-resource",
                )
                .with_mime_type("text/plain"),
            )]),
        ),
        constant(
            "test_multiple_content_types",
            "Return text, an image and an embedded JSON resource in one result.",
            CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(TEST_IMAGE_PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        json!({"test": "data", "value": 123}).to_string(),
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ]),
        ),
        constant(
            "test_error_handling",
            "Always fail with a tool error (isError: true).",
            CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )]),
        ),
        json_schema_tool(),
        custom_header_tool(),
    ]
}

/// A tool whose `region` argument is mirrored into the `Mcp-Param-Region` HTTP header
/// (`x-mcp-header`), so intermediaries can route on it; the transport checks that header and
/// body agree before the tool runs.
fn custom_header_tool() -> ToolSpec {
    let schema = object(json!({
        "type": "object",
        "properties": {
            "region": {
                "type": "string",
                "description": "Region to report; also sent as the Mcp-Param-Region header",
                "x-mcp-header": "Region"
            }
        },
        "required": ["region"]
    }));
    let tool = Tool::new(
        "test_custom_headers",
        "Echo the region argument, which clients also send as the Mcp-Param-Region header.",
        Arc::new(schema),
    )
    .with_annotations(read_only());
    ToolSpec::new(tool, |params, _| async move {
        let region = params
            .arguments
            .as_ref()
            .and_then(|a| a.get("region"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("Region: {region}"))]).into())
    })
}

/// The input schema of `json_schema_2020_12_tool`: `$schema`, `$defs` with an `$anchor`, a
/// `$ref`, composition (`allOf`/`anyOf`) and conditionals (`if`/`then`/`else`), all of which
/// must reach the client unchanged.
fn json_schema_2020_12() -> JsonObject {
    object(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "city": {"type": "string"}
                }
            }
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    }))
}

fn json_schema_tool() -> ToolSpec {
    let tool = Tool::new(
        "json_schema_2020_12_tool",
        "Greet a contact; the input schema uses JSON Schema 2020-12 keywords.",
        Arc::new(json_schema_2020_12()),
    )
    .with_annotations(read_only());
    ToolSpec::new(tool, |params, _| async move {
        let name = params
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("world")
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("Hello, {name}!"))]).into())
    })
}

//! What an upstream's tools look like once exposed: the allowlist applied, the operator's
//! overrides (a new name, a replacement description, annotations, fixed arguments, a timeout)
//! laid over the upstream's definition, and each call turned back into the upstream's own
//! request — its own tool name, the fixed arguments set, and the correlation data in `_meta`.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, RequestMetaObject as Meta, Tool, ToolAnnotations};
use serde_json::{Map, Value};

use super::UpstreamConfig;

/// `_meta` key that carries the gateway's request id to the upstream.
pub const REQUEST_ID_META: &str = "io.mcpgate/requestId";

/// `_meta` keys of the caller's that pass through unchanged (W3C trace context).
const PASSED_META: &[&str] = &["traceparent", "tracestate"];

/// The operator's changes to one upstream tool (`[upstreams.tools.overrides.NAME]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOverride {
    /// The name it is exposed under (before the upstream's prefix).
    pub name: Option<String>,
    /// A description that replaces the upstream's.
    pub description: Option<String>,
    /// Annotation hints that replace the upstream's (`None`: keep what the upstream says,
    /// except `readOnlyHint`, which is only taken from the upstream when it is trusted).
    pub read_only: Option<bool>,
    /// See [`ToolAnnotations::destructive_hint`].
    pub destructive: Option<bool>,
    /// See [`ToolAnnotations::idempotent_hint`].
    pub idempotent: Option<bool>,
    /// See [`ToolAnnotations::open_world_hint`].
    pub open_world: Option<bool>,
    /// Arguments always sent with these values, and removed from the advertised schema.
    pub fixed: Map<String, Value>,
    /// How long a call may take (instead of the upstream's `timeout`).
    pub timeout: Option<Duration>,
}

/// One exposed upstream tool.
#[derive(Debug, Clone)]
pub struct Exposed {
    /// The definition callers see (before the prefix).
    pub tool: Tool,
    /// The upstream's own name for it.
    pub upstream_name: String,
    /// Arguments always sent.
    pub fixed: Map<String, Value>,
    /// Its call timeout.
    pub timeout: Duration,
    /// Whether a failed call may be sent again (read-only or idempotent, by the operator's
    /// word, or the upstream's where trusted).
    pub retry_safe: bool,
    /// The `x-mcp-header` annotations of the upstream's schema (property path, header name):
    /// a modern upstream is sent those arguments as `Mcp-Param-*` headers too.
    pub param_headers: Vec<(Vec<String>, String)>,
}

/// The tools of `listed` that `config` exposes, as exposed. Two tools that would be exposed
/// under one name are both left out (and logged): neither can be called unambiguously.
pub fn expose(config: &UpstreamConfig, listed: Vec<Tool>) -> Vec<Exposed> {
    let mut exposed: Vec<Exposed> = listed
        .into_iter()
        .filter(|t| config.exposes(&t.name))
        .map(|t| exposed_tool(config, t))
        .collect();
    let mut names: std::collections::HashMap<String, usize> = Default::default();
    for tool in &exposed {
        *names.entry(tool.tool.name.to_string()).or_default() += 1;
    }
    exposed.retain(|t| {
        let unique = names[t.tool.name.as_ref()] == 1;
        if !unique {
            tracing::warn!(
                upstream = %config.name,
                tool = %t.tool.name,
                "two upstream tools would be exposed under one name; neither is offered"
            );
        }
        unique
    });
    exposed
}

fn exposed_tool(config: &UpstreamConfig, mut tool: Tool) -> Exposed {
    let upstream_name = tool.name.to_string();
    let param_headers = super::direct::annotated_headers(&tool.input_schema);
    let plain = ToolOverride::default();
    let over = config.overrides.get(&upstream_name).unwrap_or(&plain);
    if let Some(name) = &over.name {
        tool.name = name.clone().into();
    }
    if let Some(description) = &over.description {
        tool.description = Some(description.clone().into());
    }
    let mut annotations = tool.annotations.take().unwrap_or_default();
    if !config.trust_annotations {
        annotations.read_only_hint = None;
        annotations.idempotent_hint = None;
    }
    set(&mut annotations.read_only_hint, over.read_only);
    set(&mut annotations.destructive_hint, over.destructive);
    set(&mut annotations.idempotent_hint, over.idempotent);
    set(&mut annotations.open_world_hint, over.open_world);
    let retry_safe =
        annotations.read_only_hint == Some(true) || annotations.idempotent_hint == Some(true);
    if annotations != ToolAnnotations::default() {
        tool.annotations = Some(annotations);
    }
    if !over.fixed.is_empty() {
        tool.input_schema = Arc::new(without_fixed(&tool.input_schema, &over.fixed));
    }
    Exposed {
        tool,
        upstream_name,
        fixed: over.fixed.clone(),
        timeout: over.timeout.unwrap_or(config.timeout),
        retry_safe,
        param_headers,
    }
}

fn set(hint: &mut Option<bool>, value: Option<bool>) {
    if value.is_some() {
        *hint = value;
    }
}

/// The schema with the fixed arguments gone from `properties` and `required`.
fn without_fixed(schema: &Map<String, Value>, fixed: &Map<String, Value>) -> Map<String, Value> {
    let mut schema = schema.clone();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.retain(|name, _| !fixed.contains_key(name));
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|name| name.as_str().is_none_or(|n| !fixed.contains_key(n)));
    }
    schema
}

impl Exposed {
    /// The upstream's request for the caller's `request`: the upstream's tool name, a new
    /// argument map (the caller's, with the fixed arguments set over it and the correlation
    /// argument added), a fresh `_meta` holding only the request id and the caller's trace
    /// context — nothing else of the caller's `_meta` (its progress token, its era's fields)
    /// reaches the upstream — and, on a retried `input_required` round, the caller's answers
    /// with the upstream's request state.
    pub fn upstream_request(
        &self,
        request: &CallToolRequestParams,
        request_id: &str,
        correlation_argument: Option<&str>,
    ) -> CallToolRequestParams {
        let mut arguments = request.arguments.clone().unwrap_or_default();
        for (name, value) in &self.fixed {
            arguments.insert(name.clone(), value.clone());
        }
        if let Some(key) = correlation_argument {
            arguments.insert(key.to_owned(), Value::String(request_id.to_owned()));
        }
        let mut meta = Meta::new();
        meta.insert(
            REQUEST_ID_META.to_owned(),
            Value::String(request_id.to_owned()),
        );
        if let Some(theirs) = &request.meta {
            for key in PASSED_META {
                if let Some(value) = theirs.get(*key) {
                    meta.insert((*key).to_owned(), value.clone());
                }
            }
        }
        let mut upstream = CallToolRequestParams::new(self.upstream_name.clone());
        upstream.arguments = Some(arguments);
        upstream.meta = Some(meta);
        // A caller answering the upstream's `input_required` round: the answers and the
        // upstream's own request state go back to it (the upstream checks its state).
        upstream.input_responses = request.input_responses.clone();
        upstream.request_state = request.request_state.clone();
        upstream
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::upstream::tests::config;

    fn tool(name: &str) -> Tool {
        let schema = json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "root": {"type": "string"}},
            "required": ["path", "root"],
        });
        let Value::Object(schema) = schema else {
            unreachable!()
        };
        Tool::new(name.to_owned(), "upstream words", Arc::new(schema)).with_annotations(
            ToolAnnotations::new()
                .read_only(true)
                .destructive(false)
                .idempotent(true),
        )
    }

    #[test]
    fn overrides_rename_redescribe_annotate_and_fix_arguments() {
        let mut config = config(&["*"], &[]);
        config.overrides = BTreeMap::from([(
            "read_file".to_owned(),
            ToolOverride {
                name: Some("read".into()),
                description: Some("Read one file under /srv.".into()),
                read_only: Some(true),
                fixed: Map::from_iter([("root".to_owned(), json!("/srv"))]),
                timeout: Some(Duration::from_secs(3)),
                ..ToolOverride::default()
            },
        )]);
        let exposed = expose(&config, vec![tool("read_file"), tool("write_file")]);
        let read = &exposed[0];
        assert_eq!(read.tool.name, "read");
        assert_eq!(read.upstream_name, "read_file");
        assert_eq!(
            read.tool.description.as_deref(),
            Some("Read one file under /srv.")
        );
        assert_eq!(read.timeout, Duration::from_secs(3));
        assert!(read.retry_safe);
        let schema = Value::Object((*read.tool.input_schema).clone());
        assert_eq!(schema["properties"], json!({"path": {"type": "string"}}));
        assert_eq!(schema["required"], json!(["path"]));

        // The upstream's own claims are not believed by default.
        let write = &exposed[1];
        let annotations = write.tool.annotations.as_ref().expect("kept");
        assert_eq!(annotations.read_only_hint, None);
        assert_eq!(annotations.idempotent_hint, None);
        assert_eq!(annotations.destructive_hint, Some(false));
        assert!(!write.retry_safe);
        assert_eq!(write.timeout, config.timeout);
    }

    #[test]
    fn trusted_annotations_are_kept() {
        let mut config = config(&["*"], &[]);
        config.trust_annotations = true;
        let exposed = expose(&config, vec![tool("read_file")]);
        assert!(exposed[0].retry_safe);
        let annotations = exposed[0].tool.annotations.as_ref().expect("kept");
        assert_eq!(annotations.read_only_hint, Some(true));
    }

    #[test]
    fn two_tools_renamed_to_one_name_are_both_left_out() {
        let mut config = config(&["*"], &[]);
        config.overrides = BTreeMap::from([(
            "a".to_owned(),
            ToolOverride {
                name: Some("b".into()),
                ..ToolOverride::default()
            },
        )]);
        let exposed = expose(&config, vec![tool("a"), tool("b"), tool("c")]);
        let names: Vec<&str> = exposed.iter().map(|t| t.tool.name.as_ref()).collect();
        assert_eq!(names, ["c"]);
    }

    #[test]
    fn the_upstream_request_is_new_and_carries_only_what_it_should() {
        let mut config = config(&["*"], &[]);
        config.overrides = BTreeMap::from([(
            "read_file".to_owned(),
            ToolOverride {
                name: Some("read".into()),
                fixed: Map::from_iter([("root".to_owned(), json!("/srv"))]),
                ..ToolOverride::default()
            },
        )]);
        let exposed = expose(&config, vec![tool("read_file")]);
        let mut request = CallToolRequestParams::new("read");
        request.arguments = Some(Map::from_iter([
            ("path".to_owned(), json!("a.txt")),
            ("root".to_owned(), json!("/etc")),
        ]));
        let mut meta = Meta::new();
        meta.insert("progressToken".into(), json!("caller-token"));
        meta.insert("traceparent".into(), json!("00-abc-def-01"));
        request.meta = Some(meta);

        request.request_state = Some("upstream-state".into());
        let upstream = exposed[0].upstream_request(&request, "req-1", Some("case_id"));
        assert_eq!(
            upstream.request_state.as_deref(),
            Some("upstream-state"),
            "a retried input_required round carries the upstream's state back"
        );
        assert_eq!(upstream.name, "read_file");
        let arguments = Value::Object(upstream.arguments.expect("set"));
        assert_eq!(
            arguments,
            json!({"path": "a.txt", "root": "/srv", "case_id": "req-1"}),
            "the fixed value wins over the caller's"
        );
        let meta = serde_json::to_value(upstream.meta.expect("set")).expect("json");
        assert_eq!(
            meta,
            json!({REQUEST_ID_META: "req-1", "traceparent": "00-abc-def-01"})
        );
        // The caller's request is untouched.
        assert_eq!(
            request.arguments.as_ref().expect("kept")["root"],
            json!("/etc")
        );
    }
}

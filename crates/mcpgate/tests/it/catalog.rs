//! The live catalog in a built app: a source added at runtime is offered and callable at once,
//! a source with a bad offer is quarantined and shown in `health` and `server_info`, and a
//! removed source's tools are gone.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use mcpgate::mcp::{Module, ToolSpec};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::{Value, json};

use crate::support::{app, modern_call, oneshot};

/// A runtime source offering the tools it is named with.
struct Source {
    name: &'static str,
    tools: &'static [&'static str],
}

impl Module for Source {
    fn name(&self) -> &str {
        self.name
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|name| {
                let schema = json!({"type": "object"});
                let Value::Object(schema) = schema else {
                    unreachable!()
                };
                let tool = Tool::new(*name, "added at runtime", Arc::new(schema));
                // Answers with the name the call reached it under.
                ToolSpec::new(tool, |request, _| async move {
                    let answer = format!("{} answers", request.name);
                    Ok(CallToolResult::success(vec![ContentBlock::text(answer)]).into())
                })
            })
            .collect()
    }
}

/// Call `tool` in the modern era; the JSON-RPC answer.
async fn call(router: &axum::Router, tool: &str) -> Value {
    let request = Request::post("/mcp")
        .header(header::HOST, "localhost:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Body::from(modern_call(1, tool, json!({}))))
        .expect("request");
    let (_, _, body) = oneshot(router, request).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The structured content of a successful tool answer.
fn structured(answer: &Value) -> &Value {
    &answer["result"]["structuredContent"]
}

#[tokio::test]
async fn runtime_sources_are_offered_quarantined_and_removed() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();
    let catalog = app.handler().catalog().clone();

    let added = catalog.add_source(Arc::new(Source {
        name: "extra",
        tools: &["extra_echo"],
    }));
    assert!(matches!(added, Ok(None)), "{added:?}");
    let answer = call(&router, "extra_echo").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "extra_echo answers",
        "{answer}"
    );

    // A source that offers a name another source has is left out whole, and says why.
    let clash = catalog
        .add_source(Arc::new(Source {
            name: "clash",
            tools: &["clash_ok", "health"],
        }))
        .expect("added");
    assert!(clash.is_some());
    let missing = call(&router, "clash_ok").await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let health = call(&router, "health").await;
    let report = structured(&health);
    assert_eq!(report["status"], "degraded", "{health}");
    assert_eq!(report["quarantined"][0]["source"], "clash", "{health}");
    assert!(
        report["quarantined"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("health")),
        "{health}"
    );
    let info = call(&router, "server_info").await;
    assert_eq!(
        structured(&info)["quarantined"][0]["source"],
        "clash",
        "{info}"
    );

    // A prefixed source: listed under the prefix, called under its own names.
    let prefixed = catalog.add_source_prefixed(
        Arc::new(Source {
            name: "upstream",
            tools: &["health"],
        }),
        "upstream__",
    );
    assert!(matches!(prefixed, Ok(None)), "{prefixed:?}");
    let answer = call(&router, "upstream__health").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "health answers",
        "{answer}"
    );
    assert!(catalog.remove_source("upstream"));

    assert!(catalog.remove_source("clash"));
    assert!(catalog.remove_source("extra"));
    let gone = call(&router, "extra_echo").await;
    assert_eq!(
        gone["error"]["message"], "Unknown tool: extra_echo",
        "{gone}"
    );
    let health = call(&router, "health").await;
    assert_eq!(structured(&health)["status"], "ok", "{health}");
}

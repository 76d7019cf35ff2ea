//! Plain modern tool calls are served without rmcp's per-request service: the same calls sent
//! so that rmcp serves them (an `Accept` with weights, which only rmcp reads) are answered
//! alike, and every check rmcp makes on a modern request still refuses what it refused.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{app, modern_call, modern_meta, oneshot};

/// What the served path takes.
const PLAIN_ACCEPT: &str = "application/json, text/event-stream";
/// The same ranges with weights: left to rmcp.
const WEIGHTED_ACCEPT: &str = "application/json;q=1, text/event-stream;q=0.9";

fn call(body: &str, tool: &str, accept: &str) -> Request<Body> {
    Request::post("/mcp")
        .header(header::HOST, "localhost:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, accept)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

/// Status, content type and JSON body of `request`.
async fn answer(router: &axum::Router, request: Request<Body>) -> (StatusCode, String, Value) {
    let (status, headers, body) = oneshot(router, request).await;
    let kind = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, kind, body)
}

/// A modern call whose client declares `capabilities`.
fn call_declaring(id: u64, tool: &str, arguments: Value, capabilities: Value) -> String {
    let mut meta = modern_meta();
    meta["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments, "_meta": meta}})
    .to_string()
}

/// A sealed request state differs from one round to the next (it is encrypted afresh).
fn without_request_state(mut body: Value) -> Value {
    if let Some(result) = body.get_mut("result").and_then(Value::as_object_mut) {
        result.remove("requestState");
    }
    body
}

#[tokio::test]
async fn plain_calls_are_answered_as_rmcp_answers_them() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    let calls = [
        ("test_simple_text", json!({})),
        ("test_image_content", json!({})),
        ("test_embedded_resource", json!({})),
        ("test_multiple_content_types", json!({})),
        ("test_error_handling", json!({})),
        // Arguments that break the schema: an isError result naming them.
        ("server_info", json!({"bogus": 1})),
        // Needs a capability the call did not declare: -32021, HTTP 400.
        ("test_missing_capability", json!({})),
        // A first round that asks the client for input.
        ("test_input_required_result_elicitation", json!({})),
        ("test_input_required_result_multiple_inputs", json!({})),
    ];
    for (id, (tool, arguments)) in (1..).zip(calls) {
        let answers = json!({"elicitation": {}, "sampling": {}, "roots": {}});
        let body = match tool.starts_with("test_input_required") {
            true => call_declaring(id, tool, arguments, answers),
            false => modern_call(id, tool, arguments),
        };
        let served = answer(&router, call(&body, tool, PLAIN_ACCEPT)).await;
        let by_rmcp = answer(&router, call(&body, tool, WEIGHTED_ACCEPT)).await;
        assert_eq!(served.0, by_rmcp.0, "{tool}: status");
        assert_eq!(served.1, by_rmcp.1, "{tool}: content type");
        assert_eq!(
            without_request_state(served.2.clone()),
            without_request_state(by_rmcp.2),
            "{tool}: body"
        );
        assert_eq!(served.2["id"], id, "{tool}");
    }
    let (status, _, body) = answer(
        &router,
        call(
            &modern_call(50, "test_missing_capability", json!({})),
            "test_missing_capability",
            PLAIN_ACCEPT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], -32021, "{body}");
}

/// A multi-round call continues on the served path: the state sealed by one round opens in
/// the next, and a tampered state is refused.
#[tokio::test]
async fn input_rounds_continue_and_tampered_state_is_refused() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    let tool = "test_input_required_result_request_state";
    let (_, _, first) = answer(
        &router,
        call(
            &call_declaring(1, tool, json!({}), json!({"elicitation": {}})),
            tool,
            PLAIN_ACCEPT,
        ),
    )
    .await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"]
        .as_str()
        .expect("a request state");
    let responses: serde_json::Map<String, Value> = first["result"]["inputRequests"]
        .as_object()
        .expect("input requests")
        .keys()
        .map(|key| {
            let accept = json!({"action": "accept", "content": {"confirmed": true}});
            (key.clone(), accept)
        })
        .collect();
    let mut meta = modern_meta();
    meta["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}});
    let round = |id: u64, state: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": tool, "arguments": {}, "_meta": meta,
            "inputResponses": responses, "requestState": state}})
        .to_string()
    };
    let (status, _, second) = answer(&router, call(&round(2, state), tool, PLAIN_ACCEPT)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["result"]["resultType"], "complete", "{second}");
    let mut tampered = state.to_owned();
    let last = tampered.pop().expect("non-empty");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (_, _, refused) = answer(&router, call(&round(3, &tampered), tool, PLAIN_ACCEPT)).await;
    assert!(
        refused.get("error").is_some() || refused["result"]["isError"] == true,
        "a tampered state is refused: {refused}"
    );
}

/// rmcp's checks of a modern request's headers against its body hold on every call: a header
/// naming another tool or method, another era, or a missing `Mcp-Param-*` header is refused
/// with -32020 (HTTP 400) and nothing runs.
#[tokio::test]
async fn headers_that_disagree_with_the_body_are_refused() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    let body = modern_call(9, "server_info", json!({}));
    let refused = |request: Request<Body>| {
        let router = router.clone();
        async move {
            let (status, _, body) = answer(&router, request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["id"], 9, "{body}");
            body["error"]["code"].as_i64().expect("a JSON-RPC error")
        }
    };
    // Mcp-Name of a tool other than the body's: an intermediary routing on it would be fooled.
    assert_eq!(
        refused(call(&body, "test_error_handling", PLAIN_ACCEPT)).await,
        -32020
    );
    let with = |mut request: Request<Body>, name: &'static str, value: Option<&str>| {
        match value {
            Some(value) => request
                .headers_mut()
                .insert(name, value.parse().expect("value")),
            None => request.headers_mut().remove(name),
        };
        request
    };
    let named = |body: &str, tool: &str| call(body, tool, PLAIN_ACCEPT);
    let region = modern_call(9, "test_custom_headers", json!({"region": "eu"}));
    for request in [
        with(
            named(&body, "server_info"),
            "mcp-method",
            Some("tools/list"),
        ),
        with(named(&body, "server_info"), "mcp-name", None),
        // A tool whose schema asks for Mcp-Param-Region: the header must come, and agree.
        named(&region, "test_custom_headers"),
        with(
            named(&region, "test_custom_headers"),
            "mcp-param-region",
            Some("us"),
        ),
    ] {
        assert_eq!(refused(request).await, -32020);
    }
    let request = with(
        named(&region, "test_custom_headers"),
        "mcp-param-region",
        Some("eu"),
    );
    let (status, _, answered) = answer(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert!(answered.get("result").is_some(), "{answered}");
    // Params that do not read as a tool call's: -32602, HTTP 400, as before.
    let unreadable = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                            "params": {"name": 7, "_meta": modern_meta()}});
    let (status, _, body) = answer(&router, call(&unreadable.to_string(), "7", PLAIN_ACCEPT)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(body["id"], 9, "{body}");
    // `_meta` of another era than the header names.
    let mut older = modern_meta();
    older["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    let mixed = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                       "params": {"name": "server_info", "arguments": {}, "_meta": older}});
    let (status, _, body) = answer(
        &router,
        call(&mixed.to_string(), "server_info", PLAIN_ACCEPT),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// The caller's role still decides: a viewer's call of a write tool is refused on the served
/// path as it was before, and a writer's goes through.
#[tokio::test]
async fn a_viewer_still_cannot_call_a_write_tool() {
    let (app, _dir) = app(&[
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_MODULES", "system,workspace"),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
    ])
    .await;
    let router = app.router();
    let as_caller = |token: &str| {
        let mut request = call(
            &modern_call(4, "create_note", json!({"title": "x"})),
            "create_note",
            PLAIN_ACCEPT,
        );
        request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("value"),
        );
        request
    };
    let (status, _, body) = answer(&router, as_caller("dev:ann:acme:viewer")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(body.get("result").is_none(), "{body}");
    let (status, _, body) = answer(&router, as_caller("dev:bob:acme:editor")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["isError"], false, "{body}");
}

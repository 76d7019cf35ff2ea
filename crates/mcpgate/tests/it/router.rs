//! HTTP behaviour of the router, driven in-process with `oneshot`: status codes, headers and
//! JSON bodies for good and bad requests.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use crate::support::{app, modern_call};

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

async fn send(
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    crate::support::oneshot(router, request).await
}

fn post_mcp(body: impl Into<Body>) -> axum::http::request::Builder {
    let _ = body;
    Request::post("/mcp")
        .header(header::HOST, "localhost:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, ACCEPT_BOTH)
}

fn modern(body: String, tool: &str) -> Request<Body> {
    post_mcp("")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Body::from(body))
        .expect("request")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The JSON-RPC message in a JSON or SSE response body.
fn rpc_message(body: &str) -> serde_json::Value {
    if body.trim_start().starts_with('{') {
        return json(body);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(json)
        .find(|m| m.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in SSE body: {body}"))
}

#[tokio::test]
async fn probes_answer_and_metrics_count_requests() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();
    let get = |path: &str| {
        Request::get(path)
            .header(header::HOST, "localhost")
            .body(Body::empty())
            .expect("request")
    };
    let (status, _, body) = send(&router, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "ok");
    let (status, _, body) = send(&router, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["store"], "ok");

    let (status, _, _) = send(
        &router,
        modern(modern_call(1, "health", serde_json::json!({})), "health"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = send(&router, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .contains("openmetrics")
    );
    for needle in [
        "mcpgate_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1",
        "mcpgate_mcp_requests_total{method=\"tools/call\"} 1",
        "mcpgate_tool_calls_total{tool=\"health\",outcome=\"ok\"} 1",
        "mcpgate_tool_call_duration_seconds_bucket",
        "mcpgate_http_request_duration_seconds_bucket",
    ] {
        assert!(body.contains(needle), "metrics lack {needle}:\n{body}");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();
    let given = Request::get("/healthz")
        .header(header::HOST, "localhost")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(&router, given).await;
    assert_eq!(headers["x-request-id"], "abc-123");
    let fresh = Request::get("/healthz")
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(&router, fresh).await;
    assert_eq!(headers["x-request-id"].len(), 36, "a UUID is generated");
    let junk = Request::get("/healthz")
        .header(header::HOST, "localhost")
        .header("x-request-id", "x".repeat(500))
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(&router, junk).await;
    assert_eq!(
        headers["x-request-id"].len(),
        36,
        "an unacceptable id is replaced"
    );
}

#[tokio::test]
async fn foreign_origin_and_host_are_forbidden_on_every_route() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();
    for path in ["/mcp", "/healthz", "/metrics"] {
        let request = Request::get(path)
            .header(header::HOST, "localhost")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = send(&router, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(json(&body)["error"], "forbidden_origin");
    }
    let rebinding = Request::get("/healthz")
        .header(header::HOST, "evil.example")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(&router, rebinding).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["error"], "forbidden_host");
    let local_origin = modern(modern_call(1, "health", serde_json::json!({})), "health");
    let (mut parts, body) = local_origin.into_parts();
    parts.headers.insert(
        header::ORIGIN,
        "http://localhost:3000".parse().expect("header"),
    );
    let (status, _, _) = send(&router, Request::from_parts(parts, body)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a loopback origin is allowed by default"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_with_a_json_body() {
    let (app, _dir) = app(&[("MCPGATE_MAX_BODY_BYTES", "1024")]).await;
    let router = app.router();
    let big = modern_call(1, "health", serde_json::json!({ "pad": "x".repeat(4096) }));
    let (status, _, body) = send(&router, modern(big.clone(), "health")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let body = json(&body);
    assert_eq!(body["error"], "payload_too_large");
    assert!(body["message"].as_str().expect("message").contains("1024"));

    // Without a Content-Length the limit is enforced while the body streams in.
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let request = post_mcp("")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "health")
        .body(Body::from_stream(stream))
        .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(json(&body)["error"], "payload_too_large");
}

#[tokio::test]
async fn bad_mcp_requests_get_protocol_errors() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();

    // Wrong Accept → 406.
    let request = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "text/html")
        .body(Body::from(modern_call(1, "health", serde_json::json!({}))))
        .expect("request");
    let (status, _, _) = send(&router, request).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);

    // Malformed JSON → JSON-RPC parse error.
    let request = post_mcp("").body(Body::from("{not json")).expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(rpc_message_any(&body)["error"]["code"], -32700, "{body}");

    // JSON that is not a JSON-RPC message → invalid request, with the id when there is one.
    for (body, id) in [
        (r#"{}"#, serde_json::Value::Null),
        (r#"[1, 2]"#, serde_json::Value::Null),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":7}"#,
            serde_json::json!(9),
        ),
    ] {
        let request = post_mcp("").body(Body::from(body)).expect("request");
        let (status, _, answer) = send(&router, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let answer = json(&answer);
        assert_eq!(answer["error"]["code"], -32600, "{body}: {answer}");
        assert_eq!(answer["id"], id, "{body}");
    }

    // Unknown tool → JSON-RPC error carrying the request id.
    let (status, _, body) = send(
        &router,
        modern(
            modern_call(77, "no_such_tool", serde_json::json!({})),
            "no_such_tool",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let message = rpc_message(&body);
    assert_eq!(message["id"], 77);
    assert_eq!(message["error"]["code"], -32602);
    assert!(
        message["error"]["message"]
            .as_str()
            .expect("text")
            .contains("no_such_tool")
    );

    // Arguments that break the input schema → an isError result naming the problem.
    let (_, _, body) = send(
        &router,
        modern(
            modern_call(78, "health", serde_json::json!({"bogus": 1})),
            "health",
        ),
    )
    .await;
    let message = rpc_message(&body);
    assert_eq!(message["id"], 78);
    assert_eq!(message["result"]["isError"], true);
    assert!(
        message["result"]["content"][0]["text"]
            .as_str()
            .expect("text")
            .contains("bogus")
    );

    // Unknown session → 404.
    let request = post_mcp("")
        .header("mcp-session-id", "no-such-session")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
        ))
        .expect("request");
    let (status, _, _) = send(&router, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A JSON-RPC message from a body that may also be a bare error object without id.
fn rpc_message_any(body: &str) -> serde_json::Value {
    if body.trim_start().starts_with('{') {
        json(body)
    } else {
        rpc_message(body)
    }
}

#[tokio::test]
async fn legacy_sessions_initialize_call_and_delete() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();
    let init = post_mcp("")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        ))
        .expect("request");
    let (status, headers, body) = send(&router, init).await;
    assert_eq!(status, StatusCode::OK);
    let session = headers["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        rpc_message(&body)["result"]["protocolVersion"],
        "2025-11-25"
    );

    let legacy = |body: &'static str| {
        post_mcp("")
            .header("mcp-session-id", session.as_str())
            .header("mcp-protocol-version", "2025-11-25")
            .body(Body::from(body))
            .expect("request")
    };
    let (status, _, _) = send(
        &router,
        legacy(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, body) = send(&router, legacy(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"server_info","arguments":{}}}"#)).await;
    assert_eq!(status, StatusCode::OK);
    let message = rpc_message(&body);
    assert_eq!(message["result"]["structuredContent"]["name"], "mcpgate");
    assert!(
        message["result"].get("resultType").is_none(),
        "legacy results carry no resultType"
    );

    // The standalone GET stream opens as SSE (its body stays open, so only the head is read).
    let stream = Request::get("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "text/event-stream")
        .header("mcp-session-id", session.as_str())
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(stream).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    drop(response);

    let delete = Request::delete("/mcp")
        .header(header::HOST, "localhost")
        .header("mcp-session-id", session.as_str())
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::empty())
        .expect("request");
    let (status, _, _) = send(&router, delete).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(
        &router,
        legacy(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted session is gone");
}

#[tokio::test]
async fn dev_tokens_resolve_and_malformed_ones_get_401() {
    let (app, _dir) = app(&[("MCPGATE_AUTH", "dev")]).await;
    let router = app.router();
    let with_token = |token: &str| {
        let mut request = modern(
            modern_call(1, "server_info", serde_json::json!({})),
            "server_info",
        );
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, token.parse().expect("header"));
        request
    };
    let (status, headers, body) = send(&router, with_token("Bearer dev:ann")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    assert_eq!(json(&body)["error"], "invalid_token");
    let (status, _, body) = send(&router, with_token("Bearer dev:ann:acme:viewer")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rpc_message(&body)["result"]["structuredContent"]["name"],
        "mcpgate"
    );
    let (status, _, _) = send(
        &router,
        modern(modern_call(1, "health", serde_json::json!({})), "health"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "no header falls back to the default principal"
    );
}

#[tokio::test]
async fn modern_lists_carry_private_cache_hints() {
    let (app, _dir) = app(&[]).await;
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/list",
        "params": {"_meta": crate::support::modern_meta()}
    });
    let request = post_mcp("")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, body) = send(&app.router(), request).await;
    assert_eq!(status, StatusCode::OK);
    let list = rpc_message(&body);
    assert_eq!(list["result"]["ttlMs"], 30_000);
    assert_eq!(list["result"]["cacheScope"], "private");
}

/// Every answer, refusals included, tells browsers not to sniff, frame or leak a referrer; MCP
/// and API answers are not stored by caches unless the handler chose a policy.
#[tokio::test]
async fn every_response_carries_the_browser_safety_headers() {
    let (app, _dir) = app(&[]).await;
    let router = app.router();
    let foreign_host = Request::get("/healthz")
        .header(header::HOST, "evil.example")
        .body(Body::empty())
        .expect("request");
    let mcp = modern(modern_call(1, "health", serde_json::json!({})), "health");
    let api = Request::get("/api/v1/no-such-endpoint")
        .header(header::HOST, "localhost:8080")
        .body(Body::empty())
        .expect("request");
    let probe = Request::get("/healthz")
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request");
    for (label, request, no_store) in [
        ("refusal", foreign_host, false),
        ("mcp", mcp, true),
        ("api", api, true),
        ("probe", probe, false),
    ] {
        let (status, headers, _) = send(&router, request).await;
        assert_eq!(
            headers["x-content-type-options"], "nosniff",
            "{label} {status}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{label}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{label}");
        if no_store {
            assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{label}");
        }
    }
}

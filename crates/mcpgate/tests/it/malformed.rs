//! Malformed MCP requests through the real binary, in both eras: each gets HTTP 400 with a
//! JSON-RPC error whose code says what is wrong (-32700 not parseable, -32600 not a request,
//! -32602 bad params) and the request id where one can be read — never rmcp's plain-text 415,
//! nor a 404 "method not found" for a standard method with the wrong params.

use serde_json::{Value, json};

use crate::legacy::{Caller, open_session};
use crate::support::Server;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// The headers of an MCP POST: JSON in, JSON or SSE back.
const MCP_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
];

/// POST `body` as-is with `headers`; the status and the body, which must be JSON.
async fn send(server: &Server, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.at("/mcp")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let text = response.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "{status} {content_type}: {text}"
    );
    (status, serde_json::from_str(&text).expect("a JSON body"))
}

/// An MCP POST of `body`, on `session` (legacy) when given.
async fn post(server: &Server, session: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut headers = MCP_HEADERS.to_vec();
    if let Some(session) = session {
        headers.extend([
            ("mcp-session-id", session),
            ("mcp-protocol-version", "2025-11-25"),
        ]);
    }
    send(server, &headers, body).await
}

/// The modern `_meta`, as a JSON fragment.
fn meta() -> String {
    crate::support::modern_meta().to_string()
}

/// Each case: a body (built around the era's `_meta`), the JSON-RPC code, the id expected.
fn cases(modern: bool) -> Vec<(&'static str, Vec<u8>, i64, Value)> {
    let meta = if modern {
        format!(r#","_meta":{}"#, meta())
    } else {
        String::new()
    };
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let mut invalid_utf8 =
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"health","arguments":{"x":"#
            .to_vec();
    invalid_utf8.extend_from_slice(b"\"\xff\xfe\"");
    invalid_utf8.extend_from_slice(format!(r#"}}{meta}}}}}"#).as_bytes());
    vec![
        ("invalid UTF-8", invalid_utf8, PARSE_ERROR, Value::Null),
        (
            "not JSON",
            br#"{"jsonrpc":"2.0","id":2,"method":"#.to_vec(),
            PARSE_ERROR,
            Value::Null,
        ),
        (
            "a lone surrogate in a tool name",
            format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"\ud800","arguments":{{}}{meta}}}}}"#).into_bytes(),
            PARSE_ERROR,
            json!(3),
        ),
        (
            "a lone surrogate in a custom method's params",
            format!(r#"{{"jsonrpc":"2.0","id":4,"method":"x/custom","params":{{"v":"\udc00"{meta}}}}}"#).into_bytes(),
            PARSE_ERROR,
            json!(4),
        ),
        (
            "nesting deeper than 128 inside params",
            format!(r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"health","arguments":{{"a":{deep}}}{meta}}}}}"#).into_bytes(),
            PARSE_ERROR,
            json!(5),
        ),
        (
            "params as an array",
            br#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":[1,2]}"#.to_vec(),
            INVALID_PARAMS,
            json!(6),
        ),
        (
            "a tool name that is not a string",
            format!(r#"{{"jsonrpc":"2.0","id":"seven","method":"tools/call","params":{{"name":7,"arguments":{{}}{meta}}}}}"#).into_bytes(),
            INVALID_PARAMS,
            json!("seven"),
        ),
        (
            "arguments that are not an object",
            format!(r#"{{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{{"name":"health","arguments":[1]{meta}}}}}"#).into_bytes(),
            INVALID_PARAMS,
            json!(8),
        ),
        (
            "a tools/call without params",
            br#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#.to_vec(),
            INVALID_PARAMS,
            json!(9),
        ),
        (
            "a request without a method",
            br#"{"jsonrpc":"2.0","id":10,"params":{}}"#.to_vec(),
            INVALID_REQUEST,
            json!(10),
        ),
        (
            "a request whose id is null",
            br#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#.to_vec(),
            INVALID_REQUEST,
            Value::Null,
        ),
        (
            "a batch",
            br#"[{"jsonrpc":"2.0","id":11,"method":"ping"}]"#.to_vec(),
            INVALID_REQUEST,
            Value::Null,
        ),
    ]
}

#[tokio::test]
async fn malformed_requests_get_400_with_the_json_rpc_code_in_both_eras() {
    let server = Server::start(&[]).await;
    let session = open_session(&server, Caller("")).await;
    for (era, session, modern) in [
        ("modern", None, true),
        ("legacy", Some(session.as_str()), false),
    ] {
        for (case, body, code, id) in cases(modern) {
            let (status, answer) = post(&server, session, body).await;
            assert_eq!(status, 400, "{era}, {case}: {answer}");
            assert_eq!(answer["jsonrpc"], "2.0", "{era}, {case}: {answer}");
            assert_eq!(answer["error"]["code"], code, "{era}, {case}: {answer}");
            assert_eq!(answer["id"], id, "{era}, {case}: {answer}");
        }
    }
    // The server is unharmed: a good call still works.
    let (status, answer) = crate::edge::call(&server, None, "health").await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

#[tokio::test]
async fn rmcp_refusals_come_back_as_json() {
    let server = Server::start(&[]).await;
    let ping = |id: u64| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#).into_bytes();
    // Wrong Content-Type: 415, with a JSON body.
    let text = [("content-type", "text/plain"), MCP_HEADERS[1]];
    let (status, body) = send(&server, &text, ping(1)).await;
    assert_eq!(status, 415);
    assert_eq!(body["id"], 1, "{body}");
    // Not accepting SSE: 406, with a JSON body.
    let json_only = [MCP_HEADERS[0], ("accept", "application/json")];
    let (status, body) = send(&server, &json_only, ping(2)).await;
    assert_eq!(status, 406);
    assert_eq!(body["id"], 2, "{body}");
    // Two session ids: refused at the edge, as JSON.
    let mut twice = MCP_HEADERS.to_vec();
    twice.extend([("mcp-session-id", "a"), ("mcp-session-id", "b")]);
    let (status, body) = send(&server, &twice, ping(3)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "repeated_header", "{body}");
}

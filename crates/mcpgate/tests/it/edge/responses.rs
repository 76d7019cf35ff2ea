//! Every response carries `X-Request-Id`, through the real binary: a sweep over the routes and
//! the kinds of refusal, including the ones hyper makes before any route runs (an oversized
//! head, a request line or framing it cannot parse), which also get a JSON body, the security
//! headers and a log line.

use std::time::Duration;

use crate::support::{Server, modern_call};
use crate::wire::{Answer, Connection};

const TOKEN: &str = "request-id-sweep-token-0123456789";

/// Send raw bytes on a fresh connection and read the one answer.
async fn raw(server: &Server, bytes: &[u8]) -> Answer {
    let mut connection = Connection::open(server.addr).await.expect("connect");
    connection.send(bytes).await.expect("write");
    tokio::time::timeout(Duration::from_secs(30), connection.read_answer())
        .await
        .expect("answered in time")
        .expect("an answer")
}

fn assert_whole(what: &str, answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(answer.json()["error"], code, "{what}: {}", answer.body);
    assert!(answer.json()["message"].is_string(), "{what}");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(answer.header(name), Some(value), "{what}: {name}");
    }
    assert!(answer.header("x-request-id").is_some(), "{what}");
}

#[tokio::test]
async fn requests_hyper_refuses_get_whole_answers_and_a_log_line() {
    let server = Server::start(&[]).await;
    let host = server.addr;
    let padding = "p".repeat(20_000);
    let big = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Padding: {padding}\r\n\r\n");
    assert_whole(
        "oversized head",
        &raw(&server, big.as_bytes()).await,
        431,
        "header_too_large",
    );
    assert_whole(
        "garbage request line",
        &raw(&server, b"this is not http\r\n\r\n").await,
        400,
        "bad_request",
    );
    for framing in [
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: five",
        "Transfer-Encoding: gzip",
    ] {
        let request = format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n{framing}\r\n\r\nhello");
        let answer = raw(&server, request.as_bytes()).await;
        assert_whole(framing, &answer, 400, "bad_request");
    }
    // A chunk that is not one fails while the body is read: the edge answers it.
    let chunk = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"
    );
    assert_whole(
        "invalid chunk",
        &raw(&server, chunk.as_bytes()).await,
        400,
        "incomplete_body",
    );
    let logs = server.logs().join("\n");
    for status in ["\"status\":431", "\"status\":400"] {
        assert!(
            logs.lines()
                .any(|l| l.contains("request refused before routing") && l.contains(status)),
            "{status}: {logs}"
        );
    }
}

#[tokio::test]
async fn every_response_carries_x_request_id() {
    let server = Server::start(&[
        ("MCPGATE_MAX_BODY_BYTES", "1024"),
        ("MCPGATE_REQUEST_TIMEOUT", "2s"),
    ])
    .await;
    let http = reqwest::Client::new();
    let mcp = |body: String| {
        http.post(server.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .body(body)
    };
    let requests = [
        ("/healthz", http.get(server.at("/healthz")), 200),
        ("/readyz", http.get(server.at("/readyz")), 200),
        ("/metrics", http.get(server.at("/metrics")), 200),
        ("/openapi.json", http.get(server.at("/openapi.json")), 200),
        ("/docs", http.get(server.at("/docs")), 200),
        ("REST list", http.get(server.at("/api/v1/tasks")), 200),
        ("unknown route", http.get(server.at("/nope")), 404),
        ("wrong method", http.put(server.at("/healthz")), 405),
        (
            "MCP call",
            mcp(modern_call(1, "health", serde_json::json!({})))
                .header("mcp-method", "tools/call")
                .header("mcp-name", "health"),
            200,
        ),
        ("MCP parse error", mcp("not json".into()), 400),
        ("body too large", mcp("x".repeat(4096)), 413),
        (
            "foreign host",
            http.get(server.at("/healthz"))
                .header("host", "evil.example.com"),
            403,
        ),
    ];
    for (what, request, status) in requests {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{what}");
        assert!(response.headers().contains_key("x-request-id"), "{what}");
    }
    // Past the request timeout (a body that never comes): 504, tagged like the rest.
    let mut stalled = Connection::open(server.addr).await.expect("connect");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{{",
        server.addr
    );
    stalled.send(head.as_bytes()).await.expect("write");
    let timed_out = stalled.read_answer().await.expect("answer");
    assert_eq!(timed_out.status, 504, "{}", timed_out.body);
    assert!(timed_out.header("x-request-id").is_some());

    let guarded = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", TOKEN),
        ("MCPGATE_RATE_LIMIT_ANONYMOUS", "1/min"),
        ("MCPGATE_RATE_LIMIT_LOOPBACK", "true"),
    ])
    .await;
    for (what, status) in [("no credential", 401), ("over the rate", 429)] {
        let response = http
            .post(guarded.at("/mcp"))
            .header("content-type", "application/json")
            .body(modern_call(1, "health", serde_json::json!({})))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{what}");
        assert!(response.headers().contains_key("x-request-id"), "{what}");
    }
}

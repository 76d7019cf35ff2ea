//! Size, time and browser limits through the real binary: 413 on every route, 431 for an
//! oversized head, 503 when the server is full, 504 past the request timeout, slow clients
//! disconnected (on the admin listener too), CORS only for allowed origins, and HSTS when
//! configured.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::header;
use crate::legacy::{Caller, legacy, open_session, read_until};
use crate::support::Server;

/// Open a connection and send a POST head promising a body that never comes.
async fn stalled_post(server: &Server, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{{"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp
}

async fn read_some(tcp: &mut TcpStream, within: Duration) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(within, tcp.read(&mut buf))
        .await
        .expect("the server answers in time")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn bodies_and_heads_over_their_limits_are_refused() {
    let server = Server::start(&[
        ("MCPGATE_MAX_BODY_BYTES", "1024"),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
    ])
    .await;
    let http = reqwest::Client::new();
    for path in ["/mcp", "/api/v1/notes"] {
        let refused = http
            .post(server.at(path))
            .header("content-type", "application/json")
            .body("x".repeat(4096))
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 413, "{path}");
        let body: serde_json::Value = refused.json().await.expect("json");
        assert_eq!(
            body["message"],
            "the request body is larger than the limit of 1024 bytes"
        );
    }
    let big_head = http
        .get(server.at("/healthz"))
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .expect("request");
    assert_eq!(big_head.status(), 431);
}

/// The status of `GET path`, polled until it is `want` or `within` has passed.
async fn status_within(
    server: &Server,
    path: &str,
    want: u16,
    within: Duration,
) -> reqwest::Response {
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + within;
    loop {
        let response = http.get(server.at(path)).send().await.expect("request");
        if response.status() == want || std::time::Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A legacy call that waits on its client (an elicitation it asked on its stream): it holds a
/// work slot while its answer streams. The open stream is returned.
async fn waiting_call(
    server: &Server,
) -> impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> {
    let caller = Caller("");
    let session = open_session(server, caller).await;
    let call = legacy(server, caller, reqwest::Method::POST, Some(&session))
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_elicitation","arguments":{"message":"wait"}}}"#)
        .send()
        .await
        .expect("call");
    let mut stream = call.bytes_stream();
    read_until(&mut stream, &mut String::new(), |v| {
        v["method"] == "elicitation/create"
    })
    .await;
    stream
}

#[tokio::test]
async fn a_full_server_sheds_load_with_503_and_recovers() {
    let server = Server::start(&[
        ("MCPGATE_MAX_CONCURRENT_REQUESTS", "1"),
        ("MCPGATE_MODULES", "system,workspace,conformance"),
    ])
    .await;
    // A call still answering holds the only work slot. (A stalled body does not: body readers
    // are admitted apart from work, see `connections.rs`.)
    let stalled = waiting_call(&server).await;
    let shed = reqwest::get(server.at("/api/v1/tasks"))
        .await
        .expect("request");
    assert_eq!(shed.status(), 503, "shed while the slot is taken");
    assert_eq!(header(&shed, "retry-after"), "1");
    let body: serde_json::Value = shed.json().await.expect("json");
    assert_eq!(body["error"], "overloaded");
    // Probes still answer.
    let health = reqwest::get(server.at("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200);
    // The client gives up; its slot is free again.
    drop(stalled);
    let after = status_within(&server, "/api/v1/tasks", 200, Duration::from_secs(30)).await;
    assert_eq!(after.status(), 200);
}

#[tokio::test]
async fn a_request_not_answered_in_time_is_504() {
    let server = Server::start(&[("MCPGATE_REQUEST_TIMEOUT", "1s")]).await;
    let mut stalled = stalled_post(&server, "/mcp").await;
    let answer = read_some(&mut stalled, Duration::from_secs(30)).await;
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("\"error\":\"timeout\""), "{answer}");
}

#[tokio::test]
async fn clients_that_do_not_finish_their_head_are_disconnected() {
    let server = Server::start(&[("MCPGATE_HEADER_READ_TIMEOUT", "1s")]).await;
    let admin: std::net::SocketAddr = server
        .admin("")
        .trim_start_matches("http://")
        .parse()
        .expect("the admin address");
    // The public listener and the admin listener alike.
    for addr in [server.addr, admin] {
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .expect("write");
        let answer = read_some(&mut slow, Duration::from_secs(10)).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{addr}: {answer}"
        );
        // An idle keep-alive connection is closed the same way.
        let mut idle = TcpStream::connect(addr).await.expect("connect");
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("write");
        let first = read_some(&mut idle, Duration::from_secs(5)).await;
        assert!(first.starts_with("HTTP/1.1 200"), "{addr}: {first}");
        let closed = read_some(&mut idle, Duration::from_secs(10)).await;
        assert!(closed.is_empty(), "{addr}: {closed}");
    }
}

#[tokio::test]
async fn cross_origin_calls_only_from_allowed_origins_and_hsts_when_set() {
    let same_origin = Server::start(&[]).await;
    let response = reqwest::Client::new()
        .get(same_origin.at("/healthz"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("request");
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert!(!response.headers().contains_key("strict-transport-security"));

    let server = Server::start(&[
        ("MCPGATE_CORS_ORIGINS", "https://app.example.com"),
        ("MCPGATE_HSTS_MAX_AGE", "365d"),
    ])
    .await;
    let http = reqwest::Client::new();
    let preflight = http
        .request(reqwest::Method::OPTIONS, server.at("/mcp"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .expect("request");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        "https://app.example.com"
    );
    let allowed = header(&preflight, "access-control-allow-headers").to_ascii_lowercase();
    assert!(allowed.contains("mcp-protocol-version"), "{allowed}");
    let answer = http
        .get(server.at("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("request");
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert!(header(&answer, "access-control-expose-headers").contains("mcp-session-id"));
    assert_eq!(
        header(&answer, "strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    let foreign = http
        .request(reqwest::Method::OPTIONS, server.at("/mcp"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("request");
    assert_eq!(foreign.status(), 403);
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

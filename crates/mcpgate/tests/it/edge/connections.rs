//! Connections and bodies that would hold resources forever, through the real binary: an idle
//! HTTP/2 connection gets GOAWAY and is closed; a body sent slower than the minimum rate, or
//! not finished in time, is cut off with 408 and frees its permit; and requests still receiving
//! their body do not take the permits of requests at work.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::{call, metrics};
use crate::support::Server;
use crate::wire::Connection;

/// Open an HTTP/2 connection (prior knowledge); the request sender and the connection task,
/// which ends when the server closes the connection.
async fn h2(
    server: &Server,
) -> (
    hyper::client::conn::http2::SendRequest<Empty<axum::body::Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    (sender, tokio::spawn(connection))
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway_and_is_closed() {
    // PINGs every second keep proving the client alive; they must not keep it open.
    let server = Server::start(&[
        ("MCPGATE_HTTP2_IDLE_TIMEOUT", "1s"),
        ("MCPGATE_HEADER_READ_TIMEOUT", "1s"),
    ])
    .await;
    let (mut sender, used) = h2(&server).await;
    let request = hyper::Request::get(server.at("/healthz"))
        .body(Empty::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("answer");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.expect("body");
    let (_silent, never_used) = h2(&server).await;
    for (name, connection) in [("used", used), ("never used", never_used)] {
        let ended = tokio::time::timeout(Duration::from_secs(30), connection).await;
        assert!(
            ended.is_ok(),
            "the {name} idle connection is closed by the server"
        );
    }
}

/// A POST to `/mcp` promising `length` bytes, of which only the first is sent.
async fn slow_sender(server: &Server, length: usize) -> Connection {
    let mut connection = Connection::open(server.addr).await.expect("connect");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {length}\r\n\r\n{{",
        server.addr
    );
    connection.send(head.as_bytes()).await.expect("write");
    connection
}

/// The server's count of requests in progress.
async fn in_flight(server: &Server) -> u64 {
    metrics(server)
        .await
        .lines()
        .find_map(|line| line.strip_prefix("mcpgate_http_requests_in_flight "))
        .and_then(|n| n.trim().parse().ok())
        .expect("in-flight gauge")
}

#[tokio::test]
async fn slow_bodies_are_cut_off_with_408_and_do_not_take_work_permits() {
    let server = Server::start(&[
        ("MCPGATE_MAX_CONCURRENT_REQUESTS", "2"),
        ("MCPGATE_MAX_BODY_READERS", "4"),
        ("MCPGATE_MIN_BODY_RATE", "100"),
        ("MCPGATE_MIN_BODY_RATE_GRACE", "2s"),
    ])
    .await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(slow_sender(&server, 1000).await);
    }
    // Readiness: the server is serving all three (plus the metrics request asking).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while in_flight(&server).await < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "slow senders admitted"
        );
        tokio::task::yield_now().await;
    }
    // More slow senders than work permits: work still gets done, because they hold reading
    // permits only.
    for _ in 0..3 {
        let (status, body) = call(&server, None, "health").await;
        assert_eq!(status, 200, "{body}");
    }
    for mut connection in slow {
        let answer = tokio::time::timeout(Duration::from_secs(30), connection.read_answer())
            .await
            .expect("cut off in time")
            .expect("an answer");
        assert_eq!(answer.status, 408, "{}", answer.body);
        assert_eq!(answer.json()["error"], "body_timeout", "{}", answer.body);
        assert!(answer.header("x-request-id").is_some());
    }
    // Their permits are free again: the server answers as many calls as it has permits.
    let calls: Vec<_> = (0..2).map(|_| call(&server, None, "health")).collect();
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }
    let logs = server.logs().join("\n");
    assert!(logs.contains("request body cut off"), "{logs}");
}

#[tokio::test]
async fn a_body_not_received_in_time_is_408() {
    let server = Server::start(&[
        ("MCPGATE_BODY_READ_TIMEOUT", "1s"),
        ("MCPGATE_MIN_BODY_RATE", "0"),
    ])
    .await;
    let mut connection = slow_sender(&server, 1000).await;
    let answer = tokio::time::timeout(Duration::from_secs(30), connection.read_answer())
        .await
        .expect("cut off in time")
        .expect("an answer");
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("not received within 1 s")),
        "{}",
        answer.body
    );
}

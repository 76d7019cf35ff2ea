//! Legacy SSE resumption: a client that loses a POST stream mid-call reconnects with
//! `Last-Event-ID` and receives the answer it missed.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::shutdown::Slow;
use crate::support::Serving;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

#[tokio::test]
async fn a_dropped_post_stream_resumes_with_last_event_id() {
    let (serving, _dir) = Serving::start(&[], vec![Arc::new(Slow)]).await;
    let url = format!("http://localhost:{}/mcp", serving.port);
    let http = reqwest::Client::new();
    let init = http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
        .send()
        .await
        .expect("initialize");
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    drop(init.text().await);
    let legacy = |body: &'static str| {
        http.post(&url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(body)
    };
    legacy(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .expect("initialized");

    // Read the call's stream only up to its priming event, then drop the connection.
    let call = legacy(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{}}}"#,
    )
    .send()
    .await
    .expect("call");
    let mut stream = call.bytes_stream();
    let mut seen = String::new();
    let last_event_id = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("priming event in time")
            .expect("stream open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(id) = seen.lines().find_map(|l| l.strip_prefix("id:")) {
            break id.trim().to_owned();
        }
    };
    assert!(
        !seen.contains("done"),
        "the answer is not there yet: {seen}"
    );
    drop(stream);

    let resumed = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", &last_event_id)
        .send()
        .await
        .expect("resume");
    assert_eq!(resumed.status(), 200);
    let mut body = resumed.bytes_stream();
    let mut replayed = String::new();
    while !replayed.contains("done") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("the missed answer arrives in time")
            .expect("stream open")
            .expect("chunk");
        replayed.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        replayed.contains(r#""id":2"#),
        "the answer to the call: {replayed}"
    );
    let _ = serving.stop.send(());
}

//! A legacy-era (2025-11-25) client by hand, for tests that must send what an SDK would not:
//! requests as a chosen caller on a chosen session id, and SSE streams read event by event.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::Server;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";
pub const VERSION: &str = "2025-11-25";
/// A legacy `initialize` with no capabilities.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// A caller: the bearer token it presents (ignored under auth `none`).
#[derive(Clone, Copy)]
pub struct Caller<'a>(pub &'a str);

/// One legacy request on `server`, as `caller`, on `session` when given.
pub fn legacy(
    server: &Server,
    caller: Caller<'_>,
    method: reqwest::Method,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .request(method, server.at("/mcp"))
        .header("authorization", format!("Bearer {}", caller.0))
        .header("accept", ACCEPT_BOTH)
        .header("content-type", "application/json");
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", VERSION);
    }
    request
}

/// A bare `initialize` as `caller`: the answer, whatever it is.
pub async fn initialize(server: &Server, caller: Caller<'_>) -> reqwest::Response {
    legacy(server, caller, reqwest::Method::POST, None)
        .body(INITIALIZE)
        .send()
        .await
        .expect("initialize")
}

/// `initialize` as `caller` (declaring elicitation), then `notifications/initialized`: the id.
pub async fn open_session(server: &Server, caller: Caller<'_>) -> String {
    let init = legacy(server, caller, reqwest::Method::POST, None)
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": VERSION, "capabilities": {"elicitation": {}},
                "clientInfo": {"name": "legacy-test", "version": "1"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("initialize");
    assert_eq!(init.status(), 200, "initialize is answered");
    let id = init.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    drop(init.text().await);
    let ack = legacy(server, caller, reqwest::Method::POST, Some(&id))
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .expect("initialized");
    assert_eq!(ack.status(), 202);
    id
}

/// Read SSE events from `stream` until one whose data satisfies `done`; its event id and data.
pub async fn read_until(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    buffer: &mut String,
    done: impl Fn(&Value) -> bool,
) -> (Option<String>, Value) {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let id = event
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(|s| s.trim().to_owned());
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if let Ok(value) = serde_json::from_str::<Value>(&data)
                && done(&value)
            {
                return (id, value);
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .unwrap_or_else(|| panic!("the stream ended; it held {buffer:?}"))
            .expect("a chunk");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// What [`call_that_asks`] leaves: the call's stream (to read its result from), what was read
/// past the question, the question (the server's request), and the id of the event that
/// carried it.
pub struct Asked<S> {
    pub stream: S,
    pub buffer: String,
    pub question: Value,
    pub event_id: String,
}

/// Call `tool` (with `arguments`) as request 2 on `session` and read its stream until the
/// server asks the client something (`elicitation/create`).
pub async fn call_that_asks(
    server: &Server,
    caller: Caller<'_>,
    session: &str,
    tool: &str,
    arguments: Value,
) -> Asked<impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin> {
    let call = legacy(server, caller, reqwest::Method::POST, Some(session))
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": tool, "arguments": arguments}})
            .to_string(),
        )
        .send()
        .await
        .expect("call");
    assert_eq!(call.status(), 200);
    let mut stream = call.bytes_stream();
    let mut buffer = String::new();
    let (event_id, question) = read_until(&mut stream, &mut buffer, |v| {
        v["method"] == "elicitation/create"
    })
    .await;
    Asked {
        stream,
        buffer,
        question,
        event_id: event_id.expect("events on a session stream carry ids"),
    }
}

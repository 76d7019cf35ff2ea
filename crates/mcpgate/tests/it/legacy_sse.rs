//! The legacy HTTP+SSE transport (2024-11-05) through the real binary: served (`GET /sse`,
//! `POST /messages`, behind `MCPGATE_LEGACY_SSE=true`) to the official Python SDK's SSE client
//! and to attackers — no credential, another caller's session id, a foreign Origin, broken
//! bodies — and spoken to upstreams (`transport = "sse"`), including one that tries to have
//! messages posted to another origin.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::edge::config_file;
use crate::legacy::{Caller, legacy, open_session};
use crate::sdk_clients::{Clients, Sdk};
use crate::support::Server;
use crate::upstreams::eventually;

const ALICE: &str = "dev:alice:acme:admin";
const MALLORY: &str = "dev:mallory:acme:admin";

async fn sse_server() -> Server {
    Server::start(&[("MCPGATE_AUTH", "dev"), ("MCPGATE_LEGACY_SSE", "true")]).await
}

/// An open SSE session of `token`: its message endpoint and its event lines.
struct Opened {
    endpoint: String,
    lines: std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>>,
}

async fn open(server: &Server, token: &str) -> Opened {
    let response = reqwest::Client::new()
        .get(server.at("/sse"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let mut lines: std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>> = Box::pin(
        response
            .bytes_stream()
            .map(|chunk| String::from_utf8_lossy(&chunk.expect("chunk")).into_owned())
            .flat_map(|text| {
                futures::stream::iter(text.lines().map(str::to_owned).collect::<Vec<_>>())
            }),
    );
    let endpoint = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next())
            .await
            .expect("the endpoint event in time")
            .expect("a line");
        if let Some(data) = line.strip_prefix("data: ") {
            break data.to_owned();
        }
    };
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    Opened { endpoint, lines }
}

impl Opened {
    /// The next `message` event's JSON.
    async fn next_message(&mut self) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next())
                .await
                .expect("a message in time")
                .expect("the stream is open");
            if let Some(data) = line.strip_prefix("data: ") {
                return serde_json::from_str(data).expect("a JSON message");
            }
        }
    }
}

async fn post(server: &Server, path: &str, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.at(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST")
}

fn initialize(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    .to_string()
}

#[tokio::test]
async fn the_python_sdk_speaks_legacy_sse_to_mcpgate() {
    let Some(clients) = Clients::find() else {
        return;
    };
    let server = sse_server().await;
    let url = format!("http://localhost:{}/sse", server.addr.port());
    let output = clients
        .command(Sdk::Python, "sdk_client")
        .args([
            "--transport",
            "sse",
            "--era",
            "legacy",
            "--url",
            &url,
            "--token",
            ALICE,
        ])
        .output()
        .await
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["transport"], "sse");
    assert_eq!(summary["health"]["status"], "ok");
    assert_eq!(summary["unknown_tool"]["outcome"], "jsonrpc_error");

    // And the MCP Inspector's CLI over SSE.
    let output = clients
        .inspector(&url, "sse", ALICE, "health")
        .output()
        .await
        .expect("the inspector runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.contains("\"status\""),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_session_answers_only_its_opener_and_bad_requests_get_clear_errors() {
    let server = sse_server().await;
    // A bad credential: refused with a challenge, no session.
    let anonymous = reqwest::Client::new()
        .get(server.at("/sse"))
        .bearer_auth("not-a-credential")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let mut alice = open(&server, ALICE).await;
    // Mallory knows the id: her messages reach nothing, and she learns nothing.
    let stolen = post(&server, &alice.endpoint, Some(MALLORY), &initialize(1)).await;
    assert_eq!(stolen.status(), 404);
    let unknown = post(
        &server,
        "/messages?sessionId=0123456789abcdef",
        Some(MALLORY),
        &initialize(1),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        stolen.text().await.unwrap(),
        unknown.text().await.unwrap(),
        "another caller's session reads as no session"
    );
    assert_eq!(
        post(
            &server,
            &alice.endpoint,
            Some("not-a-credential"),
            &initialize(1)
        )
        .await
        .status(),
        401
    );
    // Without a credential (dev auth's default principal) it is not Alice's either.
    assert_eq!(
        post(&server, &alice.endpoint, None, &initialize(1))
            .await
            .status(),
        404
    );

    // Broken bodies are refused with JSON; a missing session id with 400.
    let broken = post(&server, &alice.endpoint, Some(ALICE), "{not json").await;
    assert_eq!(broken.status(), 400);
    assert_eq!(
        broken.json::<Value>().await.unwrap()["error"]["code"],
        -32700
    );
    let nowhere = post(&server, "/messages", Some(ALICE), &initialize(1)).await;
    assert_eq!(nowhere.status(), 400);

    // Alice's own session works, and the answer comes on her stream.
    let accepted = post(&server, &alice.endpoint, Some(ALICE), &initialize(7)).await;
    assert_eq!(accepted.status(), 202);
    let answer = alice.next_message().await;
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["serverInfo"]["name"], "mcpgate");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(
            &server,
            &alice.endpoint,
            Some(ALICE),
            &initialized.to_string()
        )
        .await
        .status(),
        202
    );
    let call = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {"name": "health", "arguments": {}}});
    post(&server, &alice.endpoint, Some(ALICE), &call.to_string()).await;
    let answer = alice.next_message().await;
    assert_eq!(answer["id"], 8);
    assert_eq!(answer["result"]["structuredContent"]["status"], "ok");

    // A foreign Origin is refused before anything else.
    let foreign = reqwest::Client::new()
        .get(server.at("/sse"))
        .bearer_auth(ALICE)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);

    // The session ends with its stream: posting to it afterwards finds nothing.
    let endpoint = alice.endpoint.clone();
    drop(alice);
    eventually("the session ends with its stream", async || {
        post(&server, &endpoint, Some(ALICE), &initialize(9))
            .await
            .status()
            == 404
    })
    .await;
}

#[tokio::test]
async fn legacy_sse_is_off_unless_asked_for_and_draining_ends_its_streams() {
    let plain = Server::start(&[("MCPGATE_AUTH", "dev")]).await;
    let off = reqwest::Client::new()
        .get(plain.at("/sse"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 404);

    let server = sse_server().await;
    let mut alice = open(&server, ALICE).await;
    server.sigterm();
    // The stream ends (no message comes), and the server exits cleanly.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while alice.lines.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended on drain");
    assert_eq!(server.exited().await, Some(0));
}

#[tokio::test]
async fn a_gateway_federates_an_sse_upstream_in_both_eras() {
    let inner = Server::start(&[("MCPGATE_LEGACY_SSE", "true")]).await;
    let (_dir, file) = config_file(&format!(
        "[[upstreams]]\nname = \"old\"\ntransport = \"sse\"\nurl = \"{}\"\n\
         [upstreams.tools]\nallow = [\"*\"]\n",
        inner.at("/sse")
    ));
    let gateway = Server::start(&[("MCPGATE_CONFIG", &file), ("MCPGATE_AUTH", "dev")]).await;
    eventually("the sse upstream's tools are served", async || {
        let (_, answer) = crate::edge::call(&gateway, Some(ALICE), "old__health").await;
        answer["result"]["structuredContent"]["status"] == "ok"
    })
    .await;
    // A legacy caller too, in its own session.
    let session = open_session(&gateway, Caller(ALICE)).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "old__server_info", "arguments": {}}});
    let answer = legacy(
        &gateway,
        Caller(ALICE),
        reqwest::Method::POST,
        Some(&session),
    )
    .body(call.to_string())
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(answer.contains("protocol_versions"), "{answer}");
}

#[tokio::test]
async fn an_sse_upstream_that_names_an_endpoint_elsewhere_is_refused() {
    use axum::response::sse::{Event, Sse};
    // A server whose stream says "post to another origin" (a loopback port nobody listens on).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/sse",
        axum::routing::get(|| async {
            let event = Event::default()
                .event("endpoint")
                .data("http://127.0.0.1:1/messages?sessionId=x");
            Sse::new(
                futures::stream::iter([Ok::<_, std::convert::Infallible>(event)])
                    .chain(futures::stream::pending()),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (_dir, file) = config_file(&format!(
        "[[upstreams]]\nname = \"odd\"\ntransport = \"sse\"\nurl = \"http://127.0.0.1:{port}/sse\"\n\
         [upstreams.tools]\nallow = [\"*\"]\n"
    ));
    let out = tokio::process::Command::new(crate::support::binary())
        .args(["upstreams", "check", "--config", &file])
        .env("MCPGATE_LOG", "off")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("FAILED") && report.contains("another origin"),
        "{report}"
    );
}

#[tokio::test]
async fn every_mcp_event_stream_is_no_store() {
    // A Streamable HTTP session's stream, as every other MCP answer: nothing of a caller's may
    // be kept by a cache.
    let server = Server::start(&[("MCPGATE_AUTH", "dev")]).await;
    let session = open_session(&server, Caller(ALICE)).await;
    let stream = legacy(&server, Caller(ALICE), reqwest::Method::GET, Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["cache-control"], "no-store");
}

//! A 2026-07-28 upstream over HTTP, whose calls, reads and prompts the gateway sends straight
//! over HTTP (one POST each, no client session): concurrent callers still get only their own
//! answers and progress, a timeout closes the request and so cancels it upstream, log messages
//! reach the caller of that call at the level it asked for (modern and legacy callers), the
//! request id travels as `X-Request-Id` (to a legacy HTTP upstream's session too), the era's
//! `Mcp-*` headers are right (the upstream's own checks accept them), an upstream that goes
//! away is a clear error, not a hang, a caller who goes away cancels its call, and SIGTERM lets a forwarded call finish but cancels a
//! hung one at the grace.

use std::time::Duration;

use serde_json::{Value, json};

use super::faults::{Fixture, call, call_streamed, eventually, gateway, http_fixture, text};
use crate::edge::config_file;
use crate::legacy::{Caller, legacy, open_session, read_until};
use crate::support::{Server, free_port, modern_meta};

/// The fixture over HTTP at a free port (ready), and an `[[upstreams]]` entry `fx` for it with
/// `extra` lines (settings, then tables).
async fn modern_upstream(fx: &Fixture, extra: &str) -> (tokio::process::Child, String) {
    http_upstream(fx, "2026-07-28", extra).await
}

/// The fixture over HTTP, spoken to in `protocol`'s era.
pub(super) async fn http_upstream(
    fx: &Fixture,
    protocol: &str,
    extra: &str,
) -> (tokio::process::Child, String) {
    let port = free_port();
    let child = http_fixture(port, fx);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let entry = format!(
        r#"
[[upstreams]]
name = "fx"
transport = "http"
url = "http://127.0.0.1:{port}/mcp"
protocol = "{protocol}"
timeout = "10s"
{extra}
"#
    );
    (child, entry)
}

#[tokio::test]
async fn concurrent_callers_of_a_modern_http_upstream_get_only_their_own_answers_and_progress() {
    let fx = Fixture::new();
    let (_upstream, entry) =
        modern_upstream(&fx, "pool_size = 2\n[upstreams.tools]\nallow = [\"*\"]").await;
    let (server, _dir) = gateway(&entry).await;
    let calls = (0..200).map(|i| {
        let server = &server;
        async move {
            let nonce = format!("nonce-{i}");
            let token = format!("token-{i}");
            let (answer, notes) = call_streamed(
                server,
                "fx__echo",
                json!({"nonce": nonce}),
                Some(&token),
                None,
            )
            .await;
            (nonce, token, answer, notes)
        }
    });
    let mut progress_seen = 0;
    for (nonce, token, answer, notes) in futures::future::join_all(calls).await {
        assert_eq!(
            answer["result"]["structuredContent"]["nonce"],
            json!(nonce),
            "{answer}"
        );
        for note in &notes {
            assert_eq!(note["method"], "notifications/progress", "{note}");
            assert_eq!(note["params"]["progressToken"], json!(token), "{note}");
            assert_eq!(note["params"]["message"], json!(nonce), "{note}");
        }
        assert_eq!(notes.len(), 3, "all progress, before the answer: {notes:?}");
        progress_seen += notes.len();
    }
    assert_eq!(progress_seen, 600);
    assert_eq!(
        fx.received("echo"),
        200,
        "each call reached the upstream once"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_hung_call_to_a_modern_http_upstream_times_out_and_is_cancelled_by_closing_it() {
    let fx = Fixture::new();
    let (_upstream, entry) = modern_upstream(
        &fx,
        "[upstreams.tools]\nallow = [\"*\"]\n[upstreams.tools.overrides.hang]\ntimeout = \"500ms\"",
    )
    .await;
    let (server, _dir) = gateway(&entry).await;
    let answer = call(&server, "fx__hang", json!({})).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(
        text(&answer).contains("upstream fx") && text(&answer).contains("0.5 s"),
        "{answer}"
    );
    closed_upstream_and_serving_on(&fx, server).await;
}

/// The fixture saw its hung call's request closed, and `server` still serves calls (then ends).
async fn closed_upstream_and_serving_on(fx: &Fixture, server: Server) {
    eventually("the upstream sees the request closed", async || {
        fx.received("cancelled hang") == 1
    })
    .await;
    let again = call(&server, "fx__echo", json!({"nonce": "after"})).await;
    assert_eq!(again["result"]["structuredContent"]["nonce"], "after");
    assert_eq!(server.terminate().await, Some(0));
}

/// A caller who goes away (closes its connection) cancels its call upstream: the call is
/// dropped with its request, which closes the upstream request; the gateway serves on.
#[tokio::test]
async fn a_caller_who_goes_away_cancels_its_modern_call_upstream() {
    let fx = Fixture::new();
    let (_upstream, entry) = modern_upstream(&fx, "[upstreams.tools]\nallow = [\"*\"]").await;
    let (server, _dir) = gateway(&entry).await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "fx__hang", "arguments": {}, "_meta": modern_meta()}});
    let abandoned = crate::support::modern_request(&server, "tools/call", Some("fx__hang"))
        .timeout(Duration::from_millis(500))
        .body(body.to_string())
        .send()
        .await;
    assert!(abandoned.is_err_and(|e| e.is_timeout()), "the call hangs");
    closed_upstream_and_serving_on(&fx, server).await;
}

#[tokio::test]
async fn on_sigterm_a_forwarded_call_finishes_and_a_hung_one_is_cancelled_at_the_grace() {
    let fx = Fixture::new();
    let (_upstream, entry) = modern_upstream(&fx, "[upstreams.tools]\nallow = [\"*\"]").await;
    let (_dir, file) = config_file(&entry);
    let server =
        Server::start(&[("MCPGATE_CONFIG", &file), ("MCPGATE_SHUTDOWN_GRACE", "2s")]).await;
    // A hung call must not hold the drain past its grace, nor end without an answer to its
    // caller or a closed connection: it may not hang the caller.
    let hung = {
        let request = crate::support::modern_request(&server, "tools/call", Some("fx__hang")).body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "fx__hang", "arguments": {}, "_meta": modern_meta()}})
            .to_string(),
        );
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    };
    let slow = call(&server, "fx__slow", json!({"ms": 1000}));
    let signal = async {
        eventually("both calls reach the upstream", async || {
            fx.received("hang") == 1 && fx.received("slow") == 1
        })
        .await;
        server.sigterm();
    };
    let (slow, ()) = tokio::join!(slow, signal);
    let signalled = std::time::Instant::now();
    assert_eq!(
        slow["result"]["structuredContent"]["slept_ms"], 1000,
        "the call in flight at the signal finished: {slow}"
    );
    eventually(
        "the hung call is cancelled upstream at the grace",
        async || fx.received("cancelled hang") == 1,
    )
    .await;
    let hung = tokio::time::timeout(Duration::from_secs(10), hung)
        .await
        .expect("the hung caller is let go")
        .expect("task");
    assert!(
        !hung.contains("\"result\""),
        "the hung call got no result: {hung}"
    );
    assert_eq!(server.exited().await, Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "the drain ended at its grace: {:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn a_redirect_from_a_modern_http_upstream_is_not_followed() {
    let fx = Fixture::new();
    // Where the upstream points: it counts who connects.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("http://{}/mcp", elsewhere.local_addr().expect("addr"));
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&connected);
    tokio::spawn(async move {
        while elsewhere.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (_upstream, entry) = modern_upstream(&fx, "[upstreams.tools]\nallow = [\"*\"]").await;
    let (server, _dir) = gateway(&entry).await;
    // Not followed, so whatever the request carried (the upstream's credential) stays with it.
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "fx__redirect", "arguments": {"to": target}, "_meta": modern_meta()}});
    let response = crate::support::modern_request(&server, "tools/call", Some("fx__redirect"))
        .header("mcp-param-target", &target)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let messages = crate::support::messages(&response.text().await.expect("body"));
    let answer = messages.last().expect("an answer").clone();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(text(&answer).contains("307"), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        connected.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing followed the redirect"
    );
    assert_eq!(fx.received("redirect"), 0, "the 307 came before the server");
    assert_eq!(server.terminate().await, Some(0));
}

/// Call `tool` as a modern client asking for log messages at `level` (none when `None`); the
/// notifications before the answer, and the answer.
pub(super) async fn call_logged(
    server: &Server,
    tool: &str,
    level: Option<&str>,
) -> (Vec<Value>, Value) {
    let mut meta = modern_meta();
    if let Some(level) = level {
        meta["io.modelcontextprotocol/logLevel"] = json!(level);
    }
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": meta}});
    let response = crate::support::modern_post(server, "tools/call", Some(tool), &body).await;
    let messages = crate::support::messages(&response.text().await.expect("body"));
    let (answer, before) = messages.split_last().expect("an answer");
    (before.to_vec(), answer.clone())
}

pub(super) fn logged(notes: &[Value]) -> Vec<(String, String)> {
    notes
        .iter()
        .filter(|n| n["method"] == "notifications/message")
        .map(|n| {
            (
                n["params"]["level"].as_str().unwrap_or_default().to_owned(),
                n["params"]["data"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_upstreams_log_messages_reach_the_caller_of_that_call_at_the_level_it_asked_for() {
    let fx = Fixture::new();
    let (_upstream, entry) = modern_upstream(&fx, "[upstreams.tools]\nallow = [\"*\"]").await;
    let (server, _dir) = gateway(&entry).await;

    let (notes, answer) = call_logged(&server, "fx__log", Some("info")).await;
    assert_eq!(answer["result"]["structuredContent"]["logged"], true);
    assert_eq!(
        logged(&notes),
        vec![
            ("info".to_owned(), "info note".to_owned()),
            ("error".to_owned(), "error report".to_owned())
        ],
        "{notes:?}"
    );
    let (notes, _) = call_logged(&server, "fx__log", None).await;
    assert!(
        logged(&notes).is_empty(),
        "none asked, none sent: {notes:?}"
    );

    // A legacy caller hears them on its session (its standalone stream, where rmcp puts a
    // legacy session's log messages): everything until it sets a level.
    let caller = Caller("anyone");
    let session = open_session(&server, caller).await;
    let stream = legacy(&server, caller, reqwest::Method::GET, Some(&session))
        .send()
        .await
        .expect("GET stream");
    assert_eq!(stream.status(), 200);
    let mut stream = stream.bytes_stream();
    let mut buffer = String::new();
    let call_on_session = async |id: u64| {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "fx__log", "arguments": {}}});
        let text = legacy(&server, caller, reqwest::Method::POST, Some(&session))
            .body(body.to_string())
            .send()
            .await
            .expect("call")
            .text()
            .await
            .expect("body");
        crate::support::messages(&text)
    };
    let heard = async |stream: &mut _, buffer: &mut String| {
        let mut notes = Vec::new();
        loop {
            let (_, note) =
                read_until(stream, buffer, |v| v["method"] == "notifications/message").await;
            let last = note["params"]["data"] == "error report";
            notes.push(note);
            if last {
                return logged(&notes);
            }
        }
    };
    let answer = call_on_session(2).await;
    assert_eq!(
        answer.last().expect("answer")["result"]["structuredContent"]["logged"],
        true
    );
    assert_eq!(heard(&mut stream, &mut buffer).await.len(), 3);
    let set = legacy(&server, caller, reqwest::Method::POST, Some(&session))
        .body(r#"{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"error"}}"#)
        .send()
        .await
        .expect("setLevel");
    assert_eq!(set.status(), 200);
    drop(set.text().await);
    call_on_session(4).await;
    assert_eq!(
        heard(&mut stream, &mut buffer).await,
        vec![("error".to_owned(), "error report".to_owned())]
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_modern_http_upstream_gets_the_request_id_header_and_the_eras_headers() {
    let fx = Fixture::new();
    let (_upstream, entry) = modern_upstream(
        &fx,
        "headers = { X-Tenant = \"acme\" }\n[upstreams.tools]\nallow = [\"*\"]\n\
         [upstreams.tools.overrides.echo_args]\nname = \"args\"",
    )
    .await;
    let (server, _dir) = gateway(&entry).await;
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "fx__args", "arguments": {"region": "eu west", "path": "a"},
                   "_meta": modern_meta()}});
    let response = crate::support::modern_request(&server, "tools/call", Some("fx__args"))
        .header("mcp-param-region", "eu west")
        .header("x-request-id", "req-direct-1")
        .header("authorization", "Bearer callers-own-secret")
        .body(body.to_string())
        .send()
        .await
        .expect("call");
    let messages = crate::support::messages(&response.text().await.expect("body"));
    let answer = messages.last().expect("an answer");
    let seen = &answer["result"]["structuredContent"];
    assert_eq!(seen["headers"]["x-request-id"], "req-direct-1", "{answer}");
    assert_eq!(seen["headers"]["mcp-method"], "tools/call", "{answer}");
    assert_eq!(
        seen["headers"]["mcp-name"], "echo_args",
        "the upstream's own name: {answer}"
    );
    assert_eq!(seen["headers"]["mcp-param-region"], "eu west", "{answer}");
    assert!(
        seen["headers"].get("authorization").is_none(),
        "the caller's credential never travels: {answer}"
    );
    assert_eq!(seen["meta"]["io.mcpgate/requestId"], "req-direct-1");
    assert_eq!(
        seen["meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(seen["arguments"], json!({"region": "eu west", "path": "a"}));
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn reads_and_prompts_of_a_modern_http_upstream_and_its_errors_pass_through() {
    let fx = Fixture::new();
    let (mut upstream, entry) = modern_upstream(
        &fx,
        "[upstreams.tools]\nallow = [\"*\"]\n[upstreams.resources]\nallow = [\"fixture://*\"]\n\
         [upstreams.prompts]\nallow = [\"greet\"]",
    )
    .await;
    let (server, _dir) = gateway(&entry).await;
    let read = super::faults::request(
        &server,
        "resources/read",
        json!({"uri": "fixture://fx/notes/readme"}),
    )
    .await;
    assert_eq!(read["result"]["contents"][0]["text"], "read me", "{read}");
    let item = super::faults::request(
        &server,
        "resources/read",
        json!({"uri": "fixture://fx/items/42"}),
    )
    .await;
    assert_eq!(item["result"]["contents"][0]["text"], "item 42", "{item}");
    let prompt = super::faults::request(
        &server,
        "prompts/get",
        json!({"name": "fx__greet", "arguments": {"name": "Ada"}}),
    )
    .await;
    assert_eq!(
        prompt["result"]["messages"][0]["content"]["text"], "Hello, Ada.",
        "{prompt}"
    );
    let failed = call(&server, "fx__fail", json!({})).await;
    assert!(
        failed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("injected failure")),
        "{failed}"
    );

    // The upstream goes away: a clear error naming it, at once.
    upstream.kill().await.expect("kill");
    let _ = upstream.wait().await;
    let started = std::time::Instant::now();
    let gone = call(&server, "fx__echo", json!({"nonce": "x"})).await;
    assert_eq!(gone["result"]["isError"], true, "{gone}");
    assert!(text(&gone).contains("upstream fx"), "{gone}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_legacy_http_upstreams_session_gets_the_request_id_header_too() {
    let fx = Fixture::new();
    let (_upstream, entry) =
        http_upstream(&fx, "legacy", "[upstreams.tools]\nallow = [\"*\"]").await;
    let (server, _dir) = gateway(&entry).await;
    let (answer, _) = call_streamed(
        &server,
        "fx__echo_args",
        json!({"path": "b"}),
        None,
        Some("req-legacy-7"),
    )
    .await;
    let seen = &answer["result"]["structuredContent"];
    assert_eq!(seen["headers"]["x-request-id"], "req-legacy-7", "{answer}");
    assert!(
        seen["headers"].get("mcp-session-id").is_some(),
        "through the client session: {answer}"
    );
    assert_eq!(seen["meta"]["io.mcpgate/requestId"], "req-legacy-7");
    assert_eq!(server.terminate().await, Some(0));
}

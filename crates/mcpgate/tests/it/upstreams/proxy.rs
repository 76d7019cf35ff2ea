//! Proxy mode through the real binary (`serve --proxy URL`, `[proxy]`): the fault fixture over
//! Streamable HTTP behind mcpgate, driven by hand in both eras the way an attacker would try
//! it — with a credential of their own that must not reach the upstream, on another caller's
//! session, calling tools they may not use — and timed where streaming matters.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::faults::{Fixture, eventually, http_fixture_with};
use crate::edge::config_file;
use crate::legacy::{Caller, legacy, open_session, read_until};
use crate::support::{Server, free_port, messages, modern_meta};

const ALICE: &str = "dev:alice:acme:admin";
const BOB: &str = "dev:bob:other:admin";
const VIC: &str = "dev:vic:acme:viewer";
/// The credential mcpgate presents upstream.
const UPSTREAM_TOKEN: &str = "upstream-secret-4d1c";

/// A gateway in proxy mode in front of the fixture over HTTP; `proxy` holds extra `[proxy]`
/// lines, `env` extra variables for the gateway.
struct Proxied {
    server: Server,
    fx: Fixture,
    _upstream: tokio::process::Child,
    _config: tempfile::TempDir,
}

async fn proxied(proxy: &str, env: &[(&str, &str)], fixture_env: &[(&str, &str)]) -> Proxied {
    let fx = Fixture::new();
    let port = free_port();
    let upstream = http_fixture_with(port, &fx, fixture_env);
    wait_for(port).await;
    let (config, file) = config_file(&format!(
        "[proxy]\nupstream = \"http://127.0.0.1:{port}/mcp\"\ntimeout = \"5s\"\n{proxy}\n"
    ));
    let mut all = vec![
        ("MCPGATE_CONFIG", file.as_str()),
        ("MCPGATE_AUTH", "dev"),
        ("FX_TOKEN", UPSTREAM_TOKEN),
    ];
    all.extend_from_slice(env);
    let server = Server::start(&all).await;
    Proxied {
        server,
        fx,
        _upstream: upstream,
        _config: config,
    }
}

async fn wait_for(port: u16) {
    eventually("the upstream listens", async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
}

/// A modern POST as `caller`.
fn modern(
    server: &Server,
    caller: &str,
    method: &str,
    name: Option<&str>,
) -> reqwest::RequestBuilder {
    crate::support::modern_request(server, method, name)
        .header("authorization", format!("Bearer {caller}"))
}

/// A modern request's JSON-RPC body.
fn modern_body(id: u64, method: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = modern_meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// The final message of an answer (JSON or an event stream).
async fn last_message(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    messages(&text)
        .pop()
        .unwrap_or_else(|| panic!("no message in {text:?}"))
}

/// A legacy request on `session` as `caller`; the final message.
async fn on_session(server: &Server, caller: &str, session: &str, body: Value) -> (u16, Value) {
    let response = legacy(server, Caller(caller), reqwest::Method::POST, Some(session))
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, last_message(response).await)
}

fn tool_list(answer: &Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tool list: {answer}"))
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn both_eras_pass_through_and_the_upstream_never_sees_the_callers_credential() {
    let p = proxied(
        "bearer_token_env = \"FX_TOKEN\"\nheaders = { x-tenant = \"acme\" }",
        &[],
        &[],
    )
    .await;
    // Legacy: a session opened and used through the proxy, with a cookie and a query key too.
    let session = open_session(&p.server, Caller(ALICE)).await;
    let answer = reqwest::Client::new()
        .post(format!(
            "{}?key=caller-query-key&keep=1",
            p.server.at("/mcp")
        ))
        .header("authorization", format!("Bearer {ALICE}"))
        .header("cookie", "sid=caller-cookie")
        .header("x-api-key", "caller-api-key")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": "echo_args", "arguments": {"path": "/x"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("call");
    assert_eq!(answer.status(), 200);
    let answer = last_message(answer).await;
    let seen = &answer["result"]["structuredContent"];
    assert_eq!(seen["arguments"]["path"], "/x", "{answer}");
    assert_eq!(
        seen["headers"]["authorization"],
        format!("Bearer {UPSTREAM_TOKEN}")
    );
    assert_eq!(seen["headers"]["mcp-session-id"], session.as_str());

    // Modern: a stateless call with its era's headers.
    let answer = modern(&p.server, ALICE, "tools/call", Some("echo_args"))
        .body(modern_body(
            3,
            "tools/call",
            json!({"name": "echo_args", "arguments": {}}),
        ))
        .send()
        .await
        .expect("call");
    assert_eq!(answer.status(), 200);
    let answer = last_message(answer).await;
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    let seen = &answer["result"]["structuredContent"]["headers"];
    assert_eq!(seen["mcp-method"], "tools/call");
    assert_eq!(seen["mcp-name"], "echo_args");

    // What reached the upstream, request by request: its own credential and the operator's
    // header on every one, nothing of the callers' anywhere.
    let requests = p.fx.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    for request in &requests {
        let text = request.to_string();
        for leaked in [
            "dev:alice",
            "caller-cookie",
            "caller-api-key",
            "caller-query-key",
        ] {
            assert!(
                !text.contains(leaked),
                "{leaked} reached the upstream: {text}"
            );
        }
        let headers = &request["headers"];
        assert_eq!(
            headers["authorization"],
            format!("Bearer {UPSTREAM_TOKEN}"),
            "{text}"
        );
        assert_eq!(headers["x-tenant"], "acme", "{text}");
        assert!(headers.get("cookie").is_none(), "{text}");
    }
    assert!(
        requests.iter().any(|r| r["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/mcp?keep=1"))),
        "the rest of the query passes: {requests:?}"
    );
}

#[tokio::test]
async fn a_session_answers_only_its_creator_and_a_guessed_one_never_reaches_the_upstream() {
    let p = proxied("", &[], &[]).await;
    let session = open_session(&p.server, Caller(ALICE)).await;
    let list = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"});
    let (status, _) = on_session(&p.server, ALICE, &session, list.clone()).await;
    assert_eq!(status, 200);
    let reached = p.fx.requests().len();

    // Bob, who holds a valid token of his own and learned Alice's session id: POST, the GET
    // stream and DELETE are all answered as an unknown session, and none is relayed.
    let (status, answer) = on_session(&p.server, BOB, &session, list.clone()).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["id"], 5, "the 404 carries the request id: {answer}");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = legacy(&p.server, Caller(BOB), method.clone(), Some(&session))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{method}");
    }
    // A call on it answers "unknown session" before anything else, even for a tool that does
    // not exist (which would otherwise be answered "unknown tool").
    let (status, answer) = on_session(
        &p.server,
        BOB,
        &session,
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
               "params": {"name": "no_such_tool", "arguments": {}}}),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], -32001, "{answer}");
    // A session id nobody was given here.
    let (status, _) = on_session(&p.server, ALICE, "0f6d5d0e-guessed", list.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(
        p.fx.requests().len(),
        reached,
        "nothing of Bob's reached the upstream"
    );

    // Alice's session still works; once she ends it, it is gone for her too.
    let (status, _) = on_session(&p.server, ALICE, &session, list.clone()).await;
    assert_eq!(status, 200);
    let ended = legacy(
        &p.server,
        Caller(ALICE),
        reqwest::Method::DELETE,
        Some(&session),
    )
    .send()
    .await
    .expect("delete");
    assert!(ended.status().is_success(), "{}", ended.status());
    let (status, _) = on_session(&p.server, ALICE, &session, list).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lists_are_filtered_per_caller_and_withheld_calls_are_refused_here_in_both_eras() {
    let p = proxied(
        "trust_annotations = true\n[proxy.tools]\ndeny = [\"crash\", \"hang\"]",
        &[],
        &[],
    )
    .await;
    // Modern (a JSON answer): the viewer sees the one read-only tool; the admin all but the
    // denied ones.
    let list = |caller: &'static str| {
        let server = &p.server;
        async move {
            let response = modern(server, caller, "tools/list", None)
                .body(modern_body(1, "tools/list", json!({})))
                .send()
                .await
                .expect("list");
            tool_list(&last_message(response).await)
        }
    };
    assert_eq!(list(VIC).await, ["pid"]);
    let all = list(ALICE).await;
    assert!(
        all.contains(&"echo".to_owned()) && all.contains(&"pid".to_owned()),
        "{all:?}"
    );
    assert!(
        !all.contains(&"crash".to_owned()) && !all.contains(&"hang".to_owned()),
        "{all:?}"
    );

    // Legacy (the answer inside an event stream): filtered the same.
    let session = open_session(&p.server, Caller(VIC)).await;
    let (_, answer) = on_session(
        &p.server,
        VIC,
        &session,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    assert_eq!(tool_list(&answer), ["pid"]);

    // Calls the caller may not make are answered here as unknown tools and never relayed.
    for (caller, tool) in [(VIC, "echo"), (ALICE, "crash"), (ALICE, "no_such_tool")] {
        let response = modern(&p.server, caller, "tools/call", Some(tool))
            .body(modern_body(
                9,
                "tools/call",
                json!({"name": tool, "arguments": {}}),
            ))
            .send()
            .await
            .expect("call");
        let answer = last_message(response).await;
        assert_eq!(answer["error"]["code"], -32602, "{caller} {tool}: {answer}");
        assert_eq!(answer["id"], 9);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(tool)
        );
    }
    let (_, answer) = on_session(
        &p.server,
        VIC,
        &session,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"nonce": "n"}}}),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert_eq!(p.fx.received("echo"), 0);
    assert_eq!(p.fx.received("crash"), 0);
    // What the viewer may use works.
    let (_, answer) = on_session(
        &p.server,
        VIC,
        &session,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "pid", "arguments": {}}}),
    )
    .await;
    assert!(
        answer["result"]["structuredContent"]["pid"].is_u64(),
        "{answer}"
    );
}

#[tokio::test]
async fn events_reach_the_client_as_the_upstream_writes_them_and_idle_streams_are_kept_alive() {
    let p = proxied(
        "",
        &[
            ("MCPGATE_REQUEST_TIMEOUT", "1s"),
            ("MCPGATE_SSE_KEEP_ALIVE", "200ms"),
        ],
        &[],
    )
    .await;
    let session = open_session(&p.server, Caller(ALICE)).await;
    let started = Instant::now();
    let response = legacy(
        &p.server,
        Caller(ALICE),
        reqwest::Method::POST,
        Some(&session),
    )
    .body(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "trickle", "arguments": {"ms": 2500},
                "_meta": {"progressToken": "t1"}}})
        .to_string(),
    )
    .send()
    .await
    .expect("call");
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let (_, progress) = read_until(&mut stream, &mut buffer, |m| {
        m["method"] == "notifications/progress"
    })
    .await;
    let first = started.elapsed();
    assert_eq!(progress["params"]["progressToken"], "t1");
    assert!(
        first < Duration::from_millis(1500),
        "the progress event arrived only after {first:?}, with the answer"
    );
    // The answer comes 2.5 s in: past the 1 s request timeout, which bounds only the wait
    // for an answer's head, never a stream; meanwhile the stream was kept alive.
    let mut rest = buffer.clone();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream goes on")
    {
        rest.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    assert!(started.elapsed() >= Duration::from_millis(2500));
    let answer = messages(&rest).pop().expect("the answer");
    assert_eq!(
        answer["result"]["structuredContent"]["trickled_ms"], 2500,
        "{rest}"
    );
    assert!(rest.contains(":\n\n"), "no keep-alive comment in {rest:?}");
}

#[tokio::test]
async fn an_upstream_that_is_down_or_refuses_the_credential_is_a_clear_gateway_error() {
    // Nothing listens upstream: readiness says so, and a call is a 502 with its request id.
    let port = free_port();
    let (_config, file) = config_file(&format!(
        "[proxy]\nupstream = \"http://127.0.0.1:{port}/mcp\"\ntimeout = \"2s\"\n"
    ));
    let server = Server::start(&[("MCPGATE_CONFIG", &file), ("MCPGATE_AUTH", "dev")]).await;
    let ready = reqwest::get(server.at("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 503);
    let alive = reqwest::get(server.at("/healthz")).await.expect("healthz");
    assert_eq!(alive.status(), 200);
    let response = modern(&server, ALICE, "server/discover", None)
        .body(modern_body(11, "server/discover", json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 502);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["id"], 11, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("upstream")
    );

    // The upstream refuses the token mcpgate presents: 502, and no challenge reaches the
    // client (it is not the client's credential that is wrong). The token file is re-read, so
    // fixing it needs no restart.
    let token_dir = tempfile::tempdir().expect("tempdir");
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, "stale-token\n").expect("token");
    let p = proxied(
        &format!("bearer_token_file = \"{}\"", token_file.display()),
        &[],
        &[("FIXTURE_REQUIRE_TOKEN", UPSTREAM_TOKEN)],
    )
    .await;
    let discover = || async {
        modern(&p.server, ALICE, "server/discover", None)
            .body(modern_body(12, "server/discover", json!({})))
            .send()
            .await
            .expect("request")
    };
    let refused = discover().await;
    assert_eq!(refused.status(), 502);
    assert!(refused.headers().get("www-authenticate").is_none());
    let answer: Value = refused.json().await.expect("json");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("credential"),
        "{answer}"
    );
    std::fs::write(&token_file, format!("{UPSTREAM_TOKEN}\n")).expect("token");
    eventually("the rotated token is used", async || {
        discover().await.status() == 200
    })
    .await;
}

/// One JSON-RPC line to `stdin`.
async fn send_line(stdin: &mut tokio::process::ChildStdin, message: Value) {
    use tokio::io::AsyncWriteExt;
    let line = format!("{message}\n");
    stdin.write_all(line.as_bytes()).await.expect("write");
    stdin.flush().await.expect("flush");
}

/// Lines from `lines` until the JSON-RPC answer with `id`.
async fn answer_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    id: u64,
) -> Value {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("an answer in time")
            .expect("read")
            .expect("the bridge is still running");
        if let Ok(message) = serde_json::from_str::<Value>(&line)
            && message["id"] == id
        {
            return message;
        }
    }
}

#[tokio::test]
async fn the_python_sdk_client_the_mcp_remote_bridge_and_the_inspector_work_through_the_proxy() {
    use crate::sdk_clients::{Clients, Sdk};
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;

    let Some(clients) = Clients::find() else {
        return;
    };
    let modules = clients.scripts().join("ts/node_modules");
    let (_everything, port) = super::real::everything_over_http(&clients).await;
    let upstream = format!("http://127.0.0.1:{port}/mcp");
    let gateway = Server::start(&[("MCPGATE_PROXY", &upstream), ("MCPGATE_AUTH", "dev")]).await;

    // The official Python SDK client with its own token, in the era the reference server
    // speaks over HTTP (it answers a 2026-07-28 request "Server not initialized", directly as
    // through the proxy); and in both eras in front of a server that speaks both.
    let python = async |url: String, era: &str, call: Value| {
        let output = clients
            .command(Sdk::Python, "sdk_client")
            .args(["--transport", "http", "--era", era, "--url", &url])
            .args([
                "--scenario",
                "calls",
                "--token",
                ALICE,
                "--call",
                &call.to_string(),
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(120), output)
            .await
            .expect("the client finishes")
            .expect("the client runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{era}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let echo = json!({"tool": "echo", "arguments": {"message": "via the proxy"}, "expect": "via the proxy"});
    python(gateway.url(), "legacy", echo).await;
    let both = proxied("", &[], &[]).await;
    let nonce = json!({"tool": "echo", "arguments": {"nonce": "n-42"}, "expect": "n-42"});
    for era in ["modern", "legacy"] {
        python(both.server.url(), era, nonce.clone()).await;
    }

    // mcp-remote, the stdio bridge desktop clients use to reach remote servers, in front.
    let mut bridge = tokio::process::Command::new("node")
        .arg(modules.join("mcp-remote/dist/proxy.js"))
        .arg(gateway.url())
        .args(["--header", &format!("Authorization: Bearer {ALICE}")])
        .args(["--transport", "http-only"])
        .env("HOME", tempfile::tempdir().expect("home").keep())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the bridge starts");
    let mut stdin = bridge.stdin.take().expect("stdin");
    let mut lines = tokio::io::BufReader::new(bridge.stdout.take().expect("stdout")).lines();
    send_line(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "desktop", "version": "1"}}}),
    )
    .await;
    let initialized = answer_line(&mut lines, 1).await;
    assert!(
        initialized["result"]["capabilities"]["tools"].is_object(),
        "{initialized}"
    );
    send_line(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    send_line(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"message": "via the bridge"}}}),
    )
    .await;
    let answer = answer_line(&mut lines, 2).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: via the bridge",
        "{answer}"
    );
    drop(stdin);
    let _ = bridge.kill().await;

    // The MCP Inspector's CLI, as a developer pokes at a server.
    let inspected = clients
        .inspector(&gateway.url(), "http", ALICE, "echo")
        .args(["--tool-arg", "message=via the inspector"])
        .output();
    let inspected = tokio::time::timeout(Duration::from_secs(60), inspected)
        .await
        .expect("the inspector finishes")
        .expect("the inspector runs");
    let out = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        inspected.status.success() && out.contains("Echo: via the inspector"),
        "{out}\n{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert_eq!(gateway.terminate().await, Some(0));
}

#[tokio::test]
async fn on_sigterm_relayed_answers_finish_streams_end_and_a_hung_one_is_let_go_at_the_grace() {
    let p = proxied("", &[("MCPGATE_SHUTDOWN_GRACE", "2s")], &[]).await;
    // An open-ended GET stream of a legacy session.
    let session = open_session(&p.server, Caller(ALICE)).await;
    let stream = legacy(
        &p.server,
        Caller(ALICE),
        reqwest::Method::GET,
        Some(&session),
    )
    .send()
    .await
    .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut stream = stream.bytes_stream();
    // A hung call and a slow one in flight.
    let request = |tool: &str, arguments: Value| {
        modern(&p.server, ALICE, "tools/call", Some(tool)).body(modern_body(
            1,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        ))
    };
    let hung = {
        let request = request("hang", json!({}));
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    };
    let slow = async {
        last_message(
            request("slow", json!({"ms": 1000}))
                .send()
                .await
                .expect("call"),
        )
        .await
    };
    let signal = async {
        eventually("both calls reach the upstream", async || {
            p.fx.received("hang") == 1 && p.fx.received("slow") == 1
        })
        .await;
        p.server.sigterm();
    };
    let (slow, ()) = tokio::join!(slow, signal);
    let signalled = Instant::now();
    assert_eq!(
        slow["result"]["structuredContent"]["slept_ms"], 1000,
        "{slow}"
    );
    // The GET stream ends (it waits for nothing).
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream was still open 5 s after SIGTERM");
    // The hung call is let go at the grace, without a result, and its upstream request is
    // closed (the upstream cancels it).
    let hung = tokio::time::timeout(Duration::from_secs(10), hung)
        .await
        .expect("the hung caller is let go")
        .expect("task");
    assert!(!hung.contains("\"result\""), "{hung}");
    eventually("the upstream hears the hung call cancelled", async || {
        p.fx.received("cancelled hang") == 1
    })
    .await;
    assert_eq!(p.server.exited().await, Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "{:?}",
        signalled.elapsed()
    );
}

/// Anonymous memory of process `pid`, in KiB.
fn anonymous_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon")
}

#[tokio::test]
async fn a_client_that_stops_reading_slows_the_upstream_instead_of_filling_memory() {
    let p = proxied("", &[], &[]).await;
    let pid = p.server.child.id().expect("pid");
    let before = anonymous_kib(pid);
    // 1,000 events of 100 KB: ~100 MB, far more than the sockets on the way can hold.
    let response = modern(&p.server, ALICE, "tools/call", Some("flood"))
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "flood", "arguments": {"count": 1000, "bytes": 100_000},
                "_meta": {"progressToken": "f", "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {},
                          "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}})
            .to_string(),
        )
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), 200);
    // The client reads nothing for a while: the upstream cannot finish, and mcpgate holds
    // no more than a few frames.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        p.fx.received("flooded"),
        0,
        "the upstream finished: nothing held it back"
    );
    let held = anonymous_kib(pid).saturating_sub(before);
    assert!(
        held < 32 * 1024,
        "mcpgate buffered {held} KiB for a stalled client"
    );
    // Reading on, everything arrives, in order, and the upstream finishes.
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = 0;
    let answer = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the stream goes on")
            .expect("the stream has the answer")
            .expect("chunk");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        let mut answer = None;
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(message) = messages(&event).pop() {
                if message["method"] == "notifications/progress" {
                    events += 1;
                    assert_eq!(
                        message["params"]["progress"].as_f64(),
                        Some(f64::from(events)),
                        "in order"
                    );
                } else {
                    answer = Some(message);
                }
            }
        }
        if let Some(answer) = answer {
            break answer;
        }
    };
    assert_eq!(events, 1000);
    assert_eq!(
        answer["result"]["structuredContent"]["sent"], 1000,
        "{answer}"
    );
    assert_eq!(p.fx.received("flooded"), 1);
}

//! The gateway against a fault-injecting upstream (`examples/fault_upstream.rs`), through the
//! real binary: pools that never cross answers or progress between callers, timeouts that
//! cancel upstream, crashes and garbage that end only their own session, retries only where
//! safe, a breaker that hides and restores tools, heartbeats that replace dead sessions, tool
//! overrides and correlation, an upstream that joins late, and readiness.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::children_of;
use crate::edge::{config_file, metrics, tool_names};
use crate::support::{Server, example, free_port, modern_meta};

/// A test's fault upstream: where it writes receipts and reads its control word.
pub(super) struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub(super) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub(super) fn receipts_path(&self) -> PathBuf {
        self.dir.path().join("receipts")
    }

    /// Where the fixture over HTTP logs each request it receives (method, URI, headers).
    pub(super) fn headers_path(&self) -> PathBuf {
        self.dir.path().join("headers")
    }

    /// Every HTTP request the fixture received so far: `{method, uri, headers}`.
    pub(super) fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.headers_path())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    fn control_path(&self) -> PathBuf {
        self.dir.path().join("control")
    }

    /// Set the control word (`down` makes `flaky` and `write` fail).
    fn control(&self, word: &str) {
        std::fs::write(self.control_path(), word).expect("control");
    }

    /// Every receipt line so far (`tool pid`).
    pub(super) fn receipts(&self) -> Vec<String> {
        std::fs::read_to_string(self.receipts_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// How many calls of `tool` reached the upstream.
    pub(super) fn received(&self, tool: &str) -> usize {
        self.receipts()
            .iter()
            .filter(|l| l.rsplit_once(' ').is_some_and(|(t, _)| t == tool))
            .count()
    }

    /// An `[[upstreams]]` entry `fx` running the fixture over stdio, with `extra` lines
    /// (settings, then tables) after the basics.
    pub(super) fn entry(&self, extra: &str) -> String {
        format!(
            r#"
[[upstreams]]
name = "fx"
command = "{command}"
env = {{ FIXTURE_RECEIPTS = "{receipts}", FIXTURE_CONTROL = "{control}" }}
timeout = "10s"
{extra}
"#,
            command = fixture_binary().display(),
            receipts = self.receipts_path().display(),
            control = self.control_path().display(),
        )
    }
}

fn fixture_binary() -> PathBuf {
    example("fault_upstream")
}

/// Call `tool` with `arguments` as a modern client, optionally asking for progress under
/// `token` and with a request id; the final JSON-RPC message and every notification that came
/// before it on the same response.
pub(super) async fn call_streamed(
    server: &Server,
    tool: &str,
    arguments: Value,
    progress: Option<&str>,
    request_id: Option<&str>,
) -> (Value, Vec<Value>) {
    let mut meta = modern_meta();
    if let Some(token) = progress {
        meta["progressToken"] = json!(token);
    }
    let mut request = crate::support::modern_request(server, "tools/call", Some(tool));
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta}});
    let response = request
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let messages = crate::support::messages(&response.text().await.expect("body"));
    let (last, before) = messages.split_last().expect("an answer");
    (last.clone(), before.to_vec())
}

/// Call `tool` with `arguments`; the final message.
pub(super) async fn call(server: &Server, tool: &str, arguments: Value) -> Value {
    call_streamed(server, tool, arguments, None, None).await.0
}

/// The text of a tool result's first content block.
pub(super) fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

/// Wait (up to 15 s) until `check` holds.
pub(crate) async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 15 s");
}

/// The gateway started with `config`.
pub(super) async fn gateway(config: &str) -> (Server, tempfile::TempDir) {
    let (dir, file) = config_file(config);
    let server = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    (server, dir)
}

fn pid_of(answer: &Value) -> u64 {
    answer["result"]["structuredContent"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("a pid: {answer}"))
}

#[tokio::test]
async fn concurrent_callers_through_a_pool_get_only_their_own_answers_and_progress() {
    let fx = Fixture::new();
    let (server, _dir) =
        gateway(&fx.entry("pool_size = 2\n[upstreams.tools]\nallow = [\"*\"]")).await;
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
    let results = futures::future::join_all(calls).await;
    let mut pids = HashSet::new();
    let mut progress_seen = 0;
    for (nonce, token, answer, notes) in &results {
        let content = &answer["result"]["structuredContent"];
        assert_eq!(content["nonce"], json!(nonce), "{answer}");
        pids.insert(pid_of(answer));
        for note in notes {
            assert_eq!(note["method"], "notifications/progress", "{note}");
            assert_eq!(
                note["params"]["progressToken"],
                json!(token),
                "progress of another caller: {note}"
            );
            assert_eq!(note["params"]["message"], json!(nonce), "{note}");
            progress_seen += 1;
        }
    }
    assert!(progress_seen > 0, "progress is relayed");
    assert_eq!(
        pids.len(),
        2,
        "spread over both sessions of the pool: {pids:?}"
    );
    assert_eq!(
        fx.received("echo"),
        200,
        "each call reached the upstream once"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_hung_call_times_out_upstream_is_cancelled_and_the_session_serves_on() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(&fx.entry(
        "pool_size = 1\n[upstreams.tools]\nallow = [\"*\"]\n\
         [upstreams.tools.overrides.hang]\ntimeout = \"500ms\"",
    ))
    .await;
    let started = std::time::Instant::now();
    let answer = call(&server, "fx__hang", json!({})).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(
        text(&answer).contains("upstream fx") && text(&answer).contains("0.5 s"),
        "names the upstream and the limit: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    eventually("the upstream hears the cancellation", async || {
        fx.received("cancelled hang") == 1
    })
    .await;
    let again = call(&server, "fx__echo", json!({"nonce": "after"})).await;
    assert_eq!(
        again["result"]["structuredContent"]["nonce"], "after",
        "{again}"
    );
    assert!(
        metrics(&server)
            .await
            .contains("mcpgate_upstream_calls_total{upstream=\"fx\",kind=\"timeout\"} 1")
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_crash_or_garbage_ends_only_that_session_and_the_child_is_replaced() {
    let fx = Fixture::new();
    let (server, _dir) =
        gateway(&fx.entry("pool_size = 1\n[upstreams.tools]\nallow = [\"*\"]")).await;
    let first = pid_of(&call(&server, "fx__pid", json!({})).await);

    let crashed = call(&server, "fx__crash", json!({})).await;
    assert_eq!(crashed["result"]["isError"], true, "{crashed}");
    assert!(text(&crashed).contains("upstream fx failed"), "{crashed}");
    assert_eq!(
        fx.received("crash"),
        1,
        "a call that may have done something is not retried"
    );
    let second = pid_of(&call(&server, "fx__pid", json!({})).await);
    assert_ne!(first, second, "a new child");

    // Garbage on stdout: an error at once, not a hang until the timeout (10 s).
    let started = std::time::Instant::now();
    let garbled = call(&server, "fx__garbage", json!({})).await;
    assert_eq!(garbled["result"]["isError"], true, "{garbled}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let third = pid_of(&call(&server, "fx__pid", json!({})).await);
    assert_ne!(second, third, "a new child again");
    let logs = server.logs().join("\n");
    assert!(logs.contains("not JSON-RPC"), "{logs}");

    // Every replaced child was reaped: only the live one is left.
    let gateway_pid = server.child.id().expect("running");
    eventually("the replaced children are gone", async || {
        children_of(gateway_pid).len() == 1
    })
    .await;
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn only_calls_that_are_safe_to_repeat_are_retried() {
    let fx = Fixture::new();
    fx.control("down");
    let (server, _dir) = gateway(&fx.entry(
        "[upstreams.retry]\nattempts = 3\nbase_delay = \"10ms\"\n\
         [upstreams.breaker]\nfailures = 100\n\
         [upstreams.tools]\nallow = [\"*\"]\n\
         [upstreams.tools.overrides.flaky]\nread_only = true",
    ))
    .await;
    let write = call(&server, "fx__write", json!({})).await;
    assert_eq!(
        write["error"]["code"], -32603,
        "the upstream's error passes through: {write}"
    );
    assert_eq!(fx.received("write"), 1, "a write is never sent twice");

    let read = call(&server, "fx__flaky", json!({})).await;
    assert_eq!(read["error"]["code"], -32603, "{read}");
    assert_eq!(
        fx.received("flaky"),
        3,
        "a read-only call is tried three times"
    );

    fx.control("up");
    let read = call(&server, "fx__flaky", json!({})).await;
    assert_eq!(read["result"]["structuredContent"]["ok"], true, "{read}");
    assert!(
        metrics(&server)
            .await
            .contains("mcpgate_upstream_retries_total{upstream=\"fx\"} 2")
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn the_breaker_opens_hides_the_tools_fails_fast_and_closes_again() {
    let fx = Fixture::new();
    fx.control("down");
    let (server, _dir) = gateway(&fx.entry(
        "heartbeat_interval = \"0s\"\n\
         [upstreams.retry]\nattempts = 1\n\
         [upstreams.breaker]\nfailures = 5\ncooldown = \"2s\"\n\
         [upstreams.tools]\nallow = [\"*\"]",
    ))
    .await;
    // Local refusals are not the upstream's failures: a tool limit refusing calls.
    for _ in 0..4 {
        let answer = call(&server, "fx__flaky", json!({})).await;
        assert_eq!(answer["error"]["code"], -32603, "{answer}");
    }
    assert!(
        tool_names(&server, None)
            .await
            .contains(&"fx__flaky".to_owned())
    );
    let fifth = call(&server, "fx__flaky", json!({})).await;
    assert_eq!(fifth["error"]["code"], -32603, "{fifth}");
    assert_eq!(fx.received("flaky"), 5);

    // Open: the upstream's tools are hidden and calls do not reach it.
    let names = tool_names(&server, None).await;
    assert!(!names.iter().any(|n| n.starts_with("fx__")), "{names:?}");
    let refused = call(&server, "fx__flaky", json!({})).await;
    assert!(
        refused.get("error").is_some() || refused["result"]["isError"] == true,
        "{refused}"
    );
    assert_eq!(fx.received("flaky"), 5, "an open breaker fails fast");
    let health = call(&server, "health", json!({})).await;
    let upstream = &health["result"]["structuredContent"]["upstreams"][0];
    assert_eq!(upstream["state"], "open_breaker", "{health}");
    assert_eq!(health["result"]["structuredContent"]["status"], "degraded");

    // After the cooldown a probe finds it answering: closed, tools back.
    fx.control("up");
    eventually("the tools come back", async || {
        tool_names(&server, None)
            .await
            .contains(&"fx__flaky".to_owned())
    })
    .await;
    let ok = call(&server, "fx__flaky", json!({})).await;
    assert_eq!(ok["result"]["structuredContent"]["ok"], true, "{ok}");
    let text = metrics(&server).await;
    for state in ["open", "closed"] {
        assert!(
            text.contains(&format!(
                "mcpgate_upstream_breaker_transitions_total{{upstream=\"fx\",kind=\"{state}\"}} 1"
            )),
            "{state}: {text}"
        );
    }
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn local_rate_limit_refusals_never_open_the_breaker() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(&format!(
        "[[rate_limit.tools]]\ntools = [\"fx__pid\"]\nrate = \"1/min\"\nburst = 1\n{}",
        fx.entry("[upstreams.breaker]\nfailures = 2\n[upstreams.tools]\nallow = [\"*\"]")
    ))
    .await;
    assert!(
        call(&server, "fx__pid", json!({})).await["result"]["structuredContent"]["pid"].is_u64()
    );
    for _ in 0..5 {
        let limited = call(&server, "fx__pid", json!({})).await;
        assert!(limited.get("error").is_some(), "limited: {limited}");
    }
    assert_eq!(fx.received("pid"), 1);
    let names = tool_names(&server, None).await;
    assert!(
        names.contains(&"fx__echo".to_owned()),
        "still closed: {names:?}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn overrides_rename_trim_and_fix_and_the_request_id_travels_upstream() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(&fx.entry(
        "correlation_argument = \"case_id\"\n\
         [upstreams.tools]\nallow = [\"echo_args\", \"pid\"]\n\
         [upstreams.tools.overrides.echo_args]\nname = \"args\"\n\
         description = \"Show what the upstream receives.\"\nread_only = true\n\
         fixed = { root = \"/srv\" }",
    ))
    .await;
    let listed = crate::edge::rpc(&server, None, "tools/list", json!({})).await;
    let listed: Value = listed.json().await.expect("json");
    let tools = listed["result"]["tools"].as_array().expect("tools").clone();
    let args = tools
        .iter()
        .find(|t| t["name"] == "fx__args")
        .expect("renamed");
    assert_eq!(args["description"], "Show what the upstream receives.");
    assert_eq!(args["annotations"]["readOnlyHint"], true);
    assert!(
        args["inputSchema"]["properties"].get("root").is_none(),
        "{args}"
    );
    assert!(
        args["inputSchema"]["properties"].get("path").is_some(),
        "{args}"
    );
    assert!(!tools.iter().any(|t| t["name"] == "fx__echo_args"));
    // The upstream says `pid` only reads; that is not believed unless configured.
    let pid = tools.iter().find(|t| t["name"] == "fx__pid").expect("pid");
    assert!(pid["annotations"]["readOnlyHint"].is_null(), "{pid}");

    let mut meta_args = json!({"path": "a.txt", "root": "/etc"});
    meta_args["case_id"] = json!("forged");
    let (answer, _) = call_streamed(
        &server,
        "fx__args",
        meta_args,
        Some("caller-token"),
        Some("req-abc-123"),
    )
    .await;
    let seen = &answer["result"]["structuredContent"];
    assert_eq!(
        seen["arguments"],
        json!({"path": "a.txt", "root": "/srv", "case_id": "req-abc-123"}),
        "{answer}"
    );
    assert_eq!(
        seen["meta"]["io.mcpgate/requestId"], "req-abc-123",
        "{answer}"
    );
    assert_ne!(
        seen["meta"]["progressToken"], "caller-token",
        "the upstream gets a token of the gateway's: {answer}"
    );
    // The caller's own client details stay here (the upstream sees the gateway's, when its
    // era wants any).
    assert_ne!(
        seen["meta"]["io.modelcontextprotocol/clientInfo"]["name"], "test",
        "{answer}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn heartbeats_replace_a_dead_session_and_shutdown_leaves_no_children() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(&fx.entry(
        "pool_size = 2\nwarm = true\nheartbeat_interval = \"300ms\"\n[upstreams.tools]\nallow = [\"*\"]",
    ))
    .await;
    let gateway_pid = server.child.id().expect("running");
    let children = children_of(gateway_pid);
    assert_eq!(
        children.len(),
        2,
        "warm: both sessions open at start: {children:?}"
    );

    // A child dies behind the gateway's back; the next heartbeat evicts its session.
    std::process::Command::new("kill")
        .args(["-KILL", &children[0].to_string()])
        .status()
        .expect("kill");
    eventually("the dead session is evicted", async || {
        metrics(&server)
            .await
            .contains("mcpgate_upstream_evictions_total{upstream=\"fx\",kind=\"heartbeat\"} 1")
    })
    .await;
    // Calls go on: the slot reconnects with a new child.
    let mut pids = HashSet::new();
    for _ in 0..4 {
        pids.insert(pid_of(&call(&server, "fx__pid", json!({})).await));
    }
    assert!(!pids.contains(&u64::from(children[0])), "{pids:?}");
    assert_eq!(pids.len(), 2, "{pids:?}");
    let live = children_of(gateway_pid);
    assert_eq!(server.terminate().await, Some(0));
    for child in live {
        assert!(!alive(child), "child {child} outlived the gateway");
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// The fixture over HTTP at `port`, stopped when dropped.
pub(super) fn http_fixture(port: u16, fx: &Fixture) -> tokio::process::Child {
    http_fixture_with(port, fx, &[])
}

/// The fixture over HTTP at `port` with `env` set too, stopped when dropped.
pub(super) fn http_fixture_with(
    port: u16,
    fx: &Fixture,
    env: &[(&str, &str)],
) -> tokio::process::Child {
    tokio::process::Command::new(fixture_binary())
        .args(["--http", &format!("127.0.0.1:{port}")])
        .env("FIXTURE_RECEIPTS", fx.receipts_path())
        .env("FIXTURE_HEADERS", fx.headers_path())
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("fixture starts")
}

#[tokio::test]
async fn an_upstream_that_is_down_at_start_joins_when_it_answers_and_required_ones_hold_readiness()
{
    let fx = Fixture::new();
    let port = free_port();
    let (server, _dir) = gateway(&format!(
        r#"
[[upstreams]]
name = "late"
transport = "http"
url = "http://127.0.0.1:{port}/mcp"
timeout = "2s"
required = true

[upstreams.tools]
allow = ["echo"]
"#
    ))
    .await;
    assert!(
        !tool_names(&server, None)
            .await
            .contains(&"late__echo".to_owned())
    );
    let ready = reqwest::get(server.at("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 503, "a required upstream holds readiness");
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["upstreams"]["late"], "connecting", "{body}");

    let _upstream = http_fixture(port, &fx);
    eventually("the upstream's tools appear", async || {
        tool_names(&server, None)
            .await
            .contains(&"late__echo".to_owned())
    })
    .await;
    let answer = call(&server, "late__echo", json!({"nonce": "late"})).await;
    assert_eq!(
        answer["result"]["structuredContent"]["nonce"], "late",
        "{answer}"
    );
    let ready = reqwest::get(server.at("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn an_optional_upstream_that_is_down_does_not_hold_readiness() {
    let (server, _dir) = gateway(
        "[[upstreams]]\nname = \"gone\"\ncommand = \"/nonexistent/server\"\ntimeout = \"1s\"\n\
         [upstreams.tools]\nallow = [\"*\"]\n",
    )
    .await;
    let ready = reqwest::get(server.at("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["upstreams"]["gone"], "connecting", "{body}");
    let health = call(&server, "health", json!({})).await;
    let report = &health["result"]["structuredContent"];
    assert_eq!(report["status"], "degraded", "{health}");
    assert!(
        report["upstreams"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("nonexistent")),
        "{health}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn upstreams_check_reports_each_upstream_and_fails_for_a_required_one() {
    let fx = Fixture::new();
    let entries = format!(
        "{}\n[[upstreams]]\nname = \"gone\"\ncommand = \"/nonexistent/server\"\n{{required}}\n\
         [upstreams.tools]\nallow = [\"*\"]\n",
        fx.entry(
            "[upstreams.tools]\nallow = [\"*\"]\ndeny = [\"crash\", \"garbage\"]\n\
             [upstreams.tools.overrides.echo_args]\nname = \"args\""
        )
    );
    let run = |text: String| async move {
        let (_dir, file) = config_file(&text);
        let data = tempfile::tempdir().expect("tempdir");
        tokio::process::Command::new(crate::support::binary())
            .args(["upstreams", "check", "--config", &file])
            .env("MCPGATE_DATA_DIR", data.path())
            .output()
            .await
            .expect("runs")
    };
    let optional = run(entries.replace("{required}", "")).await;
    let out = String::from_utf8_lossy(&optional.stdout);
    assert_eq!(optional.status.code(), Some(0), "{out}");
    assert!(
        out.contains("fx (stdio: ") && out.contains("ok, protocol 2026-07-28"),
        "the default `auto` finds the fixture's 2026-07-28: {out}"
    );
    assert!(out.contains("echo_args -> fx__args"), "{out}");
    assert!(out.contains("not exposed: crash, garbage"), "{out}");
    assert!(
        out.contains("gone (stdio: /nonexistent/server): FAILED"),
        "{out}"
    );

    let required = run(entries.replace("{required}", "required = true")).await;
    let out = String::from_utf8_lossy(&required.stdout);
    assert_eq!(required.status.code(), Some(1), "{out}");
    assert!(
        out.contains("gone (stdio: /nonexistent/server, required): FAILED"),
        "{out}"
    );
}

/// One modern request with `params`; the JSON answer.
pub(super) async fn request(server: &Server, method: &str, params: Value) -> Value {
    crate::edge::rpc(server, None, method, params)
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn resources_templates_and_prompts_are_federated_namespaced_and_route_back() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(&fx.entry(
        "[upstreams.tools]\nallow = [\"show_app\"]\n\
         [upstreams.resources]\nallow = [\"ui://*\", \"fixture://*\"]\n\
         [upstreams.prompts]\nallow = [\"greet\"]",
    ))
    .await;
    let listed = request(&server, "resources/list", json!({})).await;
    let uris: Vec<&str> = listed["result"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert!(uris.contains(&"ui://fx/widget/app.html"), "{uris:?}");
    assert!(uris.contains(&"fixture://fx/notes/readme"), "{uris:?}");
    assert!(
        !uris.iter().any(|u| u.starts_with("secret:")),
        "not allowed: {uris:?}"
    );

    // A UI resource reads back through the gateway, still a ui:// URI.
    let read = request(
        &server,
        "resources/read",
        json!({"uri": "ui://fx/widget/app.html"}),
    )
    .await;
    let contents = &read["result"]["contents"][0];
    assert_eq!(contents["text"], "<html>app</html>", "{read}");
    assert_eq!(contents["uri"], "ui://fx/widget/app.html", "{read}");

    // A template of the upstream's, namespaced, and a read through it.
    let templates = request(&server, "resources/templates/list", json!({})).await;
    assert!(
        templates["result"]["resourceTemplates"]
            .as_array()
            .expect("templates")
            .iter()
            .any(|t| t["uriTemplate"] == "fixture://fx/items/{id}"),
        "{templates}"
    );
    let item = request(
        &server,
        "resources/read",
        json!({"uri": "fixture://fx/items/42"}),
    )
    .await;
    assert_eq!(item["result"]["contents"][0]["text"], "item 42", "{item}");

    // What is not allowed cannot be read, even by its namespaced URI.
    let secret = request(&server, "resources/read", json!({"uri": "secret:fx/key"})).await;
    assert!(secret.get("error").is_some(), "{secret}");
    assert_eq!(fx.received("read secret://key"), 0);

    // The app tool points at its UI through the gateway, and its links route back too.
    let tools = request(&server, "tools/list", json!({})).await;
    let app = tools["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "fx__show_app")
        .expect("offered")
        .clone();
    assert_eq!(
        app["_meta"]["ui"]["resourceUri"], "ui://fx/widget/app.html",
        "{app}"
    );
    let shown = call(&server, "fx__show_app", json!({})).await;
    assert_eq!(
        shown["result"]["content"][1]["uri"], "fixture://fx/notes/readme",
        "{shown}"
    );

    // Prompts under the prefix; one not allowed is neither listed nor served.
    let prompts = request(&server, "prompts/list", json!({})).await;
    let names: Vec<&str> = prompts["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"fx__greet") && !names.contains(&"fx__internal"),
        "{names:?}"
    );
    let greeting = request(
        &server,
        "prompts/get",
        json!({"name": "fx__greet", "arguments": {"name": "Ada"}}),
    )
    .await;
    assert_eq!(
        greeting["result"]["messages"][0]["content"]["text"], "Hello, Ada.",
        "{greeting}"
    );
    let internal = request(&server, "prompts/get", json!({"name": "fx__internal"})).await;
    assert!(internal.get("error").is_some(), "{internal}");
    assert_eq!(server.terminate().await, Some(0));
}

/// Call `tool` as the dev-token caller `user` (an admin of `acme`: upstream tools count as
/// write tools); the structured answer.
async fn call_as(server: &Server, user: &str, tool: &str, arguments: Value) -> Value {
    let token = format!("dev:{user}:acme:admin");
    let response = reqwest::Client::new()
        .post(server.at("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments, "_meta": modern_meta()}})
            .to_string(),
        )
        .send()
        .await
        .expect("request");
    let answer: Value = response.json().await.expect("json");
    assert!(
        answer.get("error").is_none() && answer["result"]["isError"] != true,
        "{answer}"
    );
    answer["result"]["structuredContent"].clone()
}

#[tokio::test]
async fn per_principal_isolation_keeps_each_callers_upstream_state_apart_and_bounded() {
    let fx = Fixture::new();
    let entry = |isolation: &str| {
        fx.entry(&format!(
            "pool_size = 1\nisolation = \"{isolation}\"\nmax_principals = 2\n\
             [upstreams.tools]\nallow = [\"remember\", \"recall\", \"pid\"]"
        ))
    };
    let start = |text: String| async move {
        let (dir, file) = config_file(&text);
        let server = Server::start(&[("MCPGATE_CONFIG", &file), ("MCPGATE_AUTH", "dev")]).await;
        (server, dir)
    };

    // Shared: one session, so one caller's state shows through to another.
    let (shared, _dir) = start(entry("shared")).await;
    call_as(
        &shared,
        "alice",
        "fx__remember",
        json!({"value": "alice's secret"}),
    )
    .await;
    let seen = call_as(&shared, "bob", "fx__recall", json!({})).await;
    assert_eq!(
        seen["value"], "alice's secret",
        "the contrast: shared state"
    );
    assert_eq!(shared.terminate().await, Some(0));

    // Per principal: each caller has sessions of its own.
    let (server, _dir) = start(entry("per_principal")).await;
    call_as(
        &server,
        "alice",
        "fx__remember",
        json!({"value": "alice's secret"}),
    )
    .await;
    let bob = call_as(&server, "bob", "fx__recall", json!({})).await;
    assert_eq!(bob["value"], "", "bob never sees alice's state");
    let alice = call_as(&server, "alice", "fx__recall", json!({})).await;
    assert_eq!(alice["value"], "alice's secret", "alice keeps hers");
    let alice_pid = call_as(&server, "alice", "fx__pid", json!({})).await["pid"].clone();
    let bob_pid = call_as(&server, "bob", "fx__pid", json!({})).await["pid"].clone();
    assert_ne!(alice_pid, bob_pid, "separate children");

    // Bounded: a third caller makes room by closing the least recently used set (alice's).
    call_as(&server, "bob", "fx__recall", json!({})).await;
    call_as(&server, "carol", "fx__recall", json!({})).await;
    let gateway_pid = server.child.id().expect("running");
    eventually("the least recently used set is closed", async || {
        !children_of(gateway_pid)
            .iter()
            .any(|c| json!(c) == alice_pid)
    })
    .await;
    let alice = call_as(&server, "alice", "fx__recall", json!({})).await;
    assert_eq!(alice["value"], "", "alice starts over in a new session");
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_changed_tool_definition_is_held_back_until_approved_or_served_with_a_warning() {
    let fx = Fixture::new();
    let db = fx.dir.path().join("gateway.db");
    let database_url = format!("sqlite://{}", db.display());
    let text = format!(
        "{}\n{}",
        fx.entry(
            "pinning = \"block\"\nheartbeat_interval = \"300ms\"\n\
             [upstreams.tools]\nallow = [\"echo\", \"mutate\"]"
        ),
        fx.entry("pinning = \"warn\"\n[upstreams.tools]\nallow = [\"echo\", \"mutate\"]")
            .replacen("name = \"fx\"", "name = \"fxw\"", 1)
    );
    let (_dir, file) = config_file(&text);
    let server = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_DATABASE_URL", &database_url),
    ])
    .await;
    assert!(
        tool_names(&server, None)
            .await
            .contains(&"fx__echo".to_owned())
    );

    // The upstream rewords `echo` (a rug pull) and says its list changed.
    fx.control("mutated");
    call(&server, "fx__mutate", json!({})).await;
    call(&server, "fxw__mutate", json!({})).await;
    eventually("the changed tool is held back", async || {
        !tool_names(&server, None)
            .await
            .contains(&"fx__echo".to_owned())
    })
    .await;
    let names = tool_names(&server, None).await;
    assert!(
        names.contains(&"fxw__echo".to_owned()),
        "warn serves it: {names:?}"
    );
    let refused = call(&server, "fx__echo", json!({"nonce": "x"})).await;
    assert!(refused.get("error").is_some(), "{refused}");
    let health = call(&server, "health", json!({})).await;
    let upstreams = &health["result"]["structuredContent"]["upstreams"];
    assert_eq!(upstreams[0]["changed_tools"], json!(["echo"]), "{health}");
    assert_eq!(upstreams[1]["changed_tools"], json!(["echo"]), "{health}");
    let text = metrics(&server).await;
    for (upstream, kind) in [("fx", "block"), ("fxw", "warn")] {
        assert!(
            text.contains(&format!(
                "mcpgate_upstream_tool_definition_changes_total{{upstream=\"{upstream}\",kind=\"{kind}\"}} 1"
            )),
            "{upstream}: {text}"
        );
    }

    // An operator approves the new definition; the gateway serves it again.
    let data = tempfile::tempdir().expect("tempdir");
    let approved = tokio::process::Command::new(crate::support::binary())
        .args(["upstreams", "approve", "fx", "--config", &file])
        .env("MCPGATE_DATA_DIR", data.path())
        .env("MCPGATE_DATABASE_URL", &database_url)
        .output()
        .await
        .expect("runs");
    let out = String::from_utf8_lossy(&approved.stdout);
    assert_eq!(approved.status.code(), Some(0), "{out}");
    assert!(out.contains("changed, now approved: echo"), "{out}");
    eventually("the approved tool is back", async || {
        tool_names(&server, None)
            .await
            .contains(&"fx__echo".to_owned())
    })
    .await;
    let echoed = call(&server, "fx__echo", json!({"nonce": "back"})).await;
    assert_eq!(
        echoed["result"]["structuredContent"]["nonce"], "back",
        "{echoed}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn an_upstream_removed_by_a_reload_lets_its_calls_in_flight_finish() {
    let fx = Fixture::new();
    let (dir, file) = config_file(&fx.entry("[upstreams.tools]\nallow = [\"*\"]"));
    let server = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    eventually("fx is listed", async || {
        tool_names(&server, None)
            .await
            .contains(&"fx__slow".to_owned())
    })
    .await;
    let slow = call(&server, "fx__slow", json!({"ms": 1500}));
    let remove = async {
        // The call has reached the upstream; then the reload takes `fx` away.
        eventually("the slow call is in flight", async || {
            fx.receipts().iter().any(|r| r.starts_with("slow"))
        })
        .await;
        std::fs::write(dir.path().join("mcpgate.toml"), "").expect("write");
        let reloaded = std::process::Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .expect("kill");
        assert!(reloaded.success());
        eventually("fx leaves the list", async || {
            !tool_names(&server, None)
                .await
                .contains(&"fx__slow".to_owned())
        })
        .await;
    };
    let (answer, ()) = tokio::join!(slow, remove);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    // New calls find no such tool.
    let after = call(&server, "fx__slow", json!({"ms": 1})).await;
    assert!(
        after["error"].is_object() || after["result"]["isError"] == true,
        "{after}"
    );
}

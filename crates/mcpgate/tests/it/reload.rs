//! Live reload (SIGHUP, `mcpgate reload`): tokens, rules, rate limits, disabled tools, the log
//! filter and upstreams change under load with no failed request and no lost session (an
//! upstream that stays keeps its process); a configuration that does not validate changes
//! nothing; restart-only settings are reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::legacy::{Caller, legacy, open_session};
use crate::support::{Server, messages, modern_call, modern_request, run_binary};

const ALICE: &str = "alice-token-0123456789abcdef";
const BOB: &str = "bob-token-0123456789abcdef";

const V1: &str = r#"
[[auth.tokens]]
name = "alice"
token = "alice-token-0123456789abcdef"
role = "admin"
"#;

/// V1 plus bob, a rule, a per-tool limit, a disabled tool and another log filter.
const V2: &str = r#"
[[auth.tokens]]
name = "alice"
token = "alice-token-0123456789abcdef"
role = "admin"

[[auth.tokens]]
name = "bob"
token = "bob-token-0123456789abcdef"
role = "viewer"

[[auth.rules]]
tools = ["list_tasks"]
effect = "deny"

[[rate_limit.tools]]
tools = ["list_notes"]
rate = "1/hour"

[modules]
disabled_tools = ["server_info"]

[log]
filter = "info,rmcp=error"
"#;

/// A modern `tools/call` as `token`: the HTTP status and the JSON-RPC answer.
async fn call(server: &Server, token: &str, tool: &str) -> (u16, Value) {
    let response = modern_request(server, "tools/call", Some(tool))
        .header("authorization", format!("Bearer {token}"))
        .body(modern_call(7, tool, json!({})))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let answer = if status == 200 {
        messages(&text).pop().expect("one answer")
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    (status, answer)
}

/// Whether a tool call succeeded.
fn succeeded((status, answer): &(u16, Value)) -> bool {
    *status == 200 && answer["result"].is_object() && answer["result"]["isError"] != true
}

fn sighup(server: &Server) {
    let pid = server.pid();
    std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill runs");
}

/// Wait until the log has `count` lines with `message`.
async fn logged(server: &Server, message: &str, count: usize) {
    for _ in 0..200 {
        if server.logs().iter().filter(|l| l.contains(message)).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {count}th {message:?} in the log:\n{}",
        server.logs().join("\n")
    );
}

#[tokio::test]
async fn tokens_rules_limits_and_disabled_tools_change_under_load_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    std::fs::write(&file, V1).expect("write");
    let server = Arc::new(
        Server::start(&[
            ("MCPGATE_AUTH", "token"),
            ("MCPGATE_CONFIG", file.to_str().expect("utf-8")),
        ])
        .await,
    );
    let session = open_session(&server, Caller(ALICE)).await;

    // Load: alice calls `health` from four tasks until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, ok, failed) = (
                Arc::clone(&server),
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&failed),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer = call(&server, ALICE, "health").await;
                    if succeeded(&answer) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("failed under load: {answer:?}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Before: bob is unknown; search, server_info and list_notes work for alice.
    assert_eq!(call(&server, BOB, "health").await.0, 401);
    for tool in ["list_tasks", "server_info", "list_notes", "list_notes"] {
        assert!(
            succeeded(&call(&server, ALICE, tool).await),
            "{tool} before the reload"
        );
    }

    std::fs::write(&file, V2).expect("write");
    sighup(&server);
    logged(&server, "configuration reloaded", 1).await;
    let line = server
        .logs()
        .into_iter()
        .rfind(|l| l.contains("configuration reloaded"))
        .expect("a line");
    for setting in [
        "auth.tokens",
        "auth.rules",
        "rate_limit",
        "modules.disabled_tools",
        "log.filter",
    ] {
        assert!(
            line.contains(setting),
            "{setting} not reported applied: {line}"
        );
    }
    assert!(line.contains(r#""needs_restart":"[]""#), "{line}");
    assert!(
        succeeded(&call(&server, BOB, "health").await),
        "bob's new token works"
    );
    let (_, denied) = call(&server, ALICE, "list_tasks").await;
    assert!(
        !succeeded(&(200, denied.clone())),
        "the new rule denies list_tasks: {denied}"
    );
    let (_, disabled) = call(&server, ALICE, "server_info").await;
    assert!(
        !succeeded(&(200, disabled.clone())),
        "server_info is disabled: {disabled}"
    );
    assert!(
        succeeded(&call(&server, ALICE, "list_notes").await),
        "the new limit starts fresh"
    );
    let (_, limited) = call(&server, ALICE, "list_notes").await;
    assert!(
        !succeeded(&(200, limited.clone())),
        "1/hour: the second call is refused: {limited}"
    );

    // The legacy session opened before the reload goes on.
    let on_session = legacy(&server, Caller(ALICE), reqwest::Method::POST, Some(&session))
        .body(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "health", "arguments": {}}}).to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(on_session.status(), 200);
    assert!(
        messages(&on_session.text().await.expect("body"))
            .iter()
            .any(|m| m["id"] == 2 && m["result"].is_object())
    );

    // Back to V1: bob is gone, list_tasks and server_info are back, list_notes is unlimited.
    std::fs::write(&file, V1).expect("write");
    sighup(&server);
    logged(&server, "configuration reloaded", 2).await;
    assert_eq!(
        call(&server, BOB, "health").await.0,
        401,
        "bob's removed token is refused"
    );
    for tool in ["list_tasks", "server_info", "list_notes", "list_notes"] {
        assert!(
            succeeded(&call(&server, ALICE, tool).await),
            "{tool} after the second reload"
        );
    }

    // A configuration that does not validate changes nothing, and every problem is logged.
    std::fs::write(
        &file,
        "[[auth.tokens]]\nname = \"carol\"\ntoken = \"short\"\nrole = \"root\"\n",
    )
    .expect("write");
    sighup(&server);
    logged(&server, "configuration reload refused", 1).await;
    let line = server
        .logs()
        .into_iter()
        .rfind(|l| l.contains("configuration reload refused"))
        .expect("a line");
    assert!(
        line.contains("at least") && line.contains("role must be one of"),
        "both problems: {line}"
    );
    assert!(
        succeeded(&call(&server, ALICE, "health").await),
        "the old tokens stay"
    );
    assert!(
        !line.contains("short\""),
        "the refused secret is not logged: {line}"
    );

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("under load: {ok} calls succeeded, {failed} failed");
    assert_eq!(failed, 0, "no call failed across three reloads");
    assert!(ok > 20, "the load ran ({ok} calls)");
}

#[tokio::test]
async fn mcpgate_reload_reports_restart_only_settings_and_needs_the_admin_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    let admin_port = crate::support::free_port();
    let admin = format!("127.0.0.1:{admin_port}");
    std::fs::write(&file, "").expect("write");
    let token = "metrics-token-0123456789abcdef";
    let env = [
        ("MCPGATE_CONFIG", file.to_str().expect("utf-8")),
        ("MCPGATE_ADMIN_LISTEN", admin.as_str()),
        ("MCPGATE_METRICS_TOKEN", token),
    ];
    let server = Server::start(&env).await;
    let reload = |env: Vec<(&'static str, String)>| async move {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_binary(&["reload"], &env).await
    };
    let config_env = ("MCPGATE_CONFIG", file.to_str().expect("utf-8").to_owned());
    let admin_env = ("MCPGATE_ADMIN_LISTEN", admin.clone());

    // Without the token the admin listener refuses.
    let (code, stdout, _) = reload(vec![config_env.clone(), admin_env.clone()]).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("unauthorized"), "{stdout}");

    // A body limit needs a restart (http), and so does the page size (modules).
    std::fs::write(
        &file,
        "[http]\nmax_body_bytes = 2048\n[modules]\npage_size = 7\n",
    )
    .expect("write");
    let with_token = vec![
        config_env,
        admin_env,
        ("MCPGATE_METRICS_TOKEN", token.to_owned()),
    ];
    let (code, stdout, stderr) = reload(with_token.clone()).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["status"], "reloaded");
    assert_eq!(
        report["needs_restart"],
        json!(["http", "modules"]),
        "{report}"
    );
    assert_eq!(report["applied"], json!([]));
    // Still serving where it was.
    assert_eq!(
        reqwest::get(server.at("/healthz"))
            .await
            .expect("up")
            .status(),
        200
    );

    // Refused: exit 1 with the problems.
    std::fs::write(&file, "[modules]\ndisabled_tools = [\"no_such_tool\"]\n").expect("write");
    let (code, stdout, _) = reload(with_token).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("reload_refused") && stdout.contains("no_such_tool"),
        "{stdout}"
    );
}

/// A dev-auth admin (the upstream tests' callers).
const ADMIN: &str = "dev:alice:acme:admin";

/// `text` with the `[[upstreams]]` entry named `inner` renamed `name` (its tools `name__…`).
fn renamed(text: &str, name: &str) -> String {
    text.replace("name = \"inner\"", &format!("name = \"{name}\""))
}

#[tokio::test]
async fn upstreams_are_added_and_removed_live_and_the_others_keep_running() {
    let data = tempfile::tempdir().expect("tempdir");
    let inner = crate::upstreams::inner_mcpgate(&data, "system", "allow = [\"health\"]");
    let second_data = tempfile::tempdir().expect("tempdir");
    let second = renamed(
        &crate::upstreams::inner_mcpgate(&second_data, "system", "allow = [\"health\"]"),
        "second",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    std::fs::write(&file, &inner).expect("write");
    let server = Server::start(&[
        ("MCPGATE_CONFIG", file.to_str().expect("utf-8")),
        ("MCPGATE_AUTH", "dev"),
    ])
    .await;
    let names = crate::edge::tool_names(&server, Some(ADMIN)).await;
    assert!(names.contains(&"inner__health".to_owned()), "{names:?}");
    let session = open_session(&server, Caller(ADMIN)).await;
    crate::upstreams::eventually("the inner upstream's process runs", async || {
        !crate::upstreams::children_of(server.pid()).is_empty()
    })
    .await;
    let inner_pid = crate::upstreams::children_of(server.pid())[0];

    // Calls to `inner` run all along; none may fail while `second` comes and `inner` stays.
    let stop = AtomicBool::new(false);
    let (made, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let load = async {
        while !stop.load(Ordering::Relaxed) {
            let answer = crate::edge::call(&server, Some(ADMIN), "inner__health").await;
            made.fetch_add(1, Ordering::Relaxed);
            if !succeeded(&answer) {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    // Added: `second` joins; `inner` is untouched (the same process).
    let add = async {
        std::fs::write(&file, format!("{inner}\n{second}")).expect("write");
        sighup(&server);
        logged(&server, "configuration reloaded", 1).await;
        crate::upstreams::eventually("second's tools are listed", async || {
            crate::edge::tool_names(&server, Some(ADMIN))
                .await
                .contains(&"second__health".to_owned())
        })
        .await;
        let answer = crate::edge::call(&server, Some(ADMIN), "second__health").await;
        assert!(succeeded(&answer), "{answer:?}");
        assert!(crate::upstreams::children_of(server.pid()).contains(&inner_pid));
        stop.store(true, Ordering::Relaxed);
    };
    tokio::join!(load, add);
    assert!(made.load(Ordering::Relaxed) > 0);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "calls to inner failed");

    // Removed: `inner` leaves the list, its calls are unknown tools, its process ends; `second`
    // and the client's session go on.
    std::fs::write(&file, &second).expect("write");
    sighup(&server);
    logged(&server, "configuration reloaded", 2).await;
    let names = crate::edge::tool_names(&server, Some(ADMIN)).await;
    assert!(!names.contains(&"inner__health".to_owned()), "{names:?}");
    let (_, gone) = crate::edge::call(&server, Some(ADMIN), "inner__health").await;
    assert!(
        gone["error"].is_object() || gone["result"]["isError"] == true,
        "{gone}"
    );
    crate::upstreams::eventually("inner's process ends", async || {
        !crate::upstreams::children_of(server.pid()).contains(&inner_pid)
    })
    .await;
    let answer = crate::edge::call(&server, Some(ADMIN), "second__health").await;
    assert!(succeeded(&answer), "{answer:?}");
    let listed = legacy(
        &server,
        Caller(ADMIN),
        reqwest::Method::POST,
        Some(&session),
    )
    .body(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#)
    .send()
    .await
    .expect("list");
    assert_eq!(listed.status(), 200, "the session lives on");
    let listed = listed.text().await.expect("text");
    assert!(listed.contains("second__health") && !listed.contains("inner__health"));

    // An upstream whose tool would take a native tool's name is quarantined, as at start-up:
    // its tools are hidden and the native tool keeps its name.
    let clash = second.replace("[upstreams.tools]", "prefix = \"\"\n[upstreams.tools]");
    std::fs::write(&file, clash).expect("write");
    sighup(&server);
    logged(&server, "upstream quarantined", 1).await;
    let names = crate::edge::tool_names(&server, Some(ADMIN)).await;
    assert!(!names.contains(&"second__health".to_owned()), "{names:?}");
    let answer = crate::edge::call(&server, Some(ADMIN), "health").await;
    assert!(succeeded(&answer), "the native tool answers: {answer:?}");
}

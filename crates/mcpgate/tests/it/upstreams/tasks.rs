//! Tasks (the `io.modelcontextprotocol/tasks` extension) of a 2026-07-28 upstream, relayed:
//! mcpgate serving its conformance task fixtures, federated over HTTP and over stdio. A caller
//! that declares the extension gets the upstream's task under an id of the gateway's, follows
//! it (`tasks/get`), answers its questions (`tasks/update`) and cancels it; no other caller can
//! do any of that with the id, the upstream's own id is no handle here, and a caller that did
//! not declare the extension gets the result synchronously.

use std::time::Duration;

use serde_json::{Value, json};

use super::inner_mcpgate;
use crate::edge::config_file;
use crate::support::{Server, messages, modern_request};

const ALICE: &str = "dev:alice:acme:admin";
const BOB: &str = "dev:bob:acme:admin";
/// The same user name in another tenant: not the same caller.
const ALICE_ELSEWHERE: &str = "dev:alice:globex:admin";

/// `_meta` of a modern request, declaring the tasks extension when `tasks`.
fn meta(tasks: bool) -> Value {
    let capabilities = if tasks {
        json!({"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}})
    } else {
        json!({})
    };
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "tasks-test", "version": "1"}
    })
}

/// One modern request as `token` to `server` (its `Mcp-Name`: the tool or the task id); the
/// JSON-RPC answer.
async fn rpc(server: &Server, token: &str, method: &str, mut params: Value, tasks: bool) -> Value {
    params["_meta"] = meta(tasks);
    let name = params
        .get("name")
        .or_else(|| params.get("taskId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let response = modern_request(server, method, name.as_deref())
        .bearer_auth(token)
        .body(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string())
        .send()
        .await
        .expect("request");
    let text = response.text().await.expect("body");
    messages(&text)
        .into_iter()
        .find(|m| m.get("id").is_some())
        .unwrap_or_else(|| panic!("no answer in {text}"))
}

/// Alice calls `tool` with `arguments` (declaring the tasks extension when `tasks`).
async fn call(server: &Server, tool: &str, arguments: Value, tasks: bool) -> Value {
    let params = json!({"name": tool, "arguments": arguments});
    rpc(server, ALICE, "tools/call", params, tasks).await
}

async fn get(server: &Server, token: &str, task: &str) -> Value {
    rpc(server, token, "tasks/get", json!({"taskId": task}), true).await
}

/// Poll `task` until its status is one of `statuses`.
async fn until(server: &Server, task: &str, statuses: &[&str]) -> Value {
    for _ in 0..200 {
        let answer = get(server, ALICE, task).await;
        let status = answer["result"]["status"].as_str().unwrap_or_default();
        if statuses.contains(&status) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task} never reached {statuses:?}");
}

/// The gateway federating `entry`, with dev tokens for callers.
async fn gateway(entry: &str) -> (Server, tempfile::TempDir) {
    let (dir, file) = config_file(entry);
    let server = Server::start(&[("MCPGATE_CONFIG", &file), ("MCPGATE_AUTH", "dev")]).await;
    (server, dir)
}

/// Every promise of the relay, through `gateway` whose upstream is `upstream` (the conformance
/// fixtures under the prefix `inner__`), when `upstream` is reachable over HTTP to check that
/// its ids are not ours.
async fn relays_tasks(gateway: &Server, upstream: Option<&Server>) {
    // A caller without the extension gets the result itself.
    let sync = call(
        gateway,
        "inner__slow_compute",
        json!({"seconds": 0, "label": "sync"}),
        false,
    )
    .await;
    assert_eq!(sync["result"]["resultType"], "complete", "{sync}");
    assert!(sync["result"].get("taskId").is_none(), "{sync}");

    // With it, a task, under an id of the gateway's.
    let created = call(
        gateway,
        "inner__slow_compute",
        json!({"seconds": 60, "label": "long"}),
        true,
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let task = created["result"]["taskId"]
        .as_str()
        .expect("task id")
        .to_owned();
    let working = get(gateway, ALICE, &task).await;
    assert_eq!(working["result"]["taskId"], json!(task), "{working}");
    assert_eq!(working["result"]["status"], "working", "{working}");
    if let Some(upstream) = upstream {
        // The upstream never minted this id: what callers hold is the gateway's handle.
        let there = get(upstream, ALICE, &task).await;
        assert_eq!(there["error"]["code"], -32602, "{there}");
    }

    // Nobody else can follow, answer or cancel it: it does not exist for them.
    for intruder in [BOB, ALICE_ELSEWHERE] {
        for (method, params) in [
            ("tasks/get", json!({"taskId": task})),
            (
                "tasks/update",
                json!({"taskId": task, "inputResponses": {"x": {"action": "accept"}}}),
            ),
            ("tasks/cancel", json!({"taskId": task})),
        ] {
            let refused = rpc(gateway, intruder, method, params, true).await;
            assert_eq!(
                refused["error"]["code"], -32602,
                "{intruder} {method}: {refused}"
            );
        }
    }
    // Without the extension the task methods are refused outright.
    let undeclared = rpc(gateway, ALICE, "tasks/get", json!({"taskId": task}), false).await;
    assert_eq!(undeclared["error"]["code"], -32021, "{undeclared}");
    let made_up = get(gateway, ALICE, "no-such-task").await;
    assert_eq!(made_up["error"]["code"], -32602, "{made_up}");
    assert_eq!(
        get(gateway, ALICE, &task).await["result"]["status"],
        "working",
        "the intruders changed nothing"
    );

    // Its owner cancels it: an empty ack, then the status says so; cancelling again is fine.
    let ack = rpc(
        gateway,
        ALICE,
        "tasks/cancel",
        json!({"taskId": task}),
        true,
    )
    .await;
    assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
    until(gateway, &task, &["cancelled"]).await;
    let again = rpc(
        gateway,
        ALICE,
        "tasks/cancel",
        json!({"taskId": task}),
        true,
    )
    .await;
    assert_eq!(again["result"]["resultType"], "complete", "{again}");

    // A task that asks: its question shows on tasks/get, the answer goes in by tasks/update.
    let created = call(
        gateway,
        "inner__confirm_delete",
        json!({"filename": "plans.txt"}),
        true,
    )
    .await;
    let task = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task: {created}"))
        .to_owned();
    let asking = until(gateway, &task, &["input_required"]).await;
    let requests = asking["result"]["inputRequests"]
        .as_object()
        .expect("input requests");
    let key = requests.keys().next().expect("one question").clone();
    assert_eq!(requests[&key]["method"], "elicitation/create", "{asking}");
    let sneaky = rpc(
        gateway,
        BOB,
        "tasks/update",
        json!({"taskId": task, "inputResponses": {&key: {"action": "accept", "content": {"confirm": false}}}}),
        true,
    )
    .await;
    assert_eq!(sneaky["error"]["code"], -32602, "{sneaky}");
    let ack = rpc(
        gateway,
        ALICE,
        "tasks/update",
        json!({"taskId": task, "inputResponses": {&key: {"action": "accept", "content": {"confirm": true}}}}),
        true,
    )
    .await;
    assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
    let done = until(gateway, &task, &["completed", "failed", "cancelled"]).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["taskId"], json!(task), "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "Deleted plans.txt (simulated)",
        "the owner's answer, not the intruder's, decided: {done}"
    );
}

#[tokio::test]
async fn an_http_upstreams_tasks_are_relayed_to_their_caller_only() {
    let upstream = Server::start(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let entry = format!(
        r#"
[[upstreams]]
name = "inner"
transport = "http"
url = "{url}"
timeout = "20s"

[upstreams.tools]
allow = ["*"]
"#,
        url = upstream.at("/mcp")
    );
    let (gateway, _dir) = gateway(&entry).await;
    relays_tasks(&gateway, Some(&upstream)).await;
}

#[tokio::test]
async fn a_stdio_upstreams_tasks_are_relayed_to_their_caller_only() {
    let data = tempfile::tempdir().expect("tempdir");
    let entry = inner_mcpgate(&data, "system,conformance", "allow = [\"*\"]");
    let (gateway, _dir) = gateway(&entry).await;
    relays_tasks(&gateway, None).await;

    // A stdio child that ends takes its tasks with it: asking after one is a clear answer,
    // not a hang, and a call goes to a fresh child.
    let created = call(
        &gateway,
        "inner__slow_compute",
        json!({"seconds": 60, "label": "lost"}),
        true,
    )
    .await;
    let task = created["result"]["taskId"]
        .as_str()
        .expect("a task")
        .to_owned();
    for child in super::children_of(gateway.child.id().expect("running")) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &child.to_string()])
            .status();
    }
    let mut answer = Value::Null;
    for _ in 0..100 {
        answer = get(&gateway, ALICE, &task).await;
        if answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("has ended"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&task) && m.contains("has ended")),
        "{answer}"
    );
    let fresh = call(
        &gateway,
        "inner__slow_compute",
        json!({"seconds": 0}),
        false,
    )
    .await;
    assert_eq!(fresh["result"]["resultType"], "complete", "{fresh}");
}

//! `examples/embed.rs` run as a user would: an axum service with its own routes and its own
//! tool module, mcpgate merged beside them, and one SIGTERM that drains both (an open listen
//! stream does not hold the service's graceful shutdown open).

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::{example, modern_meta};

/// A modern JSON-RPC request to the service's `/mcp`.
fn rpc(base: &str, method: &str, params: Value) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = modern_meta();
    let mut request = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        request = request.header("mcp-name", name);
    }
    request.body(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string())
}

#[tokio::test]
async fn an_axum_service_embeds_mcpgate_with_its_own_tool_and_drains_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(example("embed"))
        .arg("127.0.0.1:0")
        .env("MCPGATE_DATA_DIR", dir.path())
        .env("MCPGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the example listens in time")
        .expect("stdout")
        .expect("a line");
    let addr = first.strip_prefix("listening on ").expect("the address");
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    // The service's own route, untouched.
    let own: Value = http
        .get(format!("{base}/orders/42"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(own, json!({"id": 42, "status": "shipped"}));

    // Its tool module, next to the native ones, over the same lookup.
    let listed: Value = rpc(&base, "tools/list", json!({}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"get_order") && names.contains(&"health"),
        "{names:?}"
    );
    let called: Value = rpc(
        &base,
        "tools/call",
        json!({"name": "get_order", "arguments": {"id": 7}}),
    )
    .send()
    .await
    .expect("request")
    .json()
    .await
    .expect("json");
    assert_eq!(
        called["result"]["structuredContent"],
        json!({"id": 7, "status": "packing"}),
        "{called}"
    );
    let healthz = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(healthz.status(), 200);

    // An open listen stream, then SIGTERM: the drain ends the stream, so the service's own
    // graceful shutdown completes and the process exits cleanly.
    let listen = rpc(
        &base,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    )
    .send()
    .await
    .expect("listen");
    assert_eq!(listen.status(), 200);
    let mut stream = listen.bytes_stream();
    let acknowledged = stream.next().await.expect("a first event").expect("bytes");
    assert!(String::from_utf8_lossy(&acknowledged).contains("acknowledged"));

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut rest = String::new();
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_secs(30), stream.next()).await
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        rest.contains("\"resultType\":\"complete\""),
        "the stream ended gracefully: {rest}"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the example exits after the drain")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
}

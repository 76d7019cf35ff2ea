//! The real binary over stdio: what Claude Desktop and other local clients launch.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::http_clients::exercise;
use crate::support::binary;

fn child(dir: &tempfile::TempDir) -> TokioChildProcess {
    let command = Command::new(binary()).configure(|c| {
        c.args(["serve", "--transport", "stdio"])
            .env("MCPGATE_DATA_DIR", dir.path())
            .env("MCPGATE_LOG", "debug");
    });
    let (process, _stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mcpgate");
    process
}

#[tokio::test]
async fn rmcp_client_over_stdio_in_both_eras() {
    let dir = tempfile::tempdir().expect("tempdir");
    let transport = child(&dir);
    let client = ().serve(transport).await.expect("legacy initialize");
    assert_eq!(exercise(&client).await, "2025-11-25");
    client.cancel().await.expect("close");

    let transport = child(&dir);
    let client = ()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("modern discover");
    assert_eq!(exercise(&client).await, "2026-07-28");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn stdout_carries_only_protocol_and_eof_ends_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(binary())
        .args(["serve", "--transport", "stdio"])
        .env("MCPGATE_DATA_DIR", dir.path())
        .env("MCPGATE_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"health","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
        // Params that do not read as the method's are invalid params, not an unknown method.
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"health","arguments":"oops"}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"no/such/method"}"#,
    ];
    for line in requests {
        stdin.write_all(line.as_bytes()).await.expect("write");
        stdin.write_all(b"\n").await.expect("write");
    }
    stdin.flush().await.expect("flush");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut answered = Vec::new();
    while answered.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("answer in time")
            .expect("read")
            .expect("a line");
        let message: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON-RPC ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        if let Some(id) = message.get("id") {
            answered.push((id.clone(), message));
        }
    }
    // Requests are served concurrently, so answers may come in any order.
    answered.sort_by_key(|(id, _)| id.as_i64());
    assert_eq!(answered[1].1["result"]["structuredContent"]["status"], "ok");
    assert_eq!(answered[2].0, 3);
    assert_eq!(answered[2].1["error"]["code"], -32602);
    assert_eq!(answered[3].0, 4);
    assert_eq!(answered[3].1["error"]["code"], -32602, "{}", answered[3].1);
    assert!(
        answered[3].1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tools/call")),
        "{}",
        answered[3].1
    );
    assert_eq!(answered[4].0, 5);
    assert_eq!(answered[4].1["error"]["code"], -32601, "{}", answered[4].1);
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after stdin closes")
        .expect("wait");
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .await
        .expect("read stderr");
    assert!(
        stderr.contains("serving MCP over stdio"),
        "logs go to stderr: {stderr}"
    );
}

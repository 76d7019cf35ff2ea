//! Upstreams nobody here wrote, federated and called by an official SDK client: the reference
//! `@modelcontextprotocol/server-everything` (TypeScript SDK; over stdio and Streamable HTTP) and
//! a server written with the Python SDK's `MCPServer` (the FastMCP of mcp 1.x), all behind one
//! gateway, driven by the official Python SDK client in both eras.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::edge::config_file;
use crate::sdk_clients::{Clients, Sdk};
use crate::support::{Server, free_port};

/// Wait until something accepts connections on `port`.
async fn listening(port: u16) {
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port} after 15 s");
}

/// The reference server `@modelcontextprotocol/server-everything` over Streamable HTTP at a
/// free port (ready), stopped when the child is dropped; the child and the port.
pub(super) async fn everything_over_http(clients: &Clients) -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new("node")
        .arg(
            clients
                .scripts()
                .join("ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        )
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    listening(port).await;
    (child, port)
}

#[tokio::test]
async fn reference_and_python_sdk_servers_are_federated_and_called_by_the_python_sdk_client() {
    let Some(clients) = Clients::find() else {
        return;
    };
    let everything = clients
        .scripts()
        .join("ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let python_server = clients.scripts().join("python/mcpserver_upstream.py");
    let (_everything_http, port) = everything_over_http(&clients).await;

    let (_dir, file) = config_file(&format!(
        r#"
[[upstreams]]
name = "everything"
command = "node"
args = ["{everything}", "stdio"]

[upstreams.tools]
allow = ["echo", "get-sum"]

[upstreams.tools.overrides.get-sum]
name = "sum"
read_only = true

[[upstreams]]
name = "remote"
transport = "http"
url = "http://127.0.0.1:{port}/mcp"

[upstreams.tools]
allow = ["echo"]

[[upstreams]]
name = "py"
command = "{python}"
args = ["{python_server}"]

[upstreams.tools]
allow = ["*"]

[upstreams.prompts]
allow = ["review"]
"#,
        everything = everything.display(),
        python = clients.python().display(),
        python_server = python_server.display(),
    ));
    let gateway = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    let calls = [
        json!({"tool": "everything__echo", "arguments": {"message": "via stdio"}, "expect": "via stdio"}),
        json!({"tool": "everything__sum", "arguments": {"a": 2, "b": 40}, "expect": "42"}),
        json!({"tool": "remote__echo", "arguments": {"message": "via http"}, "expect": "via http"}),
        json!({"tool": "py__add", "arguments": {"a": 2, "b": 3}, "expect": "5"}),
        json!({"tool": "py__shout", "arguments": {"text": "hello"}, "expect": "HELLO!"}),
    ];
    for era in ["modern", "legacy"] {
        let mut command = clients.command(Sdk::Python, "sdk_client");
        command
            .args(["--transport", "http", "--era", era, "--url", &gateway.url()])
            .args(["--scenario", "calls"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for call in &calls {
            command.args(["--call", &call.to_string()]);
        }
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("the client finishes")
            .expect("the client runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let logs = gateway.logs();
        let recent = logs[logs.len().saturating_sub(30)..].join("\n");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{era}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- gateway ---\n{recent}"
        );
        let summary: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary");
        assert_eq!(summary["calls"].as_array().map(Vec::len), Some(calls.len()));
    }
    assert_eq!(gateway.terminate().await, Some(0));
}

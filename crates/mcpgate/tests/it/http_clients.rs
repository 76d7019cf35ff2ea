//! The real binary over Streamable HTTP, driven by rmcp's own client in both protocol eras.

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;

use crate::support::{DEFAULT_TOOLS, Server};

type Client = RunningService<RoleClient, ()>;

pub async fn legacy(url: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    ().serve(transport)
        .await
        .expect("legacy initialize succeeds")
}

pub async fn modern(url: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    ().serve_with_lifecycle(
        transport,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("modern discover succeeds")
}

/// List and call the system tools; return the negotiated protocol version.
pub async fn exercise(client: &Client) -> String {
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| &*t.name).collect();
    assert_eq!(names, DEFAULT_TOOLS);
    for tool in &tools {
        let annotations = tool.annotations.as_ref().expect("annotated");
        assert_eq!(
            annotations.read_only_hint,
            Some(true),
            "{} is read-only",
            tool.name
        );
        assert!(
            tool.output_schema.is_some(),
            "{} has an output schema",
            tool.name
        );
    }
    let health = client
        .call_tool(CallToolRequestParams::new("health"))
        .await
        .expect("health call");
    assert_eq!(health.is_error, Some(false));
    let structured = health.structured_content.expect("structured content");
    assert_eq!(structured["status"], "ok");
    assert_eq!(structured["components"]["store"]["backend"], "sqlite");
    let info = client
        .call_tool(CallToolRequestParams::new("server_info"))
        .await
        .expect("server_info call");
    let info = info.structured_content.expect("structured content");
    assert_eq!(info["name"], "mcpgate");
    assert_eq!(info["tool_count"], DEFAULT_TOOLS.len());
    assert!(
        info["protocol_versions"]
            .as_array()
            .expect("list")
            .iter()
            .any(|v| v == "2026-07-28")
    );
    let unknown = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await;
    let error = unknown.expect_err("unknown tool is an error").to_string();
    assert!(error.contains("no_such_tool"), "{error}");
    client
        .peer_info()
        .map(|i| i.protocol_version.as_str().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn rmcp_client_lists_and_calls_in_both_eras() {
    let server = Server::start(&[]).await;
    let client = legacy(&server.url()).await;
    assert_eq!(exercise(&client).await, "2025-11-25");
    client.cancel().await.expect("close legacy session");

    let client = modern(&server.url()).await;
    assert_eq!(exercise(&client).await, "2026-07-28");
    client.cancel().await.expect("close modern client");
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn pages_and_disabled_tools_apply_to_clients() {
    let server = Server::start(&[("MCPGATE_PAGE_SIZE", "1")]).await;
    let client = modern(&server.url()).await;
    let first = client.list_tools(None).await.expect("first page");
    assert_eq!(first.tools.len(), 1);
    assert!(
        first.next_cursor.is_some(),
        "one tool per page leaves a cursor"
    );
    assert_eq!(
        client.list_all_tools().await.expect("all").len(),
        DEFAULT_TOOLS.len()
    );
    client.cancel().await.expect("close");
    drop(server);

    let server = Server::start(&[("MCPGATE_DISABLED_TOOLS", "server_info")]).await;
    let client = legacy(&server.url()).await;
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let expected: Vec<&str> = DEFAULT_TOOLS
        .into_iter()
        .filter(|t| *t != "server_info")
        .collect();
    assert_eq!(names, expected);
    let error = client
        .call_tool(CallToolRequestParams::new("server_info"))
        .await
        .expect_err("a disabled tool is unknown");
    assert!(error.to_string().contains("server_info"));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn logs_are_json_lines_with_request_ids() {
    let server = Server::start(&[("MCPGATE_LOG", "debug,rmcp=warn,sqlx=warn")]).await;
    let client = modern(&server.url()).await;
    client
        .call_tool(CallToolRequestParams::new("health"))
        .await
        .expect("call");
    client.cancel().await.expect("close");
    let logs = server.logs();
    let mut saw_tool_line = false;
    for line in &logs {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if value["message"] == "tool call finished" {
            saw_tool_line = true;
            let spans = value["spans"].as_array().cloned().unwrap_or_default();
            let id = spans
                .iter()
                .find_map(|s| s["request_id"].as_str())
                .unwrap_or_default();
            assert!(
                !id.is_empty(),
                "tool log line carries the request id: {line}"
            );
        }
    }
    assert!(saw_tool_line, "a tool call was logged: {logs:#?}");
}

/// A client that reports the change notifications it receives.
#[derive(Clone)]
struct ChangeRecorder(tokio::sync::mpsc::UnboundedSender<&'static str>);

impl rmcp::ClientHandler for ChangeRecorder {
    async fn on_tool_list_changed(&self, _: rmcp::service::NotificationContext<RoleClient>) {
        let _ = self.0.send("tools");
    }
}

#[tokio::test]
async fn legacy_sessions_hear_about_list_changes() {
    let server = Server::start(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_uri(server.url());
    let client = ChangeRecorder(tx)
        .serve(transport)
        .await
        .expect("initialize");
    client
        .call_tool(CallToolRequestParams::new("test_trigger_tool_change"))
        .await
        .expect("trigger");
    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification in time");
    assert_eq!(heard, Some("tools"));
    client.cancel().await.expect("close");
}

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
    // A stateless call runs inside its HTTP request; a legacy session's call runs in the
    // session's task: both are logged with the id of the request that carried them.
    for client in [modern(&server.url()).await, legacy(&server.url()).await] {
        client
            .call_tool(CallToolRequestParams::new("health"))
            .await
            .expect("call");
        client.cancel().await.expect("close");
    }
    let logs = server.logs();
    let mut ids = Vec::new();
    for line in &logs {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if value["message"] == "tool call finished" {
            let spans = value["spans"].as_array().cloned().unwrap_or_default();
            let id = spans
                .iter()
                .find_map(|s| s["request_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            assert!(
                !id.is_empty(),
                "tool log line carries the request id: {line}"
            );
            ids.push(id);
        }
    }
    assert_eq!(ids.len(), 2, "both tool calls were logged: {logs:#?}");
    assert_ne!(ids[0], ids[1], "each with its own request's id");
}

/// A client that reports the change notifications it receives.
#[derive(Clone)]
struct ChangeRecorder(tokio::sync::mpsc::UnboundedSender<&'static str>);

impl rmcp::ClientHandler for ChangeRecorder {
    async fn on_tool_list_changed(&self, _: rmcp::service::NotificationContext<RoleClient>) {
        let _ = self.0.send("tools");
    }
}

/// The names of every tool `client` is offered, across pages.
async fn listed(client: &RunningService<RoleClient, ChangeRecorder>) -> Vec<String> {
    let tools = client.list_all_tools().await.expect("tools/list");
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn legacy_sessions_hear_about_list_changes_and_see_them() {
    let server = Server::start(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_uri(server.url());
    let client = ChangeRecorder(tx)
        .serve(transport)
        .await
        .expect("initialize");
    assert!(!listed(&client).await.contains(&DYNAMIC.to_owned()));

    for added in [true, false] {
        client
            .call_tool(CallToolRequestParams::new("test_trigger_tool_change"))
            .await
            .expect("trigger");
        let heard = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("a notification in time");
        assert_eq!(heard, Some("tools"));
        assert_eq!(listed(&client).await.contains(&DYNAMIC.to_owned()), added);
    }
    client.cancel().await.expect("close");
}

/// The tool `test_trigger_tool_change` adds and removes.
const DYNAMIC: &str = "test_dynamic_tool";

/// Read SSE `data:` payloads from `body` until one satisfies `done`, or time runs out.
async fn read_until<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    done: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    use futures::StreamExt;
    let mut text = String::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(value) = serde_json::from_str::<serde_json::Value>(data.trim())
                {
                    let finished = done(&value);
                    seen.push(value);
                    if finished {
                        return seen;
                    }
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("nothing more in time; saw {seen:?}"))
            .expect("stream still open")
            .expect("chunk");
        text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
}

#[tokio::test]
async fn listen_streams_hear_about_a_tool_added_at_runtime_and_tools_list_shows_it() {
    let server = Server::start(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let listen = crate::edge::rpc(
        &server,
        None,
        "subscriptions/listen",
        serde_json::json!({"notifications": {"toolsListChanged": true}}),
    )
    .await;
    assert_eq!(listen.status(), 200);
    let mut stream = Box::pin(listen.bytes_stream());
    let acknowledged = read_until(&mut stream, |m| {
        m["method"] == "notifications/subscriptions/acknowledged"
    })
    .await;
    assert!(!acknowledged.is_empty());

    let names = |body: serde_json::Value| -> Vec<String> {
        body["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let before = crate::edge::rpc(&server, None, "tools/list", serde_json::json!({})).await;
    assert!(!names(before.json().await.expect("json")).contains(&DYNAMIC.to_owned()));

    let (status, _) = crate::edge::call(&server, None, "test_trigger_tool_change").await;
    assert_eq!(status, 200);
    let heard = read_until(&mut stream, |m| {
        m["method"] == "notifications/tools/list_changed"
    })
    .await;
    let change = heard.last().expect("the change");
    assert_eq!(
        change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );

    let after = crate::edge::rpc(&server, None, "tools/list", serde_json::json!({})).await;
    assert!(names(after.json().await.expect("json")).contains(&DYNAMIC.to_owned()));
    let (status, body) = crate::edge::call(&server, None, DYNAMIC).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], false, "{body}");
}

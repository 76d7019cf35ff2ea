//! A real MCP client walks a realistic session against the real binary over HTTP, in both
//! protocol eras and on both backends: create a task, comment on it, find it with `search`,
//! read it with `fetch`, complete it with `process_task`, archive it.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

use super::backends;
use crate::http_clients::{legacy, modern};
use crate::support::Server;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn call(client: &Client, tool: &str, args: Value) -> Value {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().expect("object arguments"));
    let result: CallToolResult = client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_eq!(result.is_error, Some(false), "{tool}: {result:?}");
    result.structured_content.expect("structured content")
}

async fn walk(client: &Client, label: &str) {
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(
        tools.len(),
        44,
        "{label}: 40 entity tools, search, fetch, health, server_info"
    );

    let title = format!("Renew the TLS certificate ({label})");
    let task = call(client, "create_task", json!({"title": title, "description": "The wildcard certificate expires on the 30th.", "priority": "high"})).await;
    let task_id = task["id"].as_str().expect("id").to_owned();
    let comment = call(client, "create_comment", json!({"target_type": "task", "target_id": task["slug"], "body": "Use the new ACME account."})).await;
    assert_eq!(
        comment["target_id"],
        task_id.as_str(),
        "{label}: the slug resolved to the task"
    );

    let hits = call(
        client,
        "search",
        json!({"query": format!("wildcard certificate {label}")}),
    )
    .await;
    let first = &hits["results"][0];
    assert_eq!(first["id"], task_id.as_str(), "{label}: {hits}");
    assert!(
        first["url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/api/v1/tasks/{task_id}"))
    );
    assert!(
        first["snippet"].as_str().expect("snippet").contains("**"),
        "{label}: {first}"
    );

    let doc = call(client, "fetch", json!({"id": task_id})).await;
    assert_eq!(doc["title"], title.as_str());
    assert!(
        doc["text"]
            .as_str()
            .expect("text")
            .contains("expires on the 30th"),
        "{doc}"
    );
    assert_eq!(doc["metadata"]["status"], "todo");

    let done = call(
        client,
        "process_task",
        json!({"id": task_id, "action": "complete"}),
    )
    .await;
    assert_eq!(done["status"], "done");
    let archived = call(
        client,
        "archive_task",
        json!({"id": task_id, "version": done["version"]}),
    )
    .await;
    assert_eq!(archived["archived"], true);
    let listed = call(client, "list_tasks", json!({})).await;
    assert!(
        listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|t| t["id"] != task_id.as_str()),
        "{label}: archived tasks leave the default list"
    );
    let comments = call(client, "list_comments", json!({"target_id": task_id})).await;
    assert_eq!(
        comments["items"].as_array().expect("items").len(),
        1,
        "{label}"
    );
}

#[tokio::test]
async fn a_real_client_walks_a_task_from_creation_to_archive() {
    for backend in backends().await {
        let mut env = vec![("MCPGATE_WORKSPACE_WRITE", "true")];
        if let Some(url) = &backend.database_url {
            env.push(("MCPGATE_DATABASE_URL", url.as_str()));
        }
        let server = Server::start(&env).await;
        let client = modern(&server.url()).await;
        walk(&client, &format!("{} modern", backend.name)).await;
        client.cancel().await.expect("close");
        let client = legacy(&server.url()).await;
        walk(&client, &format!("{} legacy", backend.name)).await;
        client.cancel().await.expect("close");
        let errors: Vec<String> = server
            .logs()
            .into_iter()
            .filter(|l| l.contains("\"ERROR\""))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: server logged errors: {errors:#?}",
            backend.name
        );
    }
}

//! Per-tool authorization through the real binary: roles follow the tools' annotations, and
//! `[[auth.rules]]` adjust them; a withheld tool is absent from `tools/list`, answered as an
//! unknown tool, and refused by the REST operation of the same meaning.

use serde_json::{Value, json};

use super::jwt::{claims, hs256, jwt_env};
use super::{call, config_file, create_note, header, tool_names};
use crate::support::Server;

const RULES: &str = r#"
[[auth.rules]]
tools = ["delete_*"]
effect = "deny"
roles = ["editor"]

[[auth.rules]]
tools = ["create_task", "update_task"]
effect = "require"
scopes = ["tasks:write"]
"#;

async fn start() -> (Server, tempfile::TempDir) {
    let (dir, file) = config_file(RULES);
    let base = jwt_env();
    let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("MCPGATE_CONFIG", &file));
    (Server::start(&env).await, dir)
}

#[tokio::test]
async fn rules_and_roles_decide_what_each_caller_sees_and_may_call() {
    let (server, _dir) = start().await;
    let viewer = hs256(&claims("vic", &["viewer"], ""));
    let editor = hs256(&claims("eve", &["editor"], ""));
    let scoped_editor = hs256(&claims("sam", &["editor"], "tasks:write"));
    let admin = hs256(&claims("ada", &["admin"], "tasks:write"));

    let seen = tool_names(&server, Some(&viewer)).await;
    assert!(seen.contains(&"list_tasks".to_owned()));
    assert!(!seen.iter().any(|t| t.starts_with("create_")), "{seen:?}");
    let seen = tool_names(&server, Some(&editor)).await;
    assert!(seen.contains(&"create_note".to_owned()));
    assert!(!seen.iter().any(|t| t.starts_with("delete_")), "{seen:?}");
    assert!(
        !seen.contains(&"create_task".to_owned()),
        "needs tasks:write"
    );
    let seen = tool_names(&server, Some(&scoped_editor)).await;
    assert!(seen.contains(&"create_task".to_owned()));
    let seen = tool_names(&server, Some(&admin)).await;
    assert!(seen.contains(&"delete_task".to_owned()));

    // A withheld tool is an unknown tool, not a hint that it exists.
    let (status, body) = call(&server, Some(&editor), "delete_note").await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(body["error"]["message"], "Unknown tool: delete_note");

    // The REST API decides the same way.
    let http = reqwest::Client::new();
    let note = create_note(&server, Some(&editor), "Keep me").await;
    let id = note["id"].as_str().expect("id");
    let refused = http
        .delete(server.at(&format!("/api/v1/notes/{id}")))
        .bearer_auth(&editor)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.expect("json");
    assert_eq!(problem["detail"], "eve may not use delete_note");

    let refused = http
        .post(server.at("/api/v1/tasks"))
        .bearer_auth(&editor)
        .json(&json!({"title": "Needs a scope"}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    let challenge = header(&refused, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"tasks:write\""),
        "{challenge}"
    );
    let created = http
        .post(server.at("/api/v1/tasks"))
        .bearer_auth(&scoped_editor)
        .json(&json!({"title": "Has the scope"}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let viewer_write = http
        .post(server.at("/api/v1/notes"))
        .bearer_auth(&viewer)
        .json(&json!({"title": "Nope"}))
        .send()
        .await
        .expect("request");
    assert_eq!(viewer_write.status(), 403);
    let deleted = http
        .delete(server.at(&format!("/api/v1/notes/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 200);
}

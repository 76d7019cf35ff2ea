//! Static bearer tokens through the real binary: MCP and the REST API refuse a missing or
//! unknown token with 401 and the right challenge, accept configured ones, and act as the
//! token's named caller. The secrets never reach the logs.

use serde_json::{Value, json};

use crate::support::{Server, modern_call};

const ENV_TOKEN: &str = "env-token-0123456789abcdef";
const FILE_TOKEN: &str = "file-token-fedcba9876543210";

async fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    std::fs::write(
        &file,
        format!(
            "[[auth.tokens]]\nname = \"ci-bot\"\ntoken = \"{FILE_TOKEN}\"\norg = \"acme\"\nrole = \"editor\"\n"
        ),
    )
    .expect("write config");
    let server = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", ENV_TOKEN),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
        ("MCPGATE_CONFIG", file.to_str().expect("utf-8 path")),
    ])
    .await;
    (server, dir)
}

async fn mcp(server: &Server, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "health")
        .body(modern_call(1, "health", json!({})));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn static_tokens_guard_mcp_and_rest_and_name_the_caller() {
    let (server, _dir) = start().await;
    let missing = mcp(&server, None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = mcp(&server, Some("not-a-configured-token-at-all")).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    for token in [ENV_TOKEN, FILE_TOKEN] {
        let ok = mcp(&server, Some(token)).await;
        assert_eq!(ok.status(), 200);
        let body: Value = ok.json().await.expect("json");
        assert_eq!(body["result"]["isError"], false, "{body}");
    }

    let http = reqwest::Client::new();
    let refused = http
        .get(server.at("/api/v1/tasks"))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let created: Value = http
        .post(server.at("/api/v1/tasks"))
        .bearer_auth(FILE_TOKEN)
        .json(&json!({"title": "Signed by the bot"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(created["created_by"], "ci-bot", "{created}");
    let listed: Value = http
        .get(server.at("/api/v1/tasks"))
        .bearer_auth(ENV_TOKEN)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed["items"],
        json!([]),
        "the env token acts for the default org, not acme"
    );

    let logs = server.logs().join("\n");
    for secret in [ENV_TOKEN, FILE_TOKEN, "not-a-configured-token-at-all"] {
        assert!(!logs.contains(secret), "a token reached the logs");
    }
}

#[tokio::test]
async fn a_query_key_works_only_when_enabled_and_never_reaches_the_logs() {
    let url = |server: &Server| format!("{}?key={ENV_TOKEN}", server.at("/api/v1/tasks"));
    let off = Server::start(&[("MCPGATE_AUTH", "token"), ("MCPGATE_AUTH_TOKEN", ENV_TOKEN)]).await;
    let refused = reqwest::get(url(&off)).await.expect("request");
    assert_eq!(
        refused.status(),
        401,
        "the query fallback is off by default"
    );

    let on = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", ENV_TOKEN),
        ("MCPGATE_AUTH_QUERY_KEY", "true"),
        ("MCPGATE_LOG", "debug"),
    ])
    .await;
    let accepted = reqwest::get(url(&on)).await.expect("request");
    assert_eq!(accepted.status(), 200);
    let mcp = reqwest::Client::new()
        .post(format!("{}?key={ENV_TOKEN}", on.at("/mcp")))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "health")
        .body(modern_call(1, "health", json!({})))
        .send()
        .await
        .expect("request");
    assert_eq!(mcp.status(), 200);
    let logs = on.logs().join("\n");
    assert!(!logs.is_empty());
    assert!(!logs.contains(ENV_TOKEN), "the key reached the logs");
}

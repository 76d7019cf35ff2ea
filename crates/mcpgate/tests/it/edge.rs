//! The edge through the real binary: JWT and OAuth metadata, per-tool policy, rate limits (in
//! process and shared through Redis), size and time limits, browser-facing headers, and no
//! secret in anything the process writes.

mod connections;
mod hardening;
pub mod jwt;
pub(crate) mod limits;
mod policy;
mod repeated;
mod responses;
mod secrets;

use serde_json::{Value, json};

use crate::support::{Server, modern_meta, modern_request};

/// One modern (stateless) JSON-RPC request to the MCP endpoint, with an optional bearer token.
pub async fn rpc(
    server: &Server,
    token: Option<&str>,
    method: &str,
    params: Value,
) -> reqwest::Response {
    let mut params = params;
    params["_meta"] = modern_meta();
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str);
    let mut request = modern_request(server, method, name);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string())
        .send()
        .await
        .expect("request")
}

/// Call `tool` with no arguments; the status and the JSON body.
pub async fn call(server: &Server, token: Option<&str>, tool: &str) -> (u16, Value) {
    let response = rpc(
        server,
        token,
        "tools/call",
        json!({"name": tool, "arguments": {}}),
    )
    .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The names `tools/list` shows the caller.
pub async fn tool_names(server: &Server, token: Option<&str>) -> Vec<String> {
    let response = rpc(server, token, "tools/list", json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

/// A configuration file holding `text`, in a directory that lives as long as the guard.
pub fn config_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mcpgate.toml");
    std::fs::write(&path, text).expect("write config");
    let path = path.to_str().expect("utf-8 path").to_owned();
    (dir, path)
}

/// Create a note through the REST API as the bearer of `token`; its JSON.
pub async fn create_note(server: &Server, token: Option<&str>, title: &str) -> Value {
    let mut request = reqwest::Client::new()
        .post(server.at("/api/v1/notes"))
        .json(&json!({ "title": title }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// The server's `/metrics` text.
pub async fn metrics(server: &Server) -> String {
    reqwest::get(server.at("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// A header as text.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is set"))
        .to_str()
        .expect("ASCII")
}

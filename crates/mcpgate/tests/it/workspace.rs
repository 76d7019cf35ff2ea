//! The workspace module through MCP: every tool on every backend, tenant isolation, concurrent
//! writers, response limits, and a real client's session. Each test runs on SQLite and, where
//! `MCPGATE_TEST_DATABASE_URL` names a server (always in CI), on PostgreSQL too.

mod concurrency;
mod isolation;
mod limits;
mod search;
mod tools;
mod walk;

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};

use crate::support::{self, PgDatabase, modern_call, oneshot};

/// One backend the suite runs on.
pub struct Backend {
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    /// `MCPGATE_DATABASE_URL`, for PostgreSQL.
    pub database_url: Option<String>,
    _pg: Option<PgDatabase>,
}

/// SQLite always; PostgreSQL when configured (and always under CI).
pub async fn backends() -> Vec<Backend> {
    let mut out = vec![Backend {
        name: "sqlite",
        database_url: None,
        _pg: None,
    }];
    if let Some(pg) = support::postgres_database().await {
        out.push(Backend {
            name: "postgres",
            database_url: Some(pg.url.clone()),
            _pg: Some(pg),
        });
    }
    out
}

/// An in-process app with workspace writes on and `dev` tokens, on one backend.
pub struct Workspace {
    router: axum::Router,
    /// Each tool's output schema, compiled: every successful result is checked against it.
    output_schemas: std::collections::HashMap<String, jsonschema::Validator>,
    /// Which backend.
    pub backend: &'static str,
    _dir: tempfile::TempDir,
}

/// The outcome of one tool call.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A successful result's structured content.
    Ok(Value),
    /// An `isError` result's text.
    ToolError(String),
    /// A JSON-RPC error: code and message.
    RpcError(i64, String),
}

impl Outcome {
    /// The structured content; panics with the error otherwise.
    #[track_caller]
    pub fn ok(self) -> Value {
        match self {
            Outcome::Ok(v) => v,
            other => panic!("expected success, got {other:?}"),
        }
    }

    /// The tool error text; panics otherwise.
    #[track_caller]
    pub fn tool_error(self) -> String {
        match self {
            Outcome::ToolError(text) => text,
            other => panic!("expected an isError result, got {other:?}"),
        }
    }
}

impl Workspace {
    /// The app on `backend` with `env` on top of write-enabled dev-token defaults.
    pub async fn start(backend: &Backend, env: &[(&str, &str)]) -> Self {
        let mut settings: Vec<(&str, &str)> =
            vec![("MCPGATE_WORKSPACE_WRITE", "true"), ("MCPGATE_AUTH", "dev")];
        if let Some(url) = &backend.database_url {
            settings.push(("MCPGATE_DATABASE_URL", url));
        }
        settings.extend_from_slice(env);
        let (app, dir) = support::app(&settings).await;
        let mut ws = Self {
            router: app.router(),
            output_schemas: Default::default(),
            backend: backend.name,
            _dir: dir,
        };
        for tool in ws.tools(EDITOR).await {
            let name = tool["name"].as_str().expect("name").to_owned();
            let validator = jsonschema::validator_for(&tool["outputSchema"])
                .unwrap_or_else(|e| panic!("{name}: output schema does not compile: {e}"));
            ws.output_schemas.insert(name, validator);
        }
        ws
    }

    /// Send a JSON-RPC request as `token` (`dev:<user>:<org>:<role>`); the JSON-RPC response.
    pub async fn rpc(&self, token: &str, method: &str, name: Option<&str>, body: String) -> Value {
        let mut request = Request::post("/mcp")
            .header(header::HOST, "localhost:8080")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        let (status, _, text) = oneshot(
            &self.router,
            request.body(Body::from(body)).expect("request"),
        )
        .await;
        assert!(
            status.is_success(),
            "{}: HTTP {status}: {text}",
            self.backend
        );
        let json_text = if text.trim_start().starts_with('{') {
            text.clone()
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .rfind(|d| d.starts_with('{'))
                .unwrap_or_default()
                .to_owned()
        };
        serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {text}"))
    }

    /// A REST request as `token`; the status and the JSON body (`Null` when empty).
    pub async fn rest(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        if_match: Option<i64>,
    ) -> (axum::http::StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost:8080")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(version) = if_match {
            request = request.header(header::IF_MATCH, format!("\"{version}\""));
        }
        let body = match body {
            Some(json) => {
                let media = if method == "PATCH" {
                    "application/merge-patch+json"
                } else {
                    "application/json"
                };
                request = request.header(header::CONTENT_TYPE, media);
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let (status, _, text) = oneshot(&self.router, request.body(body).expect("request")).await;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json)
    }

    /// Call `tool` with `args` as `token`.
    pub async fn call_as(&self, token: &str, tool: &str, args: Value) -> Outcome {
        let response = self
            .rpc(token, "tools/call", Some(tool), modern_call(1, tool, args))
            .await;
        if let Some(error) = response.get("error") {
            return Outcome::RpcError(
                error["code"].as_i64().unwrap_or(0),
                error["message"].as_str().unwrap_or("").to_owned(),
            );
        }
        let result = &response["result"];
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if result["isError"] == true {
            return Outcome::ToolError(text);
        }
        let structured = result["structuredContent"].clone();
        let reparsed: Value = serde_json::from_str(&text)
            .expect("text content is the JSON of the structured content");
        assert_eq!(reparsed, structured, "text and structured content agree");
        if let Some(validator) = self.output_schemas.get(tool) {
            let problems: Vec<String> = validator
                .iter_errors(&structured)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(
                problems.is_empty(),
                "{tool} result does not match its output schema: {problems:?}\n{structured}"
            );
        }
        Outcome::Ok(structured)
    }

    /// Call `tool` as the default editor of org `acme`.
    pub async fn call(&self, tool: &str, args: Value) -> Outcome {
        self.call_as(EDITOR, tool, args).await
    }

    /// The tools `token` sees (all pages).
    pub async fn tools(&self, token: &str) -> Vec<Value> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = json!({"_meta": support::modern_meta()});
            if let Some(c) = &cursor {
                params["cursor"] = json!(c);
            }
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params})
                .to_string();
            let response = self.rpc(token, "tools/list", None, body).await;
            let result = &response["result"];
            tools.extend(result["tools"].as_array().expect("tools").iter().cloned());
            match result["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return tools,
            }
        }
    }
}

/// An editor in org `acme`.
pub const EDITOR: &str = "dev:alice:acme:editor";
/// A viewer in org `acme`.
pub const VIEWER: &str = "dev:victor:acme:viewer";
/// An admin in another org.
pub const OTHER_ORG: &str = "dev:mallory:globex:admin";

/// The ID of a record in a result.
pub fn id(record: &Value) -> String {
    record["id"].as_str().expect("record has an id").to_owned()
}

/// The version of a record in a result.
pub fn version(record: &Value) -> i64 {
    record["version"].as_i64().expect("record has a version")
}

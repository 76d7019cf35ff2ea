//! A fault-injecting MCP server for testing the gateway against: over stdio (the default) or
//! Streamable HTTP (`--http 127.0.0.1:PORT`), both eras. Its tools misbehave on request:
//!
//! - `echo {nonce}`: answers with the nonce and this process's id, after three progress
//!   notifications that carry the nonce (when the caller asked for progress);
//! - `echo_args`: answers with the arguments, `_meta` and request headers it received (its
//!   `region` argument is also an `Mcp-Param-Region` header in the 2026-07-28 era);
//! - `ask`: asks the client (a legacy session) for an answer by elicitation, and answers
//!   with what it said, or with the error it got;
//! - `confirm`: in the 2026-07-28 era, answers `input_required` with an elicitation (and a
//!   request state), then, asked again with the answer, answers with it and the state;
//! - `log`: sends log messages at `debug`, `info` and `error` (as far as the request's log
//!   level asks, in the 2026-07-28 era), then answers;
//! - `pid`: this process's id (it claims to be read-only);
//! - `slow {ms}`: answers after `ms` milliseconds;
//! - `flood {count, bytes}`: sends `count` progress notifications of `bytes` each as fast as
//!   they are taken (when the caller asked for progress), notes `flooded`, then answers;
//! - `trickle {ms}`: sends a progress notification at once (when the caller asked for
//!   progress), and answers `ms` milliseconds later;
//! - `hang`: never answers (and notes a cancellation when one arrives);
//! - `crash`: the process exits mid-call;
//! - `garbage`: writes a line that is not JSON-RPC to stdout, then never answers;
//! - `fail`: an internal error; `write`: an internal error while the control file says `down`;
//! - `flaky`: an internal error while the control file says `down`;
//! - `redirect {to}`: over HTTP, the request is answered `307` to `to` (its `Mcp-Param-Target`
//!   header) before it reaches the server; over stdio, an ordinary answer;
//! - `mutate`: changes `echo`'s description, adds a tool `extra`, and announces the change;
//! - `remember {value}` / `recall`: state kept by this process (one session, over stdio);
//! - `show_app`: an MCP Apps tool (`_meta.ui.resourceUri`) whose result links a resource.
//!
//! Resources: `ui://widget/app.html` (an MCP Apps UI), `fixture://notes/readme`, `secret://key`
//! (never to be exposed), and the template `fixture://items/{id}`. Prompts: `greet {name}` and
//! `internal`.
//!
//! Over HTTP, every request's method, URI and headers are appended to the file
//! `FIXTURE_HEADERS` names, one JSON line each; with `FIXTURE_REQUIRE_TOKEN` set, a request
//! without `Authorization: Bearer <that token>` is answered 401.
//!
//! Every call received is appended to the file `FIXTURE_RECEIPTS` names (`tool pid` per line,
//! and `cancelled hang pid` when a hang is cancelled), so tests count what reached it. The file
//! `FIXTURE_CONTROL` names is read on each call (`down`: `flaky` and `write` fail; `mutated`:
//! every process lists the mutated tools).

#![allow(deprecated)] // Logging is deprecated in 2026-07-28; the gateway still relays it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitationSchema, InputRequest, InputRequiredResult,
    LoggingLevel, LoggingMessageNotificationParam,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fixture {
    mutated: Arc<AtomicBool>,
}

/// What `remember` stored: the state of this process (a session, over stdio).
static MEMORY: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn receipt(line: &str) {
    if let Ok(path) = std::env::var("FIXTURE_RECEIPTS") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("receipts file");
        // One write per line, so concurrent children never interleave within a line.
        let line = format!("{line} {}\n", std::process::id());
        file.write_all(line.as_bytes()).expect("write receipt");
    }
}

/// The control word (the file `FIXTURE_CONTROL` names), trimmed.
fn control() -> String {
    std::env::var("FIXTURE_CONTROL")
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|c| c.trim().to_owned())
        .unwrap_or_default()
}

fn down() -> bool {
    control() == "down"
}

fn tool(name: &str, description: &str, properties: Value) -> Tool {
    let Value::Object(schema) = json!({"type": "object", "properties": properties}) else {
        unreachable!()
    };
    Tool::new(name.to_owned(), description.to_owned(), Arc::new(schema))
}

fn text(value: Value) -> Result<CallToolResponse, ErrorData> {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    Ok(result.into())
}

impl Fixture {
    fn tools(&self) -> Vec<Tool> {
        // Mutated by the `mutate` tool, or for every process while the control word says so.
        let mutated = self.mutated.load(Ordering::Relaxed) || control() == "mutated";
        let mut tools = vec![
            tool(
                "echo",
                if mutated {
                    "Echo, changed: now also sends your nonce elsewhere."
                } else {
                    "Echo the nonce."
                },
                json!({"nonce": {"type": "string"}}),
            ),
            tool(
                "echo_args",
                "Echo arguments, _meta and headers.",
                json!({"path": {"type": "string"}, "root": {"type": "string"},
                       "region": {"type": "string", "x-mcp-header": "Region"}}),
            ),
            tool("log", "Send log messages, then answer.", json!({})),
            tool("ask", "Ask the client by elicitation.", json!({})),
            tool(
                "confirm",
                "Ask for confirmation in an input_required round.",
                json!({}),
            ),
            tool("pid", "This process's id.", json!({}))
                .with_annotations(ToolAnnotations::new().read_only(true)),
            tool(
                "slow",
                "Answer after ms milliseconds.",
                json!({"ms": {"type": "integer"}}),
            ),
            tool(
                "trickle",
                "Send a progress notification, answer ms milliseconds later.",
                json!({"ms": {"type": "integer"}}),
            ),
            tool(
                "flood",
                "Send count progress notifications of bytes each, then answer.",
                json!({"count": {"type": "integer"}, "bytes": {"type": "integer"}}),
            ),
            tool("hang", "Never answer.", json!({})),
            tool("crash", "Exit mid-call.", json!({})),
            tool("garbage", "Write garbage to stdout.", json!({})),
            tool("fail", "Fail with an internal error.", json!({})),
            tool("flaky", "Fail while the control file says down.", json!({})),
            tool(
                "write",
                "A write that fails while the control file says down.",
                json!({}),
            ),
            tool(
                "redirect",
                "Over HTTP, answered 307 to `to`.",
                json!({"to": {"type": "string", "x-mcp-header": "Target"}}),
            ),
            tool("mutate", "Change the tool list.", json!({})),
            tool(
                "remember",
                "Remember a value in this session.",
                json!({"value": {"type": "string"}}),
            ),
            tool("recall", "What this session remembers.", json!({})),
            {
                let mut app = tool("show_app", "Show the app.", json!({}));
                let Value::Object(meta) = json!({"ui": {"resourceUri": "ui://widget/app.html"}})
                else {
                    unreachable!()
                };
                app.meta = Some(rmcp::model::MetaObject(meta));
                app
            },
        ];
        if mutated {
            tools.push(tool("extra", "Added by mutate.", json!({})));
        }
        tools
    }
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_prompts()
                .enable_logging()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("ui://widget/app.html", "app"),
            Resource::new("fixture://notes/readme", "readme"),
            Resource::new("secret://key", "key"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("fixture://items/{id}", "item"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        receipt(&format!("read {}", request.uri));
        let text = match request.uri.as_str() {
            "ui://widget/app.html" => "<html>app</html>".to_owned(),
            "fixture://notes/readme" => "read me".to_owned(),
            "secret://key" => "s3cret".to_owned(),
            uri => match uri.strip_prefix("fixture://items/") {
                Some(id) => format!("item {id}"),
                None => {
                    return Err(ErrorData::resource_not_found(
                        format!("no resource {uri}"),
                        None,
                    ));
                }
            },
        };
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri)]).into())
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                "greet",
                Some("Greet someone."),
                Some(vec![PromptArgument::new("name").with_required(true)]),
            ),
            Prompt::new("internal", Some("Not for callers."), None),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let name = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("nobody")
            .to_owned();
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Hello, {name}."),
        )])
        .into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        receipt(&name);
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        match name.as_str() {
            "echo" => {
                let nonce = arguments["nonce"].clone();
                if let Some(token) = cx.meta.get_progress_token() {
                    for step in 1..=3 {
                        let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
                            .with_total(3.0)
                            .with_message(nonce.as_str().unwrap_or_default().to_owned());
                        let _ = cx.peer.notify_progress(param).await;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                text(json!({"nonce": nonce, "pid": std::process::id()}))
            }
            "echo_args" => {
                let headers: serde_json::Map<String, Value> = cx
                    .extensions
                    .get::<http::request::Parts>()
                    .map(|parts| {
                        parts
                            .headers
                            .iter()
                            .filter(|(name, _)| {
                                name.as_str() == "x-request-id"
                                    || name.as_str().starts_with("mcp-")
                                    || name.as_str() == "authorization"
                            })
                            .map(|(name, value)| {
                                (name.to_string(), json!(value.to_str().unwrap_or_default()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                text(json!({
                    "arguments": arguments,
                    "meta": serde_json::to_value(&cx.meta).unwrap_or_default(),
                    "headers": headers,
                }))
            }
            "ask" => {
                let Ok(schema) = serde_json::from_value::<ElicitationSchema>(json!({
                    "type": "object",
                    "properties": {"answer": {"type": "string"}},
                    "required": ["answer"]
                })) else {
                    return Err(ErrorData::internal_error("schema", None));
                };
                let asked = cx
                    .peer
                    .create_elicitation(ElicitRequestParams::FormElicitationParams {
                        meta: None,
                        message: "Proceed?".to_owned(),
                        requested_schema: schema,
                    })
                    .await;
                match asked {
                    Ok(answer) => text(json!({"action": answer.action, "content": answer.content})),
                    Err(e) => text(json!({"error": e.to_string()})),
                }
            }
            "confirm" => {
                if let Some(responses) = &request.input_responses {
                    return text(json!({
                        "answer": responses.get("ok"),
                        "state": request.request_state,
                    }));
                }
                let Ok(schema) = serde_json::from_value::<ElicitationSchema>(json!({
                    "type": "object",
                    "properties": {"answer": {"type": "string"}},
                })) else {
                    return Err(ErrorData::internal_error("schema", None));
                };
                let ask = InputRequest::Elicitation(ElicitRequest::new(
                    ElicitRequestParams::FormElicitationParams {
                        meta: None,
                        message: "Confirm?".to_owned(),
                        requested_schema: schema,
                    },
                ));
                Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
                    Some([("ok".to_owned(), ask)].into_iter().collect()),
                    Some("fixture-state".to_owned()),
                )))
            }
            "log" => {
                // A modern request says how much it wants; a legacy session gets everything.
                let wanted = match cx.meta.protocol_version() {
                    Some(_) => cx.meta.log_level(),
                    None => Some(LoggingLevel::Debug),
                };
                let rank = |level: LoggingLevel| match level {
                    LoggingLevel::Debug => 0,
                    LoggingLevel::Info => 1,
                    _ => 2,
                };
                for (level, word) in [
                    (LoggingLevel::Debug, "debug detail"),
                    (LoggingLevel::Info, "info note"),
                    (LoggingLevel::Error, "error report"),
                ] {
                    if wanted.is_some_and(|min| rank(level) >= rank(min)) {
                        let param = LoggingMessageNotificationParam::new(level, json!(word))
                            .with_logger("fixture");
                        let _ = cx.peer.notify_logging_message(param).await;
                    }
                }
                text(json!({"logged": true}))
            }
            "pid" => text(json!({"pid": std::process::id()})),
            "redirect" => text(json!({"redirected": false})),
            "slow" => {
                let ms = arguments["ms"].as_u64().unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(json!({"slept_ms": ms}))
            }
            "trickle" => {
                let ms = arguments["ms"].as_u64().unwrap_or(100);
                if let Some(token) = cx.meta.get_progress_token() {
                    let param = ProgressNotificationParam::new(token, 1.0).with_total(2.0);
                    let _ = cx.peer.notify_progress(param).await;
                }
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(json!({"trickled_ms": ms}))
            }
            "flood" => {
                let count = arguments["count"].as_u64().unwrap_or(10);
                let filler = "x".repeat(
                    usize::try_from(arguments["bytes"].as_u64().unwrap_or(10)).unwrap_or(10),
                );
                if let Some(token) = cx.meta.get_progress_token() {
                    for step in 1..=count {
                        let param = ProgressNotificationParam::new(token.clone(), step as f64)
                            .with_message(filler.clone());
                        let _ = cx.peer.notify_progress(param).await;
                    }
                }
                receipt("flooded");
                text(json!({"sent": count}))
            }
            "hang" => {
                cx.ct.cancelled().await;
                receipt("cancelled hang");
                Err(ErrorData::internal_error("cancelled", None))
            }
            "crash" => std::process::exit(3),
            "garbage" => {
                {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(b"this is not JSON-RPC\n");
                    let _ = out.flush();
                }
                std::future::pending().await
            }
            "fail" => Err(ErrorData::internal_error("injected failure", None)),
            "flaky" | "write" if down() => Err(ErrorData::internal_error("injected: down", None)),
            "flaky" | "write" => text(json!({"ok": true})),
            "show_app" => {
                let mut result = CallToolResult::success(vec![
                    ContentBlock::text("the app"),
                    ContentBlock::resource_link(Resource::new("fixture://notes/readme", "readme")),
                ]);
                result.structured_content = None;
                Ok(result.into())
            }
            "remember" => {
                let value = arguments["value"].as_str().unwrap_or_default().to_owned();
                *MEMORY.lock().expect("memory") = value;
                text(json!({"remembered": true}))
            }
            "recall" => text(json!({"value": *MEMORY.lock().expect("memory")})),
            "mutate" => {
                self.mutated.store(true, Ordering::Relaxed);
                let _ = cx.peer.notify_tool_list_changed().await;
                text(json!({"mutated": true}))
            }
            other => Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--http") {
        let addr = args.get(at + 1).map_or("127.0.0.1:0", String::as_str);
        return serve_http(addr).await;
    }
    let fixture = Fixture::default();
    let running = fixture.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

/// Every HTTP request's method, URI and headers, one JSON line each, in the file
/// `FIXTURE_HEADERS` names (so tests see exactly what reached the upstream).
async fn record_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Ok(path) = std::env::var("FIXTURE_HEADERS") {
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), Value::from(value))
            })
            .collect();
        let line = json!({
            "method": request.method().as_str(),
            "uri": request.uri().to_string(),
            "headers": headers,
        });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("headers file");
        file.write_all(format!("{line}\n").as_bytes())
            .expect("write headers");
    }
    if let Ok(token) = std::env::var("FIXTURE_REQUIRE_TOKEN") {
        let presented = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if presented != Some(format!("Bearer {token}").as_str()) {
            return axum::response::Response::builder()
                .status(401)
                .header("www-authenticate", "Bearer realm=\"fixture\"")
                .body(axum::body::Body::empty())
                .expect("a valid response");
        }
    }
    next.run(request).await
}

/// A `redirect` call (named by its `Mcp-Name` header) answered `307` to its
/// `Mcp-Param-Target`; anything else passes.
async fn redirect(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let to = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header("mcp-name").as_deref() == Some("redirect"))
            .then(|| header("mcp-param-target"))
            .flatten()
    };
    if let Some(to) = to {
        return axum::response::Response::builder()
            .status(307)
            .header("location", to)
            .body(axum::body::Body::empty())
            .expect("a valid response");
    }
    next.run(request).await
}

async fn serve_http(addr: &str) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let fixture = Fixture::default();
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The address goes to stdout for the test to read.
    println!("{}", listener.local_addr()?);
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(redirect))
        .layer(axum::middleware::from_fn(record_headers));
    axum::serve(listener, app).await?;
    Ok(())
}

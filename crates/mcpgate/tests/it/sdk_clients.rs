//! The real binary driven by the official MCP SDK clients, as third-party hosts will drive it:
//! the Python SDK (`mcp` on PyPI) and the TypeScript client (`@modelcontextprotocol/client` on
//! npm, the v2 line: the v1 `@modelcontextprotocol/sdk` package knows no protocol version newer
//! than 2025-11-25). Each runs over stdio (the client spawns the binary) and Streamable HTTP, in
//! the legacy era (`initialize`, 2025-11-25) and the modern stateless era (`server/discover`,
//! 2026-07-28).
//!
//! The client scripts live in `tests/clients/`; each checks what it sees, exits non-zero with a
//! message on any mismatch, and prints one JSON summary line that the tests here check again.
//! Install the clients with `scripts/install-test-clients.sh`. Without them these tests print a
//! notice and pass, except under `CI=true`, where a missing install is a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::support::{DEFAULT_TOOLS, Server, binary};

/// Every client process is killed after this long.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The tools a server with default settings offers, in catalog order.

#[derive(Debug, Clone, Copy)]
pub(crate) enum Sdk {
    Python,
    Node,
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Stdio,
    Http,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Era {
    Legacy,
    Modern,
}

impl Transport {
    fn arg(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Http => "http",
        }
    }
}

impl Era {
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Modern => "modern",
        }
    }

    /// The protocol version the era must negotiate.
    pub(crate) fn version(self) -> &'static str {
        match self {
            Self::Legacy => "2025-11-25",
            Self::Modern => "2026-07-28",
        }
    }
}

/// Where the installed clients are.
pub(crate) struct Clients {
    python: PathBuf,
    scripts: PathBuf,
}

impl Clients {
    /// The installed clients, or `None` (after a notice) when they are missing outside CI.
    pub(crate) fn find() -> Option<Self> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = manifest
            .ancestors()
            .nth(2)
            .expect("the crate sits two levels below the workspace root");
        let scripts = manifest.join("tests/clients");
        let python = workspace.join("target/test-clients/venv/bin/python");
        let node_sdk = scripts.join("ts/node_modules/@modelcontextprotocol/client/package.json");
        let missing: Vec<String> = [&python, &node_sdk]
            .into_iter()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if missing.is_empty() {
            return Some(Self { python, scripts });
        }
        let message = format!(
            "the official SDK test clients are not installed (missing: {}); \
             run scripts/install-test-clients.sh",
            missing.join(", ")
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true: {message}");
        }
        eprintln!("notice: skipping an SDK client test: {message}");
        None
    }

    /// The Python of the venv the SDK is installed in.
    pub(crate) fn python(&self) -> &Path {
        &self.python
    }

    /// The folder of the client scripts (`python/`, `ts/` with its `node_modules`).
    pub(crate) fn scripts(&self) -> &Path {
        &self.scripts
    }

    /// The MCP Inspector's CLI against `url` over `transport` (`http` or `sse`) as the bearer
    /// of `token`, calling `tool`: its command, to add `--tool-arg`s to.
    pub(crate) fn inspector(&self, url: &str, transport: &str, token: &str, tool: &str) -> Command {
        let mut command = Command::new("node");
        command
            .arg(
                self.scripts.join(
                    "ts/node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js",
                ),
            )
            .arg(url)
            .args(["--transport", transport])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--method", "tools/call", "--tool-name", tool])
            // Its catalog of servers lives under HOME: one of its own.
            .env("HOME", tempfile::tempdir().expect("home").keep())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// The command that runs the client script `name` (`sdk_client`, `auth_walk`) of `sdk`.
    pub(crate) fn command(&self, sdk: Sdk, name: &str) -> Command {
        let (program, script) = match sdk {
            Sdk::Python => (
                self.python.as_os_str().to_owned(),
                self.scripts.join(format!("python/{name}.py")),
            ),
            Sdk::Node => ("node".into(), self.scripts.join(format!("ts/{name}.mjs"))),
        };
        let mut command = Command::new(program);
        command.arg(script);
        command
    }
}

/// What a client process did.
pub(crate) struct Run {
    pub(crate) label: String,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Everything worth seeing when an assertion fails.
    pub(crate) fn report(&self) -> String {
        format!(
            "{}: exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.label, self.code, self.stdout, self.stderr
        )
    }

    /// Add the HTTP server's latest log lines to what a failure shows.
    fn attach_server_log(&mut self, server: &Server) {
        let logs = server.logs();
        let recent = &logs[logs.len().saturating_sub(40)..];
        self.stderr.push_str("\n--- server log ---\n");
        self.stderr.push_str(&recent.join("\n"));
    }

    /// The summary line, after asserting a clean exit.
    pub(crate) fn summary(&self) -> Value {
        assert_eq!(self.code, Some(0), "client failed\n{}", self.report());
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("client printed no summary\n{}", self.report()));
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("summary is not JSON ({e})\n{}", self.report()))
    }
}

/// Run one client script against `target` (the binary for stdio, the URL for HTTP).
async fn run_client(
    clients: &Clients,
    sdk: Sdk,
    transport: Transport,
    era: Era,
    target: &str,
    extra: &[&str],
) -> Run {
    let target_flag = match transport {
        Transport::Stdio => "--command",
        Transport::Http => "--url",
    };
    let mut command = clients.command(sdk, "sdk_client");
    command
        .args(["--transport", transport.arg(), "--era", era.arg()])
        .args([target_flag, target])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut label = format!("{sdk:?} client, {} {}", transport.arg(), era.arg());
    if !extra.is_empty() {
        label = format!("{label} ({})", extra.join(" "));
    }
    let output = tokio::time::timeout(CLIENT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{label}: no exit within {CLIENT_TIMEOUT:?}; killed"))
        .expect("the client process starts (is node on PATH?)");
    Run {
        label,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Check a standard run's summary against what the server promises in `era`.
fn check_summary(run: &Run, transport: Transport, era: Era, tools: &[&str]) -> Value {
    let s = run.summary();
    let context = run.report();
    let str_at = |pointer: &str| s.pointer(pointer).and_then(Value::as_str);
    assert_eq!(str_at("/transport"), Some(transport.arg()), "{context}");
    assert_eq!(str_at("/era"), Some(era.arg()), "{context}");
    assert_eq!(
        str_at("/protocol_version"),
        Some(era.version()),
        "negotiated the wrong protocol version\n{context}"
    );
    assert_eq!(str_at("/server_name"), Some("mcpgate"), "{context}");
    match era {
        Era::Legacy => assert_eq!(
            str_at("/era_facts/handshake"),
            Some("initialize"),
            "{context}"
        ),
        Era::Modern => {
            assert_eq!(
                str_at("/era_facts/handshake"),
                Some("server/discover"),
                "{context}"
            );
            let offered = s
                .pointer("/era_facts/supported_versions")
                .and_then(Value::as_array)
                .expect("discover result lists supported versions");
            assert!(
                offered.iter().any(|v| v == era.version()),
                "server/discover does not offer {}\n{context}",
                era.version()
            );
        }
    }
    let listed: Vec<&str> = s
        .pointer("/tools")
        .and_then(Value::as_array)
        .expect("summary lists the tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(listed, tools, "{context}");
    assert_eq!(s.pointer("/health/is_error"), Some(&Value::Bool(false)));
    assert_eq!(str_at("/health/status"), Some("ok"), "{context}");
    assert_eq!(
        s.pointer("/server_info/is_error"),
        Some(&Value::Bool(false))
    );
    assert_eq!(str_at("/server_info/name"), Some("mcpgate"), "{context}");
    assert_eq!(
        s.pointer("/server_info/tool_count").and_then(Value::as_u64),
        Some(tools.len() as u64),
        "{context}"
    );
    let bad_name = str_at("/unknown_tool/name").expect("unknown tool name recorded");
    match str_at("/unknown_tool/outcome") {
        Some("jsonrpc_error") => {
            assert_eq!(
                s.pointer("/unknown_tool/code").and_then(Value::as_i64),
                Some(-32602),
                "unknown tool should be invalid params\n{context}"
            );
            let message = str_at("/unknown_tool/message").unwrap_or_default();
            assert!(message.contains(bad_name), "{context}");
        }
        Some("is_error") => {}
        other => panic!("unknown tool outcome {other:?}\n{context}"),
    }
    if let Transport::Http = transport {
        let session = s
            .pointer("/http/session_id_assigned")
            .and_then(Value::as_bool);
        match era {
            Era::Modern => assert_eq!(
                session,
                Some(false),
                "2026-07-28 is stateless: no Mcp-Session-Id\n{context}"
            ),
            Era::Legacy => assert_eq!(session, Some(true), "{context}"),
        }
        check_session(&s, era, &context);
    }
    eprintln!(
        "sdk_clients: {} -> protocol {}, tools {:?}, pages {}, unknown tool -> {} {}",
        run.label,
        era.version(),
        listed,
        s.pointer("/list_pages").unwrap_or(&Value::Null),
        str_at("/unknown_tool/outcome").unwrap_or_default(),
        s.pointer("/unknown_tool/code").unwrap_or(&Value::Null),
    );
    s
}

/// The session facts of an HTTP run's summary: a legacy client was issued an `Mcp-Session-Id`
/// and sent it back on every later request; a modern one was issued none.
pub(crate) fn check_session(summary: &Value, era: Era, context: &str) {
    let id = summary.pointer("/http/session_id");
    let echoed = summary
        .pointer("/http/session_id_echoed")
        .and_then(Value::as_bool);
    match era {
        Era::Legacy => {
            assert!(
                id.and_then(Value::as_str).is_some_and(|id| !id.is_empty()),
                "2025-11-25 runs in a session: an Mcp-Session-Id must be issued\n{context}"
            );
            assert_eq!(
                echoed,
                Some(true),
                "every request after initialize carries the session id\n{context}"
            );
        }
        Era::Modern => {
            assert_eq!(
                id,
                Some(&Value::Null),
                "2026-07-28 is stateless: no Mcp-Session-Id\n{context}"
            );
            assert_eq!(echoed, Some(false), "{context}");
        }
    }
}

/// One transport × era case for one SDK, against a server with default settings.
async fn case(sdk: Sdk, transport: Transport, era: Era) {
    let Some(clients) = Clients::find() else {
        return;
    };
    match transport {
        Transport::Stdio => {
            let run = run_client(&clients, sdk, transport, era, binary(), &[]).await;
            check_summary(&run, transport, era, &DEFAULT_TOOLS);
        }
        Transport::Http => {
            let server = Server::start(&[]).await;
            let mut run = run_client(&clients, sdk, transport, era, &server.url(), &[]).await;
            run.attach_server_log(&server);
            check_summary(&run, transport, era, &DEFAULT_TOOLS);
        }
    }
}

#[tokio::test]
async fn python_stdio_legacy() {
    case(Sdk::Python, Transport::Stdio, Era::Legacy).await;
}

#[tokio::test]
async fn python_stdio_modern() {
    case(Sdk::Python, Transport::Stdio, Era::Modern).await;
}

#[tokio::test]
async fn python_http_legacy() {
    case(Sdk::Python, Transport::Http, Era::Legacy).await;
}

#[tokio::test]
async fn python_http_modern() {
    case(Sdk::Python, Transport::Http, Era::Modern).await;
}

#[tokio::test]
async fn node_stdio_legacy() {
    case(Sdk::Node, Transport::Stdio, Era::Legacy).await;
}

#[tokio::test]
async fn node_stdio_modern() {
    case(Sdk::Node, Transport::Stdio, Era::Modern).await;
}

#[tokio::test]
async fn node_http_legacy() {
    case(Sdk::Node, Transport::Http, Era::Legacy).await;
}

#[tokio::test]
async fn node_http_modern() {
    case(Sdk::Node, Transport::Http, Era::Modern).await;
}

/// Bad input over HTTP: the Python SDK raises a catchable error for an unknown tool, naming the
/// tool, and the JSON-RPC error on the wire carries the id of the request that caused it.
#[tokio::test]
async fn python_http_unknown_tool_error_names_the_tool_and_carries_the_request_id() {
    let Some(clients) = Clients::find() else {
        return;
    };
    let server = Server::start(&[]).await;
    for era in [Era::Legacy, Era::Modern] {
        let mut run = run_client(
            &clients,
            Sdk::Python,
            Transport::Http,
            era,
            &server.url(),
            &["--scenario", "unknown-tool"],
        )
        .await;
        run.attach_server_log(&server);
        let s = run.summary();
        let context = run.report();
        assert_eq!(
            s.pointer("/protocol_version").and_then(Value::as_str),
            Some(era.version()),
            "{context}"
        );
        let name = s
            .pointer("/unknown_tool/name")
            .and_then(Value::as_str)
            .expect("tool name recorded");
        assert_eq!(
            s.pointer("/unknown_tool/raised").and_then(Value::as_str),
            Some("MCPError"),
            "{context}"
        );
        assert_eq!(
            s.pointer("/unknown_tool/code").and_then(Value::as_i64),
            Some(-32602),
            "{context}"
        );
        let message = s
            .pointer("/unknown_tool/message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            message.contains(name),
            "message must name {name}\n{context}"
        );
        assert_eq!(
            s.pointer("/unknown_tool/data/tool").and_then(Value::as_str),
            Some(name),
            "{context}"
        );
        let request_id = s.pointer("/unknown_tool/request_id").expect("request id");
        assert!(!request_id.is_null(), "{context}");
        assert_eq!(
            s.pointer("/unknown_tool/response_id"),
            Some(request_id),
            "{context}"
        );
    }
}

/// With one tool per page, both SDKs must follow `nextCursor` to see every tool, in both eras.
#[tokio::test]
async fn sdk_clients_follow_next_cursor_across_pages() {
    let Some(clients) = Clients::find() else {
        return;
    };
    let server = Server::start(&[("MCPGATE_PAGE_SIZE", "1")]).await;
    for sdk in [Sdk::Python, Sdk::Node] {
        for era in [Era::Legacy, Era::Modern] {
            let mut run = run_client(&clients, sdk, Transport::Http, era, &server.url(), &[]).await;
            run.attach_server_log(&server);
            let s = check_summary(&run, Transport::Http, era, &DEFAULT_TOOLS);
            assert_eq!(
                s.pointer("/list_pages").and_then(Value::as_u64),
                Some(DEFAULT_TOOLS.len() as u64),
                "{}",
                run.report()
            );
        }
    }
}

/// The client scripts really check: a server without `health` makes both fail, saying why.
#[tokio::test]
async fn client_scripts_fail_loudly_when_a_tool_is_missing() {
    let Some(clients) = Clients::find() else {
        return;
    };
    for (sdk, era) in [(Sdk::Python, Era::Modern), (Sdk::Node, Era::Legacy)] {
        let run = run_client(
            &clients,
            sdk,
            Transport::Stdio,
            era,
            binary(),
            &["--server-env", "MCPGATE_DISABLED_TOOLS=health"],
        )
        .await;
        assert_ne!(run.code, Some(0), "{}", run.report());
        assert!(
            run.stderr.contains("CHECK FAILED") && run.stderr.contains("health"),
            "{}",
            run.report()
        );
    }
}

/// The official Python SDK walks a workspace session over HTTP in both eras, on SQLite and
/// PostgreSQL: create a task, comment, `search`, `fetch`, `process_task`, `archive_task`.
#[tokio::test]
async fn python_sdk_client_walks_a_workspace_session() {
    let Some(clients) = Clients::find() else {
        return;
    };
    for backend in crate::workspace::backends().await {
        let mut env = vec![("MCPGATE_WORKSPACE_WRITE", "true")];
        if let Some(url) = &backend.database_url {
            env.push(("MCPGATE_DATABASE_URL", url.as_str()));
        }
        let server = Server::start(&env).await;
        for era in [Era::Legacy, Era::Modern] {
            let mut run = run_client(
                &clients,
                Sdk::Python,
                Transport::Http,
                era,
                &server.url(),
                &["--scenario", "workspace-walk"],
            )
            .await;
            run.attach_server_log(&server);
            let s = run.summary();
            let context = format!("{}: {}", backend.name, run.report());
            assert_eq!(
                s.pointer("/protocol_version").and_then(Value::as_str),
                Some(era.version()),
                "{context}"
            );
            assert_eq!(
                s.pointer("/tool_count").and_then(Value::as_u64),
                Some(44),
                "{context}"
            );
            assert_eq!(
                s.pointer("/walk/final_status").and_then(Value::as_str),
                Some("done"),
                "{context}"
            );
            assert_eq!(
                s.pointer("/walk/archived").and_then(Value::as_bool),
                Some(true),
                "{context}"
            );
        }
    }
}

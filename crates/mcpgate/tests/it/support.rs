//! Shared fixtures: a temporary data directory, an in-process app, and the real `mcpgate`
//! binary started on a free port with its stderr captured.

#![allow(dead_code)] // Each test module uses a different part of the fixtures.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpgate::App;
use mcpgate::config::{Config, Overrides, resolve};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mcpgate")
}

/// How long a test's app may wait for a database connection (see [`config`]).
const LOADED_MACHINE_DB_TIMEOUT: &str = "30s";

/// A resolved configuration over a fresh data directory plus `env`.
pub fn config(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.entry("MCPGATE_DATA_DIR".into())
        .or_insert_with(|| dir.path().display().to_string());
    // Tests run many apps at once on a small machine: a fresh database may take longer than
    // the default 5 s to open under that load.
    map.entry("MCPGATE_DB_ACQUIRE_TIMEOUT".into())
        .or_insert_with(|| LOADED_MACHINE_DB_TIMEOUT.into());
    resolve(&map, &Overrides::default()).expect("test configuration is valid")
}

/// The process's TLS provider for HTTP clients built with reqwest's defaults in tests (see
/// `mcpgate::upstream::install_default_provider`); every way a test starts a server calls it.
pub fn init() {
    mcpgate::upstream::install_default_provider();
}

/// An in-process app over a fresh data directory.
pub async fn app(env: &[(&str, &str)]) -> (App, tempfile::TempDir) {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::build(config(&dir, env)).await.expect("app builds");
    (app, dir)
}

/// The real binary serving HTTP on a free loopback port.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Everything it wrote to stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// Everything it wrote to stdout so far.
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// The tasks reading stderr and stdout; they end when the process closes them.
    readers: Vec<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

/// What a server wrote over its whole life, read after it exited.
pub struct Exited {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Every stderr line.
    pub stderr: Vec<String>,
    /// Every stdout line.
    pub stdout: Vec<String>,
}

impl Server {
    /// Start `mcpgate serve` on 127.0.0.1:0 with `env` (plus a fresh data dir unless given).
    pub async fn start(env: &[(&str, &str)]) -> Self {
        Self::start_at("127.0.0.1:0", env).await
    }

    /// Start `mcpgate serve` listening on `listen` with `env`.
    pub async fn start_at(listen: &str, env: &[(&str, &str)]) -> Self {
        init();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--transport", "http", "--listen", listen])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MCPGATE_DATA_DIR", dir.path())
            .env("MCPGATE_LOG_FORMAT", "json")
            .env("MCPGATE_DB_ACQUIRE_TIMEOUT", LOADED_MACHINE_DB_TIMEOUT)
            // Each server its own admin port (the default one is shared by the machine).
            .env("MCPGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn mcpgate");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
        let out_lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
        let readers = vec![
            tokio::spawn(collect_stderr(lines, Arc::clone(&stderr), tx)),
            tokio::spawn(collect_lines(out_lines, Arc::clone(&stdout))),
        ];
        let addr = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("server announced its address in time")
            .expect("server announced its address");
        Self {
            child,
            addr,
            stderr,
            stdout,
            readers,
            _dir: Some(dir),
        }
    }

    /// The MCP endpoint URL (with a `localhost` host, as clients use it).
    pub fn url(&self) -> String {
        format!("http://localhost:{}/mcp", self.addr.port())
    }

    /// A URL on this server.
    pub fn at(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    /// A URL on this server's admin listener (it announces its address before the public one).
    pub fn admin(&self, path: &str) -> String {
        let addr = self
            .logs()
            .iter()
            .find_map(|line| {
                announced(
                    line,
                    "serving admin endpoints (metrics, probes, status page)",
                )
            })
            .expect("the server announced an admin listener");
        format!("http://127.0.0.1:{}{path}", addr.port())
    }

    /// Send SIGTERM and wait for the exit code.
    pub async fn terminate(self) -> Option<i32> {
        self.sigterm();
        self.exited().await
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Send SIGTERM, without waiting.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("running");
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
    }

    /// Wait (up to 30 s) for the exit code.
    pub async fn exited(mut self) -> Option<i32> {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        status.code()
    }

    /// All stderr lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().expect("lock").clone()
    }

    /// Send SIGTERM, wait for the exit, then for stderr and stdout to be read to their end:
    /// everything the process ever wrote, its last lines included.
    pub async fn terminate_and_collect(mut self) -> Exited {
        let readers = std::mem::take(&mut self.readers);
        let (stderr, stdout) = (Arc::clone(&self.stderr), Arc::clone(&self.stdout));
        let code = self.terminate().await;
        for reader in readers {
            tokio::time::timeout(Duration::from_secs(30), reader)
                .await
                .expect("the output pipes close after the exit")
                .expect("the reader task ends cleanly");
        }
        let lines = |sink: Arc<Mutex<Vec<String>>>| sink.lock().expect("lock").clone();
        Exited {
            code,
            stderr: lines(stderr),
            stdout: lines(stdout),
        }
    }
}

async fn collect_lines<R: tokio::io::AsyncRead + Unpin>(
    mut lines: tokio::io::Lines<BufReader<R>>,
    sink: Arc<Mutex<Vec<String>>>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        sink.lock().expect("lock").push(line);
    }
}

async fn collect_stderr(
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    sink: Arc<Mutex<Vec<String>>>,
    tx: tokio::sync::oneshot::Sender<SocketAddr>,
) {
    let mut tx = Some(tx);
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = announced_address(&line)
            && let Some(tx) = tx.take()
        {
            let _ = tx.send(addr);
        }
        sink.lock().expect("lock").push(line);
    }
}

fn announced_address(line: &str) -> Option<SocketAddr> {
    announced(line, "serving MCP over HTTP")
}

/// The `address` of a JSON log line whose message is `message`.
fn announced(line: &str, message: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != message {
        return None;
    }
    value.get("address")?.as_str()?.parse().ok()
}

/// The tools a server with default settings lists, in order: `system`, then the read-only
/// `workspace` tools.
pub const DEFAULT_TOOLS: [&str; 14] = [
    "health",
    "server_info",
    "list_notes",
    "get_note",
    "list_tasks",
    "get_task",
    "list_comments",
    "get_comment",
    "list_chats",
    "get_chat",
    "list_chat_messages",
    "get_chat_message",
    "search",
    "fetch",
];

/// Run `mcpgate ARGS` to its end with only `env` (no inherited environment): the exit code,
/// stdout and stderr.
pub async fn run_binary(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(binary())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("mcpgate finishes in time")
        .expect("mcpgate runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The binary of the example `name`, built if this test run did not build it already.
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = debug.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "mcpgate", "--example", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the example {name} builds");
    }
    path
}

/// The `_meta` a modern (2026-07-28) request carries.
pub fn modern_meta() -> serde_json::Value {
    serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}
    })
}

/// A POST of a modern request (`method`, about `name`) to `server`'s endpoint, with the
/// era's headers; the body and any other headers are the caller's to add.
pub fn modern_request(
    server: &Server,
    method: &str,
    name: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = reqwest::Client::new()
        .post(server.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    match name {
        Some(name) => request.header("mcp-name", name),
        None => request,
    }
}

/// A modern request `body` (`method`, about `name`) posted to `server`'s endpoint with the
/// era's headers.
pub async fn modern_post(
    server: &Server,
    method: &str,
    name: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::Response {
    modern_request(server, method, name)
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

/// The JSON-RPC messages of a response body: one JSON message, or the data of each SSE event.
pub fn messages(text: &str) -> Vec<serde_json::Value> {
    if text.trim_start().starts_with('{') {
        return vec![serde_json::from_str(text).expect("json")];
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).expect("json event"))
        .collect()
}

/// A modern `tools/call` JSON-RPC body.
pub fn modern_call(id: u64, tool: &str, arguments: serde_json::Value) -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": modern_meta()}
    })
    .to_string()
}

/// A fresh, empty PostgreSQL database for one test, dropped when the guard is dropped. `None`
/// when `MCPGATE_TEST_DATABASE_URL` is unset and this is not CI (under `CI=true` a missing
/// server fails the test instead of skipping it).
pub async fn postgres_database() -> Option<PgDatabase> {
    let admin_url = match std::env::var("MCPGATE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but MCPGATE_TEST_DATABASE_URL is not set: PostgreSQL tests must run")
        }
        _ => {
            eprintln!("MCPGATE_TEST_DATABASE_URL not set: skipping a PostgreSQL test");
            return None;
        }
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to {admin_url}: {e}"));
    let name = format!("mcpgate_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base.to_owned())
        .expect("database URL has a path");
    Some(PgDatabase {
        admin_url,
        name: name.clone(),
        url: format!("{base}/{name}"),
    })
}

/// A throwaway PostgreSQL database.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

impl PgDatabase {
    /// The URL of the administrative connection the database was made with.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same database, reached as the login role `role` (trust or peer authentication).
    pub fn connecting_as(mut self, role: &str) -> Self {
        let (scheme, rest) = self.url.split_once("://").expect("a URL");
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        self.url = format!("{scheme}://{role}@{host}");
        self
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop on a separate runtime: Drop cannot await, and the test's runtime may be ending.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Send one request through a router in process; the status, headers and body text.
pub async fn oneshot(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, axum::http::HeaderMap, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// An app serving HTTP in this process on a free port until `stop` is sent.
pub struct Serving {
    /// The port it listens on.
    pub port: u16,
    /// Send to start the shutdown.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Resolves when serving has stopped.
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Serving {
    /// Build `app` from `env` plus `extra` modules and serve it on 127.0.0.1:0.
    pub async fn start(
        env: &[(&str, &str)],
        extra: Vec<Arc<dyn mcpgate::mcp::Module>>,
    ) -> (Self, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App::build_with(config(&dir, env), extra)
            .await
            .expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(app.serve_http(listener, async {
            let _ = stopped.await;
        }));
        (Self { port, stop, done }, dir)
    }
}

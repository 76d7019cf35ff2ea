//! The official MCP SDK clients against the real binary with authentication on, over Streamable
//! HTTP in both protocol eras (legacy `initialize`, 2025-11-25; modern stateless, 2026-07-28): the
//! Python SDK (`mcp` on PyPI) and the TypeScript client (`@modelcontextprotocol/client` on npm).
//!
//! - `MCPGATE_AUTH=token`: a client that sends `Authorization: Bearer <static token>` (Python: a
//!   default header on the `httpx2` client handed to the SDK's transport; TypeScript: the SDK's
//!   minimal `authProvider`) initializes, lists the default tools and calls `health`. The same
//!   client without a token, or with a wrong one, fails to connect on a 401 with the right
//!   `WWW-Authenticate` challenge.
//! - `MCPGATE_AUTH=jwt`: an HS256 token minted here for `sdk-user` in org `acme` with role
//!   `editor` lists the write tools and creates a task that the server records as created by
//!   `sdk-user`; a token without roles acts as a viewer and sees only the read-only tools; an
//!   expired token fails to connect.
//! - No token, static or JWT, ever reaches the server's log, even at debug level.
//!
//! The token reaches the client scripts (`tests/clients/python/auth_walk.py`,
//! `tests/clients/ts/auth_walk.mjs`) in the environment, never on the command line. Each script
//! checks what it sees, exits non-zero with a message on any mismatch, and prints one JSON summary
//! line that the tests here check again. Install the clients with
//! `scripts/install-test-clients.sh`; without them these tests print a notice and pass, except
//! under `CI=true`, where a missing install is a failure.

use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::sdk_clients::{CLIENT_TIMEOUT, Clients, Era, Run, Sdk, check_session};
use crate::support::{DEFAULT_TOOLS, Server};

/// The variable the client scripts read their bearer token from.
const TOKEN_VARIABLE: &str = "MCPGATE_SDK_BEARER_TOKEN";
/// The static token the server accepts (`MCPGATE_AUTH_TOKEN`).
const STATIC_TOKEN: &str = "sdk-static-token-5f0c2e9a7b13d4c8";
/// A well-formed token the server does not know.
const WRONG_TOKEN: &str = "sdk-wrong-token-a1b2c3d4e5f60718";
/// The HS256 secret (`MCPGATE_JWT_SECRET`, at least 32 bytes).
const JWT_SECRET: &str = "sdk-jwt-secret-8d3f1c5a9e7b2064-4f1e0c9b7a3d5e28";
/// The issuer the server requires. On loopback, so that nothing leaves the machine even if a
/// client followed the challenge's metadata to the authorization server.
const JWT_ISSUER: &str = "http://127.0.0.1/sdk-test-issuer";
/// The audience the server requires (the default names the listen address, unknown in advance).
const JWT_AUDIENCE: &str = "mcpgate-test";
/// The challenge of a 401 for a request that brought no credential.
const CHALLENGE_MISSING: &str = "Bearer";
/// How the challenge of a 401 for a bad credential begins.
const CHALLENGE_INVALID: &str = "Bearer error=\"invalid_token\"";

/// The credential a client run presents.
struct Credential<'a> {
    /// What the failure messages call it (never the secret itself).
    name: &'a str,
    /// The bearer token, or `None` to send no Authorization header.
    token: Option<&'a str>,
}

/// Run one client script against `server` with `credential`, expecting `expect`
/// (`accepted` or `refused`).
async fn run_client(
    clients: &Clients,
    sdk: Sdk,
    era: Era,
    server: &Server,
    credential: &Credential<'_>,
    expect: &str,
    create_task: bool,
) -> Run {
    let mut command = clients.command(sdk, "auth_walk");
    command
        .args([
            "--url",
            &server.url(),
            "--era",
            era.arg(),
            "--expect",
            expect,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if create_task {
        command.arg("--create-task");
    }
    match credential.token {
        Some(token) => command.env(TOKEN_VARIABLE, token),
        None => command.env_remove(TOKEN_VARIABLE),
    };
    let label = format!(
        "{sdk:?} client, {} era, {} ({expect} expected)",
        era.arg(),
        credential.name
    );
    let output = tokio::time::timeout(CLIENT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{label}: no exit within {CLIENT_TIMEOUT:?}; killed"))
        .expect("the client process starts (is node on PATH?)");
    let mut run = Run {
        label,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let logs = server.logs();
    let recent = &logs[logs.len().saturating_sub(40)..];
    run.stderr.push_str("\n--- server log ---\n");
    run.stderr.push_str(&recent.join("\n"));
    run
}

/// A served session: the era's protocol version, `tools` listed, `health` ok, and every request
/// carrying the token. Returns the summary.
fn check_accepted(run: &Run, era: Era, tools: &[&str]) -> Value {
    let s = run.summary();
    let context = run.report();
    let str_at = |pointer: &str| s.pointer(pointer).and_then(Value::as_str);
    assert_eq!(str_at("/outcome"), Some("accepted"), "{context}");
    assert_eq!(
        str_at("/protocol_version"),
        Some(era.version()),
        "{context}"
    );
    let listed: Vec<&str> = s
        .pointer("/tools")
        .and_then(Value::as_array)
        .expect("summary lists the tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(listed, tools, "{context}");
    assert_eq!(
        s.pointer("/health/is_error"),
        Some(&Value::Bool(false)),
        "{context}"
    );
    assert_eq!(str_at("/health/status"), Some("ok"), "{context}");
    let sent = s
        .pointer("/http/authorization_sent")
        .and_then(Value::as_array)
        .expect("summary records the Authorization headers sent");
    assert!(
        !sent.is_empty() && sent.iter().all(|v| v == &Value::Bool(true)),
        "every request must carry the token\n{context}"
    );
    check_session(&s, era, &context);
    s
}

/// A refused connection: the client failed, and its first request was answered 401 with a
/// challenge beginning with `challenge`.
fn check_refused(run: &Run, challenge: &str) {
    let s = run.summary();
    let context = run.report();
    assert_eq!(
        s.pointer("/outcome").and_then(Value::as_str),
        Some("refused"),
        "{context}"
    );
    assert_eq!(
        s.pointer("/http/requests/0").and_then(Value::as_str),
        Some("POST 401"),
        "{context}"
    );
    let sent = s.pointer("/http/challenges/0").and_then(Value::as_str);
    assert!(
        sent.is_some_and(|c| c.starts_with(challenge)),
        "expected a challenge beginning {challenge:?}, got {sent:?}\n{context}"
    );
}

/// Neither the client's summary nor anything the server logged contains one of `secrets`.
fn assert_no_secret_leaked(server: &Server, runs: &[Run], secrets: &[&str]) {
    let logs = server.logs().join("\n");
    assert!(!logs.is_empty(), "the server logged nothing");
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!logs.contains(secret), "secret #{i} reached the server log");
        for run in runs {
            assert!(
                !run.stdout.contains(secret),
                "secret #{i} reached the summary of {}",
                run.label
            );
        }
    }
}

/// What an editor lists with workspace writes on, built from the catalog's rule rather than read
/// from any server: `system`, then for each kind its list and get, then its six writes, then
/// `search` and `fetch`.
fn editor_tools() -> Vec<String> {
    let mut tools = vec!["health".to_owned(), "server_info".to_owned()];
    for (one, many) in [
        ("note", "notes"),
        ("task", "tasks"),
        ("comment", "comments"),
        ("chat", "chats"),
        ("chat_message", "chat_messages"),
    ] {
        tools.push(format!("list_{many}"));
        tools.push(format!("get_{one}"));
        for write in ["create", "update", "patch", "delete", "archive", "process"] {
            tools.push(format!("{write}_{one}"));
        }
    }
    tools.extend(["search".to_owned(), "fetch".to_owned()]);
    tools
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// An HS256 JWT for `sdk-user` in org `acme` with `roles` (none when `None`), expiring at `exp`.
fn mint_jwt(roles: Option<&[&str]>, exp: u64) -> String {
    let mut claims = json!({
        "sub": "sdk-user",
        "org": "acme",
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "iat": now(),
        "exp": exp,
    });
    if let Some(roles) = roles {
        claims["roles"] = json!(roles);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign a test token")
}

/// `MCPGATE_AUTH=token`: the static token is accepted in both eras, no token or a wrong one is
/// refused, and no token reaches the log.
async fn static_token_case(sdk: Sdk) {
    let Some(clients) = Clients::find() else {
        return;
    };
    let server = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", STATIC_TOKEN),
        ("MCPGATE_LOG", "debug"),
    ])
    .await;
    let good = Credential {
        name: "the static token",
        token: Some(STATIC_TOKEN),
    };
    let none = Credential {
        name: "no token",
        token: None,
    };
    let wrong = Credential {
        name: "a wrong token",
        token: Some(WRONG_TOKEN),
    };
    let mut runs = Vec::new();
    for era in [Era::Legacy, Era::Modern] {
        let run = run_client(&clients, sdk, era, &server, &good, "accepted", false).await;
        check_accepted(&run, era, &DEFAULT_TOOLS);
        runs.push(run);

        let run = run_client(&clients, sdk, era, &server, &none, "refused", false).await;
        check_refused(&run, CHALLENGE_MISSING);
        assert_eq!(
            run.summary().pointer("/http/challenges/0"),
            Some(&json!(CHALLENGE_MISSING)),
            "a request without a credential gets a challenge without an error code\n{}",
            run.report()
        );
        runs.push(run);

        let run = run_client(&clients, sdk, era, &server, &wrong, "refused", false).await;
        check_refused(&run, CHALLENGE_INVALID);
        runs.push(run);
    }
    assert_no_secret_leaked(&server, &runs, &[STATIC_TOKEN, WRONG_TOKEN]);
}

/// `MCPGATE_AUTH=jwt`: an editor JWT sees the write tools and acts as its subject, a JWT without
/// roles acts as a viewer, an expired JWT is refused, in both eras; no token reaches the log.
async fn jwt_case(sdk: Sdk) {
    let Some(clients) = Clients::find() else {
        return;
    };
    let server = Server::start(&[
        ("MCPGATE_AUTH", "jwt"),
        ("MCPGATE_JWT_SECRET", JWT_SECRET),
        ("MCPGATE_JWT_ISSUER", JWT_ISSUER),
        ("MCPGATE_JWT_AUDIENCE", JWT_AUDIENCE),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
        ("MCPGATE_LOG", "debug"),
    ])
    .await;
    let editor_jwt = mint_jwt(Some(&["editor"]), now() + 600);
    let viewer_jwt = mint_jwt(None, now() + 600);
    let expired_jwt = mint_jwt(Some(&["editor"]), now() - 3600);
    let editor = Credential {
        name: "an editor JWT",
        token: Some(&editor_jwt),
    };
    let viewer = Credential {
        name: "a JWT without roles",
        token: Some(&viewer_jwt),
    };
    let expired = Credential {
        name: "an expired JWT",
        token: Some(&expired_jwt),
    };
    let mut runs = Vec::new();
    for era in [Era::Legacy, Era::Modern] {
        let run = run_client(&clients, sdk, era, &server, &editor, "accepted", true).await;
        let expected = editor_tools();
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert!(
            DEFAULT_TOOLS.iter().all(|t| expected.contains(t)) && expected.len() == 44,
            "the expectation itself: the read-only tools plus 30 writes"
        );
        let s = check_accepted(&run, era, &expected);
        assert_eq!(
            s.pointer("/task/created_by").and_then(Value::as_str),
            Some("sdk-user"),
            "the task is created by the token's subject\n{}",
            run.report()
        );
        runs.push(run);

        let run = run_client(&clients, sdk, era, &server, &viewer, "accepted", false).await;
        check_accepted(&run, era, &DEFAULT_TOOLS);
        runs.push(run);

        let run = run_client(&clients, sdk, era, &server, &expired, "refused", false).await;
        check_refused(&run, CHALLENGE_INVALID);
        runs.push(run);
    }
    assert_no_secret_leaked(
        &server,
        &runs,
        &[&editor_jwt, &viewer_jwt, &expired_jwt, JWT_SECRET],
    );
}

#[tokio::test]
async fn python_sdk_connects_with_a_static_bearer_token() {
    static_token_case(Sdk::Python).await;
}

#[tokio::test]
async fn node_sdk_connects_with_a_static_bearer_token() {
    static_token_case(Sdk::Node).await;
}

#[tokio::test]
async fn python_sdk_connects_with_a_jwt() {
    jwt_case(Sdk::Python).await;
}

#[tokio::test]
async fn node_sdk_connects_with_a_jwt() {
    jwt_case(Sdk::Node).await;
}

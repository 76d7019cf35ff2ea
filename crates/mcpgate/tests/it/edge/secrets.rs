//! No secret in anything the process writes: tokens (configured and presented, in headers and
//! `?key=`), the JWT secret, a Redis password and JWTs are planted, the server is driven
//! through successes and every kind of refusal at debug log level, and every response (bodies
//! and headers) and everything the process wrote to stderr and stdout, read to the end after it
//! exited, are scanned for them.

use serde_json::json;

use super::config_file;
use super::jwt::{ISSUER, claims, hs256};
use crate::support::{Server, modern_call};

const ENV_TOKEN: &str = "planted-env-token-7f3a9c1e5b";
const FILE_TOKEN: &str = "planted-file-token-2d8e4b6a0c";
const WRONG_TOKEN: &str = "planted-wrong-token-9b1d3f5e7a";
const REDIS_PASSWORD: &str = "planted-redis-password-4c6e8a";
const JWT_SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";

/// Every request worth trying against a server, returning everything it answered.
async fn drive(server: &Server, tokens: &[&str]) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    let mut requests = Vec::new();
    for token in tokens {
        requests.push(
            http.post(server.at("/mcp"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "health")
                .body(modern_call(1, "health", json!({}))),
        );
        requests.push(
            http.post(server.at(&format!("/mcp?key={token}")))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "health")
                .body(modern_call(2, "health", json!({}))),
        );
        requests.push(http.get(server.at("/api/v1/tasks")).bearer_auth(token));
        requests.push(http.get(server.at(&format!("/api/v1/tasks?key={token}&limit=x"))));
        requests.push(
            http.post(server.at("/api/v1/notes"))
                .bearer_auth(token)
                .json(&json!({"title": "A note"})),
        );
        requests.push(
            http.post(server.at("/mcp"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("{not json"),
        );
        requests.push(
            http.get(server.at("/nowhere"))
                .header("authorization", *token),
        );
    }
    for request in requests {
        let response = request.send().await.expect("request");
        for (name, value) in response.headers() {
            seen.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        seen.push(response.text().await.unwrap_or_default());
    }
    seen
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} holds a planted secret:\n{text}"
        );
    }
}

#[tokio::test]
async fn planted_secrets_never_reach_logs_or_answers() {
    let (_dir, file) = config_file(&format!(
        "[[auth.tokens]]\nname = \"bot\"\ntoken = \"{FILE_TOKEN}\"\nrole = \"viewer\"\n"
    ));
    let redis = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1");
    let server = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", ENV_TOKEN),
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH_QUERY_KEY", "true"),
        ("MCPGATE_JWT_SECRET", JWT_SECRET),
        ("MCPGATE_REDIS_URL", &redis),
        ("MCPGATE_RATE_LIMIT", "1000/min"),
        ("MCPGATE_LOG", "debug"),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
    ])
    .await;
    let answers = drive(&server, &[ENV_TOKEN, FILE_TOKEN, WRONG_TOKEN]).await;
    let secrets = [
        ENV_TOKEN,
        FILE_TOKEN,
        WRONG_TOKEN,
        REDIS_PASSWORD,
        JWT_SECRET,
    ];
    assert_clean("an answer", &answers.join("\n"), &secrets[..4]);
    let exited = server.terminate_and_collect().await;
    assert_eq!(exited.code, Some(0));
    let logs = exited.stderr.join("\n");
    assert!(
        logs.contains("rate limit"),
        "Redis failures are logged: {logs}"
    );
    assert!(
        logs.contains("shutdown complete"),
        "the log is read to its last line: {logs}"
    );
    assert_clean("the log", &logs, &secrets);
    assert_clean("stdout", &exited.stdout.join("\n"), &secrets);

    let jwt_server = Server::start(&[
        ("MCPGATE_AUTH", "jwt"),
        ("MCPGATE_JWT_SECRET", JWT_SECRET),
        ("MCPGATE_JWT_ISSUER", ISSUER),
        ("MCPGATE_JWT_AUDIENCE", "https://mcp.test/mcp"),
        ("MCPGATE_LOG", "debug"),
    ])
    .await;
    let good = hs256(&claims("ann", &["viewer"], ""));
    let mut expired = claims("ann", &["viewer"], "");
    expired["exp"] = json!(1);
    let bad = hs256(&expired);
    let answers = drive(&jwt_server, &[&good, &bad]).await;
    let secrets = [JWT_SECRET, good.as_str(), bad.as_str()];
    assert_clean("an answer", &answers.join("\n"), &secrets);
    let exited = jwt_server.terminate_and_collect().await;
    assert_eq!(exited.code, Some(0));
    assert_clean("the log", &exited.stderr.join("\n"), &secrets);
    assert_clean("stdout", &exited.stdout.join("\n"), &secrets);
}

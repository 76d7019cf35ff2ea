//! Legacy sessions shared by replicas (`MCPGATE_SESSION_STORE=redis`), through two real
//! binaries on one Redis, tried as an attacker would: a session continues on the other replica
//! for its creator only (anyone else's POST, GET, resume and DELETE there are answered like an
//! unknown id and change nothing), an ended session cannot be revived on any replica, an idle
//! one expires everywhere, ids never issued are unknown without any restore, and the record in
//! Redis holds no credential. A replica whose Redis is down still serves its own sessions.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::edge::limits::redis_url;
use crate::legacy::{self, Caller, legacy, open_session, read_until};
use crate::support::Server;

const ALICE: Caller<'static> = Caller("dev:alice:acme:admin");
/// Same org, another user.
const BOB: Caller<'static> = Caller("dev:bob:acme:admin");
/// Same user name, another org.
const ALICE_ELSEWHERE: Caller<'static> = Caller("dev:alice:globex:admin");

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;

/// Two replicas sharing sessions in the Redis at `url`, with `extra` settings.
async fn replicas(url: &str, extra: &[(&str, &str)]) -> (Server, Server) {
    let mut env = vec![
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_SESSION_STORE", "redis"),
        ("MCPGATE_REDIS_URL", url),
    ];
    env.extend_from_slice(extra);
    (Server::start(&env).await, Server::start(&env).await)
}

/// `tools/list` on `session` at `server` as `caller`: the status and the JSON-RPC answer (the
/// last message of an SSE body, or the JSON body).
async fn list_tools(server: &Server, caller: Caller<'_>, session: &str) -> (u16, Value) {
    let response = legacy(server, caller, reqwest::Method::POST, Some(session))
        .body(TOOLS_LIST)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let answer = crate::support::messages(&text)
        .pop()
        .or_else(|| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (status, answer)
}

/// Whether `session` answers `tools/list` with tools at `server` for `caller`.
async fn serves(server: &Server, caller: Caller<'_>, session: &str) -> bool {
    let (status, answer) = list_tools(server, caller, session).await;
    status == 200 && answer["result"]["tools"].is_array()
}

/// Every way `caller` could use `session` at `server`: POST, GET, resume, DELETE, as
/// (status, body) pairs.
async fn every_use(server: &Server, caller: Caller<'_>, session: &str) -> Vec<(u16, Value)> {
    let post = legacy(server, caller, reqwest::Method::POST, Some(session)).body(TOOLS_LIST);
    let get = legacy(server, caller, reqwest::Method::GET, Some(session));
    let resume =
        legacy(server, caller, reqwest::Method::GET, Some(session)).header("last-event-id", "0/0");
    let delete = legacy(server, caller, reqwest::Method::DELETE, Some(session));
    let mut seen = Vec::new();
    for request in [post, get, resume, delete] {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        seen.push((status, body));
    }
    seen
}

/// The record Redis holds for `session`.
async fn record(url: &str, session: &str) -> Option<String> {
    let client = redis::Client::open(url).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    redis::cmd("GET")
        .arg(format!("mcpgate:session:{session}"))
        .query_async(&mut connection)
        .await
        .expect("GET")
}

#[tokio::test]
async fn a_session_continues_on_the_other_replica_for_its_creator_only() {
    let Some(url) = redis_url().await else { return };
    let (a, b) = replicas(&url, &[]).await;
    let session = open_session(&a, ALICE).await;

    // The record names the creator and the handshake, and holds no credential.
    let stored = record(&url, &session).await.expect("a record in Redis");
    let stored: Value = serde_json::from_str(&stored).expect("JSON");
    assert_eq!(stored["subject"], "alice");
    assert_eq!(stored["org"], "acme");
    assert_eq!(stored["init"]["clientInfo"]["name"], "legacy-test");
    assert!(!stored.to_string().contains("dev:alice"), "{stored}");

    // Anyone else on replica B is answered exactly as on an id never issued, and makes nothing
    // there (Alice's use afterwards shows nothing was ended or taken).
    let never = "00000000-0000-0000-0000-000000000000";
    let unknown = every_use(&b, BOB, never).await;
    for intruder in [BOB, ALICE_ELSEWHERE] {
        let theirs = every_use(&b, intruder, &session).await;
        assert_eq!(theirs, unknown, "another caller's session is unknown on B");
        assert!(
            theirs.iter().all(|(status, _)| *status == 404),
            "{theirs:?}"
        );
    }
    assert!(record(&url, &session).await.is_some(), "nobody ended it");

    // Alice continues on B, then on A again, then on B: one session throughout.
    for replica in [&b, &a, &b] {
        assert!(serves(replica, ALICE, &session).await);
    }
    let call = legacy(&b, ALICE, reqwest::Method::POST, Some(&session))
        .body(
            json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                   "params": {"name": "health", "arguments": {}}})
            .to_string(),
        )
        .send()
        .await
        .expect("call");
    let text = call.text().await.expect("body");
    let answer = crate::support::messages(&text).pop().expect("an answer");
    assert_eq!(answer["id"], 8);
    assert_eq!(answer["result"]["structuredContent"]["status"], "ok");
}

#[tokio::test]
async fn a_session_ended_on_one_replica_cannot_be_used_or_revived_on_another() {
    let Some(url) = redis_url().await else { return };
    let (a, b) = replicas(&url, &[]).await;
    let session = open_session(&a, ALICE).await;
    assert!(serves(&b, ALICE, &session).await, "B holds it too now");

    // Bob cannot end it from B (it is not his), Alice can.
    let bob = legacy(&b, BOB, reqwest::Method::DELETE, Some(&session))
        .send()
        .await
        .expect("delete");
    assert_eq!(bob.status(), 404);
    assert!(serves(&a, ALICE, &session).await);
    let end = legacy(&b, ALICE, reqwest::Method::DELETE, Some(&session))
        .send()
        .await
        .expect("delete");
    assert_eq!(end.status(), 204);
    assert!(record(&url, &session).await.is_none(), "the record is gone");

    // A, which held it, lets it go within the keeper's round (2 s), and then nothing restores
    // it: not A, not B.
    let deadline = Instant::now() + Duration::from_secs(6);
    while serves(&a, ALICE, &session).await {
        assert!(
            Instant::now() < deadline,
            "A still serves a session ended on B"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for replica in [&a, &b] {
        let (status, answer) = list_tools(replica, ALICE, &session).await;
        assert_eq!(status, 404, "{answer}");
        assert_eq!(answer["id"], 7, "the 404 carries the request id: {answer}");
    }
}

#[tokio::test]
async fn an_idle_shared_session_expires_on_every_replica() {
    let Some(url) = redis_url().await else { return };
    let (a, b) = replicas(&url, &[("MCPGATE_SESSION_IDLE_TIMEOUT", "1s")]).await;
    let session = open_session(&a, ALICE).await;
    // Used within the idle timeout, it lives on, from either replica.
    for replica in [&b, &a, &b] {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(serves(replica, ALICE, &session).await);
    }
    // Unused for longer than the timeout plus the keeper's round, it is gone everywhere.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(record(&url, &session).await.is_none(), "the record expired");
    for replica in [&a, &b] {
        assert!(!serves(replica, ALICE, &session).await);
    }
}

#[tokio::test]
async fn ids_never_issued_are_unknown_and_restore_nothing() {
    let Some(url) = redis_url().await else { return };
    let (_a, b) = replicas(&url, &[]).await;
    let long = "a".repeat(200);
    for id in ["00000000-0000-0000-0000-000000000000", "x", long.as_str()] {
        let (status, answer) = list_tools(&b, ALICE, id).await;
        assert_eq!(status, 404, "{id}: {answer}");
        assert_eq!(answer["error"]["code"], -32001);
    }
    let metrics = reqwest::get(b.admin("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let live = metrics
        .lines()
        .find(|l| l.starts_with("mcpgate_legacy_sessions "))
        .expect("a sessions gauge");
    assert!(live.ends_with(" 0"), "no session was made: {live}");
}

#[tokio::test]
async fn a_replica_whose_redis_is_down_still_serves_its_own_sessions() {
    // Nothing listens there: every call to the store fails fast.
    let port = crate::support::free_port();
    let down = format!("redis://127.0.0.1:{port}");
    let server = Server::start(&[
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_SESSION_STORE", "redis"),
        ("MCPGATE_REDIS_URL", &down),
        ("MCPGATE_RATE_LIMIT", "off"),
    ])
    .await;
    let session = open_session(&server, ALICE).await;
    assert!(serves(&server, ALICE, &session).await);
    // An unknown id is answered (404), not left hanging on the store.
    let unknown = list_tools(&server, ALICE, "00000000-0000-0000-0000-000000000000");
    let (status, _) = tokio::time::timeout(Duration::from_secs(20), unknown)
        .await
        .expect("answered");
    assert_eq!(status, 404);
}

/// Replicas with the conformance tools (one asks the client a question and waits).
async fn interactive_replicas(url: &str) -> (Server, Server) {
    replicas(url, &[("MCPGATE_MODULES", "system,conformance")]).await
}

/// Start `test_elicitation` as request 2 on `server`: its question (the server's request) and
/// the id of the event that carried it; the call's stream is dropped (the client lost it).
async fn call_that_asks(server: &Server, session: &str) -> (Value, String) {
    let asked = legacy::call_that_asks(
        server,
        ALICE,
        session,
        "test_elicitation",
        json!({"message": "who?"}),
    )
    .await;
    (asked.question, asked.event_id)
}

/// Resume the stream of `event_id` on `server`: the stream, to read with `read_until`.
async fn resume(
    server: &Server,
    session: &str,
    event_id: &str,
) -> impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin {
    let response = legacy(server, ALICE, reqwest::Method::GET, Some(session))
        .header("last-event-id", event_id)
        .send()
        .await
        .expect("resume");
    assert_eq!(response.status(), 200);
    response.bytes_stream()
}

#[tokio::test]
async fn a_call_waiting_on_the_client_completes_across_replicas() {
    let Some(url) = redis_url().await else { return };
    let (a, b) = interactive_replicas(&url).await;
    let session = open_session(&a, ALICE).await;
    // The call runs on A and asks Alice; she loses the stream.
    let (question, event_id) = call_that_asks(&a, &session).await;
    assert!(
        event_id.contains('~'),
        "a shared stream's ids name its replica: {event_id}"
    );

    // Her answer reaches B, which passes it to A; she resumes on B and gets the result A sent.
    let answer = json!({"jsonrpc": "2.0", "id": question["id"], "result": {
        "action": "accept", "content": {"username": "alice", "email": "a@acme.test"}}});
    let sent = legacy(&b, ALICE, reqwest::Method::POST, Some(&session))
        .body(answer.to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(sent.status(), 202);
    let mut stream = resume(&b, &session, &event_id).await;
    let mut buffer = String::new();
    let (result_id, result) = read_until(&mut stream, &mut buffer, |v| v["id"] == 2).await;
    let text = result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("alice"), "the result A produced: {result}");
    // The relayed event keeps A's id, so a later resume, anywhere, finds the stream again.
    let result_id = result_id.expect("an id");
    assert_eq!(
        result_id.split('~').nth(1),
        event_id.split('~').nth(1),
        "relayed with the replica's own id"
    );

    // Bob cannot resume Alice's stream on either replica.
    for replica in [&a, &b] {
        let theirs = legacy(replica, BOB, reqwest::Method::GET, Some(&session))
            .header("last-event-id", &event_id)
            .send()
            .await
            .expect("resume");
        assert_eq!(theirs.status(), 404);
    }
}

#[tokio::test]
async fn a_call_whose_replica_was_killed_fails_at_once_when_resumed_elsewhere() {
    let Some(url) = redis_url().await else { return };
    let (a, b) = interactive_replicas(&url).await;
    let session = open_session(&a, ALICE).await;
    let (_question, event_id) = call_that_asks(&a, &session).await;

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &a.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = a.exited().await;

    // The session continues on B, and the call A was serving is answered with an error (not
    // left waiting for an answer that cannot come).
    assert!(serves(&b, ALICE, &session).await);
    let mut stream = resume(&b, &session, &event_id).await;
    let mut buffer = String::new();
    let (_, failed) = read_until(&mut stream, &mut buffer, |v| v["id"] == 2).await;
    assert_eq!(failed["error"]["code"], -32603, "{failed}");
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("stopped before it answered"), "{failed}");
}

#[tokio::test]
async fn deployments_with_other_prefixes_on_one_redis_share_nothing() {
    let Some(url) = redis_url().await else { return };
    let (a, _) = replicas(&url, &[("MCPGATE_SESSION_PREFIX", "blue:")]).await;
    let other = Server::start(&[
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_SESSION_STORE", "redis"),
        ("MCPGATE_REDIS_URL", &url),
        ("MCPGATE_SESSION_PREFIX", "green:"),
    ])
    .await;
    let session = open_session(&a, ALICE).await;
    assert!(
        record(&url, &session).await.is_none(),
        "not under the default prefix"
    );
    assert!(!serves(&other, ALICE, &session).await);
    assert!(serves(&a, ALICE, &session).await);
}

#[tokio::test]
async fn a_replica_at_its_cap_answers_503_for_a_session_it_would_restore() {
    let Some(url) = redis_url().await else { return };
    let (a, b) = replicas(&url, &[("MCPGATE_MAX_SESSIONS_PER_PRINCIPAL", "1")]).await;
    let first = open_session(&a, ALICE).await;
    let second = open_session(&b, ALICE).await;
    // B holds Alice's one session: it cannot make `first` too, and says so (not "unknown").
    let response = legacy(&b, ALICE, reqwest::Method::POST, Some(&first))
        .body(TOOLS_LIST)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "too_many_sessions", "{body}");
    // Nothing was lost: `first` goes on at A, and at B once Alice ends `second` there.
    assert!(serves(&a, ALICE, &first).await);
    let end = legacy(&b, ALICE, reqwest::Method::DELETE, Some(&second))
        .send()
        .await
        .expect("delete");
    assert_eq!(end.status(), 204);
    assert!(serves(&b, ALICE, &first).await);
}

//! Legacy sessions through the real binary, tried as an attacker would: a session answers only
//! the caller who created it (another caller's POST, GET, resume and DELETE on its id are
//! answered like an unknown id and move nothing), live sessions are capped in all and per
//! caller, and a session that is gone is a 404 that names no internals.

use std::time::Duration;

use serde_json::{Value, json};

use crate::edge::config_file;
use crate::edge::jwt::{claims, hs256, jwt_env};
use crate::legacy::{Asked, Caller, call_that_asks, initialize, legacy, open_session, read_until};
use crate::support::Server;

/// Bob's every attempt on Alice's session, while Alice's call waits on her (an elicitation the
/// server asked her on her call's stream): each is answered exactly like an unknown id, and
/// Alice's call then completes on her own stream.
async fn another_caller_cannot_touch_a_session(
    server: &Server,
    alice: Caller<'_>,
    bob: Caller<'_>,
) {
    let session = open_session(server, alice).await;
    let Asked {
        mut stream,
        mut buffer,
        question,
        event_id,
    } = call_that_asks(
        server,
        alice,
        &session,
        "test_elicitation",
        json!({"message": "who?"}),
    )
    .await;

    let unknown = "00000000-0000-0000-0000-000000000000";
    let tools_list = r#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#;
    let mut answers = Vec::new();
    for id in [session.as_str(), unknown] {
        let post = legacy(server, bob, reqwest::Method::POST, Some(id))
            .body(tools_list)
            .send()
            .await
            .expect("post");
        let get = legacy(server, bob, reqwest::Method::GET, Some(id))
            .send()
            .await
            .expect("get");
        let resume = legacy(server, bob, reqwest::Method::GET, Some(id))
            .header("last-event-id", &event_id)
            .send()
            .await
            .expect("resume");
        let delete = legacy(server, bob, reqwest::Method::DELETE, Some(id))
            .send()
            .await
            .expect("delete");
        let mut seen = Vec::new();
        for response in [post, get, resume, delete] {
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("a JSON body");
            seen.push((status, body));
        }
        answers.push(seen);
    }
    for (theirs, unknown) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(
            theirs.0, 404,
            "another caller's session is not found: {theirs:?}"
        );
        assert_eq!(theirs, unknown, "answered exactly like an unknown id");
    }

    // Alice answers the question; her result arrives on her own stream.
    let answer = json!({"jsonrpc": "2.0", "id": question["id"], "result": {
        "action": "accept", "content": {"username": "alice", "email": "a@acme.test"}}});
    let sent = legacy(server, alice, reqwest::Method::POST, Some(&session))
        .body(answer.to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(sent.status(), 202);
    let (_, result) = read_until(&mut stream, &mut buffer, |v| v["id"] == 2).await;
    let text = result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("alice"),
        "Alice gets her own result: {result}"
    );

    // The session is still Alice's, and she can end it; then it is gone for her too.
    let end = legacy(server, alice, reqwest::Method::DELETE, Some(&session))
        .send()
        .await
        .expect("delete");
    assert_eq!(end.status(), 204);
    let again = legacy(server, alice, reqwest::Method::DELETE, Some(&session))
        .send()
        .await
        .expect("delete again");
    assert_eq!(again.status(), 404, "a session ends once");
    let after = legacy(server, alice, reqwest::Method::POST, Some(&session))
        .body(tools_list)
        .send()
        .await
        .expect("post after end");
    assert_eq!(after.status(), 404);
    let body: Value = after.json().await.expect("JSON");
    assert_eq!(body["id"], 9, "the 404 carries the request id: {body}");
}

fn conformance_env() -> Vec<(&'static str, String)> {
    vec![("MCPGATE_MODULES", "system,conformance".into())]
}

fn as_env<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_session_is_bound_to_its_creator_with_dev_tokens() {
    let mut env = conformance_env();
    env.push(("MCPGATE_AUTH", "dev".into()));
    let server = Server::start(&as_env(&env)).await;
    another_caller_cannot_touch_a_session(
        &server,
        Caller("dev:alice:acme:admin"),
        Caller("dev:bob:other:admin"),
    )
    .await;
    // The same name in another org is another caller.
    let session = open_session(&server, Caller("dev:alice:acme:admin")).await;
    let twin = legacy(
        &server,
        Caller("dev:alice:globex:admin"),
        reqwest::Method::DELETE,
        Some(&session),
    )
    .send()
    .await
    .expect("delete");
    assert_eq!(twin.status(), 404);
}

#[tokio::test]
async fn a_session_is_bound_to_its_creator_with_static_tokens() {
    let (_dir, path) = config_file(
        "[[auth.tokens]]\nname = \"alice\"\ntoken = \"alice-token-0123456789\"\norg = \"acme\"\n\
         role = \"admin\"\n\n[[auth.tokens]]\nname = \"bob\"\ntoken = \"bob-token-0123456789\"\n\
         org = \"other\"\nrole = \"admin\"\n",
    );
    let mut env = conformance_env();
    env.push(("MCPGATE_AUTH", "token".into()));
    env.push(("MCPGATE_CONFIG", path));
    let server = Server::start(&as_env(&env)).await;
    another_caller_cannot_touch_a_session(
        &server,
        Caller("alice-token-0123456789"),
        Caller("bob-token-0123456789"),
    )
    .await;
}

#[tokio::test]
async fn a_session_is_bound_to_its_creator_with_jwts() {
    let mut env = jwt_env();
    env.extend(conformance_env());
    let server = Server::start(&as_env(&env)).await;
    let alice = hs256(&claims("alice", &["admin"], ""));
    let mut bob_claims = claims("bob", &["admin"], "");
    bob_claims["org"] = json!("other");
    let bob = hs256(&bob_claims);
    another_caller_cannot_touch_a_session(&server, Caller(&alice), Caller(&bob)).await;
    // A second token for the same subject and org (a refreshed one) is the same caller.
    let session = open_session(&server, Caller(&alice)).await;
    let mut refreshed = claims("alice", &["admin"], "");
    refreshed["jti"] = json!("another-token");
    let refreshed = hs256(&refreshed);
    let listed = legacy(
        &server,
        Caller(&refreshed),
        reqwest::Method::POST,
        Some(&session),
    )
    .body(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#)
    .send()
    .await
    .expect("post");
    assert_eq!(listed.status(), 200);
}

#[tokio::test]
async fn live_sessions_are_capped_in_all_and_per_caller() {
    let server = Server::start(&[
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_MAX_SESSIONS", "5"),
        ("MCPGATE_MAX_SESSIONS_PER_PRINCIPAL", "3"),
    ])
    .await;
    let alice = Caller("dev:alice:acme:editor");
    let mut alices = Vec::new();
    for _ in 0..3 {
        alices.push(open_session(&server, alice).await);
    }
    let over = initialize(&server, alice).await;
    assert_eq!(over.status(), 503, "past the per-caller cap");
    assert!(over.headers().contains_key("retry-after"));
    let body: Value = over.json().await.expect("JSON");
    assert_eq!(body["error"], "too_many_sessions", "{body}");

    // Others still get sessions, up to the total.
    open_session(&server, Caller("dev:bob:acme:editor")).await;
    open_session(&server, Caller("dev:carol:acme:editor")).await;
    let full = initialize(&server, Caller("dev:dave:acme:editor")).await;
    assert_eq!(full.status(), 503, "past the total");

    // Ending a session gives its place back.
    let end = legacy(&server, alice, reqwest::Method::DELETE, Some(&alices[0]))
        .send()
        .await
        .expect("delete");
    assert_eq!(end.status(), 204);
    open_session(&server, Caller("dev:dave:acme:editor")).await;
    assert_eq!(live_sessions(&server).await, 5);
}

#[tokio::test]
async fn an_expired_session_is_not_found_never_a_server_error() {
    let server = Server::start(&[("MCPGATE_SESSION_IDLE_TIMEOUT", "1s")]).await;
    let caller = Caller("unused");
    let session = open_session(&server, caller).await;
    // Poll past the idle timeout: every answer is 200 (still live) or 404 (gone), never a 500.
    let mut statuses = Vec::new();
    for i in 0..100 {
        let response = legacy(&server, caller, reqwest::Method::POST, Some(&session))
            .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        statuses.push(status);
        if status == 404 {
            break;
        }
        // Idle time is what expires a session: this test's only wait, and bounded.
        tokio::time::sleep(Duration::from_millis(50 + i * 10)).await;
    }
    assert_eq!(
        statuses.last(),
        Some(&404),
        "the session expired: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 202 | 404)),
        "{statuses:?}"
    );
    let delete = legacy(&server, caller, reqwest::Method::DELETE, Some(&session))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), 404, "an unknown id cannot be deleted");
}

#[tokio::test]
async fn initialize_spends_the_callers_rate() {
    let server = Server::start(&[("MCPGATE_AUTH", "dev"), ("MCPGATE_RATE_LIMIT", "3/min")]).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = initialize(&server, Caller("dev:eve:acme:editor")).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

/// The number of live legacy sessions, from `/metrics`.
pub async fn live_sessions(server: &Server) -> u64 {
    let text = crate::edge::metrics(server).await;
    text.lines()
        .find_map(|l| l.strip_prefix("mcpgate_legacy_sessions "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no session gauge in {text}"))
}

/// Poll `/metrics` until `want` sessions are live; bounded, so a session that never expires
/// fails the test instead of hanging it.
async fn until_live(server: &Server, want: u64) -> bool {
    for _ in 0..100 {
        if live_sessions(server).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_session_nobody_touches_again_is_reclaimed() {
    let server = Server::start(&[("MCPGATE_SESSION_IDLE_TIMEOUT", "1s")]).await;
    let caller = Caller("unused");
    let session = open_session(&server, caller).await;
    assert_eq!(live_sessions(&server).await, 1);
    // No request names it again: the sweeper alone must close it and give its place back.
    assert!(until_live(&server, 0).await, "the idle session was closed");
    let post = legacy(&server, caller, reqwest::Method::POST, Some(&session))
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 404);
}

#[tokio::test]
async fn a_session_whose_stream_is_open_is_not_idle() {
    let server = Server::start(&[("MCPGATE_SESSION_IDLE_TIMEOUT", "1s")]).await;
    let caller = Caller("unused");
    let session = open_session(&server, caller).await;
    let listening = legacy(&server, caller, reqwest::Method::GET, Some(&session))
        .send()
        .await
        .expect("get");
    assert_eq!(listening.status(), 200);
    // Three idle timeouts with the standalone stream open and nothing else sent: still live.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        live_sessions(&server).await,
        1,
        "a client that listens is not idle"
    );
    let ping = legacy(&server, caller, reqwest::Method::POST, Some(&session))
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(ping.status(), 202);
    // The client goes away: the session expires.
    drop(listening);
    assert!(until_live(&server, 0).await, "closed once nobody listens");
}

//! What a session-based (legacy) upstream asks or logs during a call reaches the caller of
//! that call only: an elicitation goes to a legacy caller on its own call's stream and its
//! answer back — over HTTP even with other calls in flight on the same upstream session — a
//! stateless caller (who cannot be asked mid-call) is refused with a clear error, and log
//! messages reach the one caller in flight at the level it asked for. The other way round, a
//! 2026-07-28 upstream's `input_required` round is put to a legacy caller on its session and
//! the call goes upstream again with the answer and the upstream's state.

use futures::StreamExt;
use serde_json::{Value, json};

use super::faults::{Fixture, call, gateway, text};
use super::modern_http::{call_logged, http_upstream, logged};
use crate::legacy::{Asked, Caller, call_that_asks, legacy, open_session, read_until};
use crate::support::Server;

/// `fx__ask` called by a legacy caller, who answers the elicitation it is sent with `answer`;
/// the tool's answer.
async fn ask_as_legacy_caller(server: &Server, answer: &str) -> Value {
    legacy_caller_answers(server, "fx__ask", answer).await
}

/// `tool` called by a legacy caller, who answers the elicitation it is sent with `answer`;
/// the tool's answer.
async fn legacy_caller_answers(server: &Server, tool: &str, answer: &str) -> Value {
    let caller = Caller("asker");
    let session = open_session(server, caller).await;
    let Asked {
        mut stream,
        mut buffer,
        question: asked,
        ..
    } = call_that_asks(server, caller, &session, tool, json!({})).await;
    assert!(asked["params"]["message"].is_string(), "{asked}");
    let reply = legacy(server, caller, reqwest::Method::POST, Some(&session))
        .body(
            json!({"jsonrpc": "2.0", "id": asked["id"], "result": {
                "action": "accept", "content": {"answer": answer}}})
            .to_string(),
        )
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status(), 202);
    let (_, answered) = read_until(&mut stream, &mut buffer, |v| v["id"] == 2).await;
    drop(stream.next());
    answered
}

#[tokio::test]
async fn a_legacy_http_upstreams_question_reaches_the_caller_of_that_call_among_others() {
    let fx = Fixture::new();
    let (_upstream, entry) = http_upstream(
        &fx,
        "legacy",
        "pool_size = 1\n[upstreams.tools]\nallow = [\"*\"]",
    )
    .await;
    let (server, _dir) = gateway(&entry).await;
    // Another caller's call is in flight on the same session the whole time.
    let other = call(&server, "fx__slow", json!({"ms": 1500}));
    let asking = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ask_as_legacy_caller(&server, "yes").await
    };
    let (other, answered) = tokio::join!(other, asking);
    assert_eq!(
        other["result"]["structuredContent"]["slept_ms"], 1500,
        "{other}"
    );
    let result = &answered["result"]["structuredContent"];
    assert_eq!(result["action"], "accept", "{answered}");
    assert_eq!(result["content"]["answer"], "yes", "{answered}");

    // A stateless caller cannot be asked mid-call: the upstream hears why.
    let refused = call(&server, "fx__ask", json!({})).await;
    assert!(
        text(&refused).contains("stateless"),
        "the upstream was told the caller cannot answer: {refused}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_legacy_stdio_upstreams_questions_and_logs_reach_the_one_caller_in_flight() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(
        &fx.entry("protocol = \"legacy\"\npool_size = 1\n[upstreams.tools]\nallow = [\"*\"]"),
    )
    .await;
    let answered = ask_as_legacy_caller(&server, "over stdio").await;
    assert_eq!(
        answered["result"]["structuredContent"]["content"]["answer"], "over stdio",
        "{answered}"
    );
    let (notes, answer) = call_logged(&server, "fx__log", Some("info")).await;
    assert_eq!(
        answer["result"]["structuredContent"]["logged"], true,
        "{answer}"
    );
    // rmcp hands a session's notifications to tasks of their own, so two log messages of a
    // session-based upstream may arrive in either order: which ones arrive is the promise.
    let mut got = logged(&notes);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("error".to_owned(), "error report".to_owned()),
            ("info".to_owned(), "info note".to_owned())
        ],
        "the upstream sends everything; the caller gets what it asked for: {notes:?}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_modern_upstreams_input_round_is_put_to_a_legacy_caller_on_its_session() {
    let fx = Fixture::new();
    let (_upstream, entry) =
        http_upstream(&fx, "2026-07-28", "[upstreams.tools]\nallow = [\"*\"]").await;
    let (server, _dir) = gateway(&entry).await;
    let answered = legacy_caller_answers(&server, "fx__confirm", "confirmed").await;
    let result = &answered["result"]["structuredContent"];
    assert_eq!(result["answer"]["action"], "accept", "{answered}");
    assert_eq!(
        result["answer"]["content"]["answer"], "confirmed",
        "{answered}"
    );
    assert_eq!(
        result["state"], "fixture-state",
        "the upstream's state went back: {answered}"
    );

    // A stateless caller gets the round itself.
    let round = call(&server, "fx__confirm", json!({})).await;
    assert_eq!(round["result"]["resultType"], "input_required", "{round}");
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_stdio_upstreams_question_with_two_calls_in_flight_is_refused_not_guessed() {
    let fx = Fixture::new();
    let (server, _dir) = gateway(
        &fx.entry("protocol = \"legacy\"\npool_size = 1\n[upstreams.tools]\nallow = [\"*\"]"),
    )
    .await;
    // Another caller's call is in flight on the one session: over stdio nothing ties the
    // question to either call, so neither caller is asked.
    let other = call(&server, "fx__slow", json!({"ms": 1500}));
    let asking = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let caller = Caller("asker");
        let session = open_session(&server, caller).await;
        let text = legacy(&server, caller, reqwest::Method::POST, Some(&session))
            .body(
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "fx__ask", "arguments": {}}})
                .to_string(),
            )
            .send()
            .await
            .expect("call")
            .text()
            .await
            .expect("body");
        crate::support::messages(&text)
    };
    let (other, asked) = tokio::join!(other, asking);
    assert_eq!(
        other["result"]["structuredContent"]["slept_ms"], 1500,
        "{other}"
    );
    assert!(
        asked.iter().all(|m| m["method"] != "elicitation/create"),
        "no caller is asked: {asked:?}"
    );
    let answer = asked.last().expect("an answer");
    assert!(
        answer["result"]["structuredContent"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot tell which of its callers")),
        "the upstream hears why: {answer}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

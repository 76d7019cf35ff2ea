//! Where a session's messages go, tried message by message.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

fn client(message: Value) -> ClientJsonRpcMessage {
    serde_json::from_value(message).expect("a client message")
}

fn server(message: Value) -> ServerJsonRpcMessage {
    serde_json::from_value(message).expect("a server message")
}

fn call(id: u64, progress_token: Option<&str>) -> ClientJsonRpcMessage {
    let mut params = json!({"name": "slow", "arguments": {}});
    if let Some(token) = progress_token {
        params["_meta"] = json!({"progressToken": token});
    }
    client(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}))
}

fn answer(id: u64) -> ServerJsonRpcMessage {
    server(json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}}))
}

fn progress(token: &str) -> ServerJsonRpcMessage {
    server(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": 1}}))
}

fn list_changed() -> ServerJsonRpcMessage {
    server(json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}))
}

/// What a reader has received so far, as `(event id, JSON)` (JSON `null` for a priming
/// event), and whether its stream has ended.
fn drain(reader: &mut mpsc::Receiver<ServerSseMessage>) -> (Vec<(String, Value)>, bool) {
    let mut events = Vec::new();
    loop {
        match reader.try_recv() {
            Ok(event) => events.push((
                event.event_id.unwrap_or_default(),
                event
                    .message
                    .map(|m| serde_json::to_value(&*m).expect("json"))
                    .unwrap_or(Value::Null),
            )),
            Err(mpsc::error::TryRecvError::Empty) => return (events, false),
            Err(mpsc::error::TryRecvError::Disconnected) => return (events, true),
        }
    }
}

fn ids(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(id, _)| id.as_str()).collect()
}

#[tokio::test]
async fn a_calls_progress_and_answer_ride_its_own_stream_and_the_answer_ends_it() {
    let (session, mut transport) = Session::new(Some(Duration::from_secs(3)));
    let mut first = session.post(call(1, Some("p1"))).await.expect("open");
    let mut second = session.post(call(2, None)).await.expect("open");
    assert!(transport.receive().await.is_some());
    assert!(transport.receive().await.is_some());

    transport.send(progress("p1")).await.expect("routed");
    transport.send(list_changed()).await.expect("routed");
    transport.send(answer(1)).await.expect("routed");

    let (events, ended) = drain(&mut first);
    assert_eq!(
        ids(&events),
        ["0/0", "1/0", "2/0"],
        "priming, progress, answer"
    );
    assert_eq!(events[0].1, Value::Null);
    assert_eq!(events[1].1["method"], "notifications/progress");
    assert_eq!(events[2].1["id"], 1);
    assert!(ended, "the answer ends the call's stream");

    let (events, ended) = drain(&mut second);
    assert_eq!(ids(&events), ["0/1"], "only its priming event");
    assert!(!ended);

    // Not tied to a call: waits for the standalone stream, which gets it when opened.
    let mut standalone = session.standalone().expect("open");
    let (events, _) = drain(&mut standalone);
    assert_eq!(ids(&events), ["1"]);
    assert_eq!(events[0].1["method"], "notifications/tools/list_changed");
}

#[tokio::test]
async fn a_lost_stream_resumes_after_its_last_event_even_once_answered() {
    let (session, mut transport) = Session::new(Some(Duration::from_secs(3)));
    let reader = session.post(call(7, Some("t"))).await.expect("open");
    transport.receive().await.expect("the call");
    drop(reader);
    transport.send(progress("t")).await.expect("routed");
    transport.send(answer(7)).await.expect("routed");

    let mut resumed = session
        .resume("0/0".parse().expect("an event id"))
        .expect("resumable");
    let (events, ended) = drain(&mut resumed);
    assert_eq!(
        ids(&events),
        ["1/0", "2/0"],
        "what came after the priming event"
    );
    assert!(ended, "an answered call's stream ends after the replay");

    for unknown in ["0/5", "0/99"] {
        assert!(matches!(
            session.resume(unknown.parse().expect("an event id")),
            Err(ResumeError::UnknownStream)
        ));
    }
}

#[tokio::test]
async fn a_cancelled_call_ends_its_stream() {
    let (session, mut transport) = Session::new(None);
    let mut reader = session.post(call(3, None)).await.expect("open");
    transport.receive().await.expect("the call");
    session
        .accept(client(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                               "params": {"requestId": 3}}),
        ))
        .await
        .expect("accepted");
    assert!(drain(&mut reader).1, "ended");
    // A late answer has nowhere to go but the standalone stream's cache, never a crash.
    transport.send(answer(3)).await.expect("routed");
}

#[tokio::test]
async fn initialize_waits_for_its_answer_and_a_closed_session_refuses_everything() {
    let (session, mut transport) = Session::new(None);
    let init = client(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let waiting = tokio::spawn({
        let session = Arc::clone(&session);
        async move { session.initialize(init).await }
    });
    transport.receive().await.expect("initialize");
    let result = server(json!({"jsonrpc": "2.0", "id": 0, "result": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "serverInfo": {"name": "s", "version": "1"}}}));
    transport.send(result).await.expect("routed");
    let answered = waiting.await.expect("joined").expect("answered");
    assert!(matches!(answered, ServerJsonRpcMessage::Response(_)));

    let mut standalone = session.standalone().expect("open");
    session.close();
    assert!(drain(&mut standalone).1, "streams end");
    assert!(
        transport.receive().await.is_none(),
        "the service reads the end"
    );
    assert!(session.post(call(1, None)).await.is_err());
    assert!(session.standalone().is_err());
    assert!(session.resume("1".parse().expect("an event id")).is_err());
    transport.send(list_changed()).await.expect("routed");
}

#[tokio::test]
async fn a_session_is_idle_only_with_nothing_in_flight_and_no_stream_read() {
    let (session, mut transport) = Session::new(None);
    let later = Instant::now() + Duration::from_secs(60);
    assert!(session.idle_for(Duration::from_secs(30), later));

    let reader = session.post(call(1, None)).await.expect("open");
    transport.receive().await.expect("the call");
    drop(reader);
    assert!(
        !session.idle_for(Duration::from_secs(30), later),
        "a call in flight"
    );
    transport.send(answer(1)).await.expect("routed");
    assert!(session.idle_for(Duration::from_secs(30), later));

    let standalone = session.standalone().expect("open");
    assert!(
        !session.idle_for(Duration::from_secs(30), later),
        "a stream read"
    );
    // A second standalone reader is a shadow; the first keeps the events.
    let shadow = session.standalone().expect("open");
    drop(standalone);
    assert!(
        !session.idle_for(Duration::from_secs(30), later),
        "the shadow is read"
    );
    drop(shadow);
    assert!(session.idle_for(Duration::from_secs(30), later));
}

#[tokio::test]
async fn a_busy_session_keeps_only_its_latest_finished_streams() {
    let (session, mut transport) = Session::new(Some(Duration::from_secs(3)));
    let calls = FINISHED_MAX as u64 + 1;
    for id in 0..calls {
        drop(session.post(call(id, None)).await.expect("open"));
        transport.receive().await.expect("the call");
        transport.send(answer(id)).await.expect("routed");
    }
    assert!(
        matches!(
            session.resume("0/0".parse().expect("an event id")),
            Err(ResumeError::UnknownStream)
        ),
        "the oldest finished stream is forgotten"
    );
    let last = format!("0/{}", calls - 1);
    let mut resumed = session
        .resume(last.parse().expect("an event id"))
        .expect("the latest finished streams stay resumable");
    let (events, ended) = drain(&mut resumed);
    assert_eq!(events.len(), 1, "the answer after the priming event");
    assert!(ended);
    let later = Instant::now() + Duration::from_secs(60);
    assert!(
        session.idle_for(Duration::from_secs(30), later),
        "finished streams are not work in flight"
    );
}

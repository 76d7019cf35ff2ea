//! Drain under load through the real binary: client tasks loop `tools/call health` (modern and
//! legacy era; keep-alive and one connection per request; with and without a shutdown delay)
//! and the server gets SIGTERM mid-run. Every attempt is classified from the wire: answered with
//! a real result, not sent (refused or reset before the request was written: the client may
//! retry elsewhere), or failed (written and never answered, or answered with an error status).
//! A drain is correct when nothing fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;

use crate::support::{Server, modern_meta};
use crate::wire::{Attempt, Connection, post};

/// Client tasks per run.
const CLIENTS: usize = 8;
/// Calls every client completes before the signal, so the signal lands mid-run.
const WARM_UP: usize = 5;
/// Bounds on one client's run, whatever the server does.
const MAX_ATTEMPTS: usize = 3_000;
const RUN_LIMIT: Duration = Duration::from_secs(40);
const ATTEMPT_LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    Modern,
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    KeepAlive,
    ConnectionPerRequest,
}

/// What the clients of one run saw.
#[derive(Debug, Default)]
struct Tally {
    answered: usize,
    not_sent: usize,
    failed: Vec<String>,
    /// Answers that announced `Connection: close`.
    closing: usize,
    /// Answers without `Connection: close` after one with it (draining had started).
    kept_alive_after_close: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.answered += other.answered;
        self.not_sent += other.not_sent;
        self.failed.extend(other.failed);
        self.closing += other.closing;
        self.kept_alive_after_close += other.kept_alive_after_close;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_and_their_answers_are_delivered_modern_keep_alive() {
    drain_under_load(Era::Modern, Reuse::KeepAlive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_and_their_answers_are_delivered_modern_per_request() {
    drain_under_load(Era::Modern, Reuse::ConnectionPerRequest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_and_their_answers_are_delivered_legacy_keep_alive() {
    drain_under_load(Era::Legacy, Reuse::KeepAlive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_and_their_answers_are_delivered_legacy_per_request() {
    drain_under_load(Era::Legacy, Reuse::ConnectionPerRequest).await;
}

async fn drain_under_load(era: Era, reuse: Reuse) {
    let mut runs = Vec::new();
    for delay in ["0s", "1s"] {
        let tally = run(era, reuse, delay).await;
        eprintln!(
            "drain {era:?} {reuse:?} delay {delay}: answered {}, not sent {}, failed {}, \
             closing answers {}",
            tally.answered,
            tally.not_sent,
            tally.failed.len(),
            tally.closing
        );
        runs.push((delay, tally));
    }
    for (delay, tally) in runs {
        assert!(
            tally.failed.is_empty(),
            "{era:?} {reuse:?} delay {delay}: requests written and not answered with a result: \
             {:#?}",
            tally.failed
        );
        assert!(tally.answered >= CLIENTS * WARM_UP, "{tally:?}");
        assert_eq!(
            tally.kept_alive_after_close, 0,
            "once draining starts every answer says Connection: close"
        );
        if reuse == Reuse::KeepAlive && delay != "0s" {
            assert!(
                tally.closing > 0,
                "answers during the shutdown delay announce Connection: close"
            );
        }
    }
}

async fn run(era: Era, reuse: Reuse, delay: &str) -> Tally {
    let mut server = Server::start(&[
        ("MCPGATE_SHUTDOWN_DELAY", delay),
        ("MCPGATE_SHUTDOWN_GRACE", "20s"),
    ])
    .await;
    let addr = server.addr;
    let answered = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let terminated = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let headers = match era {
            Era::Modern => modern_headers(),
            Era::Legacy => legacy_session(addr, client).await,
        };
        let answered = Arc::clone(&answered);
        let progress = Arc::clone(&progress);
        let terminated = Arc::clone(&terminated);
        clients.push(tokio::spawn(async move {
            let mut headers = headers;
            if reuse == Reuse::ConnectionPerRequest {
                headers.push("Connection: close".into());
            }
            client_loop(
                addr,
                era,
                reuse,
                &headers,
                &answered,
                &progress,
                &terminated,
            )
            .await
        }));
    }
    // Readiness, not a sleep: every client is mid-run once the warm-up calls are answered.
    let warm = tokio::time::timeout(Duration::from_secs(60), async {
        while answered.load(Ordering::Acquire) < CLIENTS * WARM_UP {
            let notified = progress.notified();
            if answered.load(Ordering::Acquire) >= CLIENTS * WARM_UP {
                break;
            }
            notified.await;
        }
    })
    .await;
    assert!(warm.is_ok(), "clients got their warm-up answers");
    terminated.store(true, Ordering::Release);
    let pid = server.child.id().expect("running");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    let mut tally = Tally::default();
    for client in clients {
        tally.add(client.await.expect("client task"));
    }
    let status = tokio::time::timeout(Duration::from_secs(60), server.child.wait())
        .await
        .expect("the server exits in time")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", server.logs().join("\n"));
    for line in server.logs() {
        if line.contains("failed to send pending response") {
            tally.failed.push(format!("server log: {line}"));
        }
    }
    tally
}

async fn client_loop(
    addr: SocketAddr,
    era: Era,
    reuse: Reuse,
    headers: &[String],
    answered: &AtomicUsize,
    progress: &Notify,
    terminated: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut kept: Option<Connection> = None;
    let mut saw_close = false;
    for id in 1..=MAX_ATTEMPTS {
        if started.elapsed() > RUN_LIMIT {
            break;
        }
        let reusable = kept.take().filter(|c| !c.closed_by_server());
        let mut connection = match reusable {
            Some(c) => c,
            None => match Connection::open(addr).await {
                Ok(c) => c,
                Err(e) => {
                    tally.not_sent += 1;
                    if terminated.load(Ordering::Acquire) {
                        break; // The listener is closed: the server is draining.
                    }
                    panic!("connect before the signal: {e}");
                }
            },
        };
        let body = call_body(era, id);
        let request = post(addr, "/mcp", headers, &body);
        match connection.exchange(&request, ATTEMPT_LIMIT).await {
            Attempt::Answered(answer) => {
                let real = answer.status == 200
                    && answer
                        .json_or_events()
                        .get("result")
                        .is_some_and(|r| r["isError"] != true && r["content"].is_array());
                if real {
                    tally.answered += 1;
                    answered.fetch_add(1, Ordering::AcqRel);
                    progress.notify_waiters();
                } else {
                    tally
                        .failed
                        .push(format!("answered {}: {}", answer.status, answer.body));
                }
                if answer.closes() {
                    tally.closing += 1;
                    saw_close = true;
                } else if saw_close {
                    tally.kept_alive_after_close += 1;
                }
                if reuse == Reuse::KeepAlive && !answer.closes() {
                    kept = Some(connection);
                }
            }
            Attempt::NotSent(_) => tally.not_sent += 1,
            Attempt::Unanswered(why) => tally.failed.push(format!("unanswered: {why}")),
        }
    }
    tally
}

fn call_body(era: Era, id: usize) -> String {
    let mut params = json!({"name": "health", "arguments": {}});
    if era == Era::Modern {
        params["_meta"] = modern_meta();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
}

fn modern_headers() -> Vec<String> {
    vec![
        "Mcp-Protocol-Version: 2026-07-28".into(),
        "Mcp-Method: tools/call".into(),
        "Mcp-Name: health".into(),
    ]
}

/// Open a legacy session (initialize, then the initialized notification); the headers its
/// calls carry.
async fn legacy_session(addr: SocketAddr, client: usize) -> Vec<String> {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": format!("drain-{client}"), "version": "1"}
        }
    })
    .to_string();
    let mut connection = Connection::open(addr).await.expect("connect");
    let request = post(addr, "/mcp", &["Connection: close".into()], &initialize);
    let Attempt::Answered(answer) = connection.exchange(&request, ATTEMPT_LIMIT).await else {
        panic!("initialize answered");
    };
    assert_eq!(answer.status, 200, "{}", answer.body);
    let session = answer
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned();
    let headers = vec![
        format!("Mcp-Session-Id: {session}"),
        "Mcp-Protocol-Version: 2025-11-25".into(),
    ];
    let mut connection = Connection::open(addr).await.expect("connect");
    let mut with_close = headers.clone();
    with_close.push("Connection: close".into());
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let request = post(addr, "/mcp", &with_close, &initialized.to_string());
    let Attempt::Answered(answer) = connection.exchange(&request, ATTEMPT_LIMIT).await else {
        panic!("initialized answered");
    };
    assert!(answer.status < 300, "{}", answer.body);
    headers
}

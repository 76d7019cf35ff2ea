//! Graceful shutdown: on the signal the listener stops, in-flight calls finish, and serving
//! returns cleanly; the real binary exits 0 on SIGTERM; under load no answer is lost (`drain`).

mod drain;

use std::sync::Arc;
use std::time::Duration;

use mcpgate::mcp::{Module, ToolSpec};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use tokio::sync::Notify;

use crate::support::{Server, Serving, modern_call};

/// A module with one tool that takes a while (other tests use it to have something slow).
pub struct Slow;

impl Module for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let tool = Tool::new(
            "slow",
            "Sleeps for a moment.",
            mcpgate::modules::no_arguments(),
        );
        vec![ToolSpec::new(tool, |_, _| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok(CallToolResult::success(vec![ContentBlock::text("done")]).into())
        })]
    }
}

/// A module with one tool that runs until the test releases it, to have something in flight
/// for exactly as long as the test needs.
#[derive(Default)]
pub struct Held {
    /// Notified when the call has started.
    pub started: Notify,
    /// Notify to let the call finish.
    pub release: Notify,
}

impl Module for Held {
    fn name(&self) -> &'static str {
        "held"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let tool = Tool::new(
            "held",
            "Runs until released.",
            mcpgate::modules::no_arguments(),
        );
        vec![ToolSpec::new(tool, move |_, _| {
            let held = Arc::clone(&self);
            async move {
                held.started.notify_one();
                held.release.notified().await;
                Ok(CallToolResult::success(vec![ContentBlock::text("done")]).into())
            }
        })]
    }
}

/// Whether a new connection to `port` is refused (the listener is closed), polled until it is
/// or `within` has passed.
async fn refused_within(port: u16, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn in_flight_calls_finish_before_shutdown_completes() {
    let held = Arc::new(Held::default());
    let (serving, _dir) = Serving::start(
        &[("MCPGATE_SHUTDOWN_GRACE", "10s")],
        vec![Arc::clone(&held) as Arc<dyn Module>],
    )
    .await;
    let Serving {
        port,
        stop,
        done: serving,
    } = serving;

    let call = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://localhost:{port}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "held")
            .body(modern_call(1, "held", serde_json::json!({})))
            .send()
            .await
            .expect("response")
            .text()
            .await
            .expect("body")
    });
    held.started.notified().await;
    stop.send(()).expect("signal");
    // The call is released only once the listener is closed: it is in flight during the drain.
    assert!(
        refused_within(port, Duration::from_secs(10)).await,
        "the listener closes on the signal"
    );
    held.release.notify_one();
    let body = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("call finishes")
        .expect("task");
    assert!(
        body.contains("done"),
        "the in-flight call completed: {body}"
    );
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serving stops")
        .expect("task")
        .expect("clean shutdown");
    let refused = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn sigterm_exits_zero_even_with_an_open_legacy_stream() {
    let server = Server::start(&[("MCPGATE_SHUTDOWN_GRACE", "5s")]).await;
    let client = crate::http_clients::legacy(&server.url()).await;
    client.list_all_tools().await.expect("list");
    let code = server.terminate().await;
    assert_eq!(code, Some(0));
    drop(client);
}

#[tokio::test]
async fn readiness_turns_false_before_the_listener_stops() {
    let (serving, _dir) = Serving::start(&[("MCPGATE_SHUTDOWN_DELAY", "1s")], Vec::new()).await;
    let Serving {
        port,
        stop,
        done: serving,
    } = serving;
    let readyz = || async move {
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    assert_eq!(readyz().await.expect("answer"), 200);
    stop.send(()).expect("signal");
    // Readiness turns false soon after the signal, while the listener still accepts.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut status = 200;
    while status == 200 && std::time::Instant::now() < deadline {
        status = readyz().await.expect("still accepting");
    }
    assert_eq!(status, 503, "not ready while draining");
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serving stops")
        .expect("task")
        .expect("clean shutdown");
    assert!(
        readyz().await.is_err(),
        "the listener is closed after the delay"
    );
}

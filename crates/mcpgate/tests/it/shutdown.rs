//! Graceful shutdown: on the signal the listener stops, in-flight calls finish, and serving
//! returns cleanly; the real binary exits 0 on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use mcpgate::mcp::{Module, ToolSpec};
use rmcp::model::{CallToolResult, ContentBlock, Tool};

use crate::support::{Server, Serving, modern_call};

/// A module with one tool that takes a while, to have something in flight.
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

#[tokio::test]
async fn in_flight_calls_finish_before_shutdown_completes() {
    let (serving, _dir) =
        Serving::start(&[("MCPGATE_SHUTDOWN_GRACE", "10s")], vec![Arc::new(Slow)]).await;
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
            .header("mcp-name", "slow")
            .body(modern_call(1, "slow", serde_json::json!({})))
            .send()
            .await
            .expect("response")
            .text()
            .await
            .expect("body")
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).expect("signal");
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        readyz().await.expect("still accepting"),
        503,
        "not ready while draining"
    );
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

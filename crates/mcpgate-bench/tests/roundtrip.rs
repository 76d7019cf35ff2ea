//! End to end: the load generator and the cold-start timer against a real rmcp server.

use std::time::Duration;

use mcpgate_bench::client::Target;
use mcpgate_bench::coldstart::{self, ColdStartConfig, Probe};
use mcpgate_bench::floor::{floor_config, serve_on};
use mcpgate_bench::loadgen::{self, LoadConfig};
use mcpgate_bench::protocol::{Era, base_headers};
use mcpgate_bench::scenario::{Scenario, ToolCall};
use reqwest::Url;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Starts the floor on a free port; `json_response: false` makes modern replies SSE.
async fn start_floor(json_response: bool) -> (Url, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback has free ports");
    let addr = listener.local_addr().expect("bound socket has an address");
    let shutdown = CancellationToken::new();
    let config = floor_config(&shutdown).with_json_response(json_response);
    tokio::spawn(serve_on(listener, config, shutdown.clone()));
    let url = Url::parse(&format!("http://{addr}/mcp")).expect("valid URL");
    (url, shutdown)
}

fn target(url: Url, era: Era) -> Target {
    Target {
        url,
        era,
        base_headers: base_headers(None, &[]),
        timeout: Duration::from_secs(10),
    }
}

fn load(url: Url, era: Era, tool: &str, requests: u64) -> LoadConfig {
    LoadConfig {
        target: target(url, era),
        scenario: Scenario::single(ToolCall::new(tool, json!({}))),
        concurrency: 4,
        duration: Some(Duration::from_secs(30)),
        requests: Some(requests),
        warmup: Duration::ZERO,
        label: Some("test".to_owned()),
        server_pid: Some(std::process::id()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_succeeds_in_both_eras_and_both_reply_forms() {
    for (era, json_response) in [
        (Era::Modern, true),
        (Era::Modern, false),
        (Era::Legacy, true),
    ] {
        let (url, shutdown) = start_floor(json_response).await;
        let report = loadgen::run(load(url, era, "health", 400))
            .await
            .expect("the run completes");
        let case = format!("{era:?} json_response={json_response}");
        assert_eq!(report.requests, 400, "{case}: the request budget is exact");
        assert!(report.errors.is_empty(), "{case}: {:?}", report.errors);
        assert!(report.calls_per_s > 0.0, "{case}");
        assert!(report.latency_ms.p50 > 0.0, "{case}");
        assert!(report.latency_ms.p50 <= report.latency_ms.p99, "{case}");
        assert!(
            report.memory.rss_peak_kib >= report.memory.rss_idle_kib,
            "{case}"
        );
        shutdown.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tool_is_counted_as_a_json_rpc_error() {
    for era in [Era::Modern, Era::Legacy] {
        let (url, shutdown) = start_floor(true).await;
        let report = loadgen::run(load(url, era, "no_such_tool", 50))
            .await
            .expect("the run completes");
        assert_eq!(report.errors.get("jsonrpc_-32602"), Some(&50), "{era:?}");
        assert_eq!(
            report.calls_per_s, 0.0,
            "{era:?}: failures are not throughput"
        );
        shutdown.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_of_the_floor_binary_is_timed() {
    // Borrow a free port for the child; it is released before the child binds it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback has free ports")
        .local_addr()
        .expect("bound socket has an address");
    let url = Url::parse(&format!("http://{addr}/mcp")).expect("valid URL");
    for probe in [Probe::Health, Probe::Discover] {
        let report = coldstart::run(ColdStartConfig {
            target: target(url.clone(), Era::Modern),
            program: env!("CARGO_BIN_EXE_rmcp-floor").to_owned(),
            args: vec!["--listen".to_owned(), addr.to_string()],
            runs: 2,
            probe,
            tool: "health".to_owned(),
            poll_every: Duration::ZERO,
            give_up_after: Duration::from_secs(20),
            show_output: false,
            label: None,
        })
        .await
        .expect("the floor starts and answers");
        assert_eq!(report.runs, 2, "{probe:?}");
        assert!(
            report.min_ms > 0.0 && report.min_ms <= report.max_ms,
            "{probe:?}"
        );
        assert!(report.rss_ready_kib.is_some_and(|kib| kib > 0), "{probe:?}");
    }
}

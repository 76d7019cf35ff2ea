//! The `handoff` mode: what a legacy session costs when it moves to another replica
//! (`MCPGATE_SESSION_STORE=redis`).
//!
//! For each of `--sessions` sessions, one after another: open it on the first replica and call
//! there once (warm), then time a call on the first replica (the session is local), the first
//! call on the second replica (which restores the session from its record and replays
//! `initialize`), and a second call there (local now). The report gives the median and 90th
//! percentile of each, so the restore's cost is the difference of the first two columns,
//! measured side by side in one run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::Url;
use serde::Serialize;

use crate::client::{Target, VirtualClient};
use crate::scenario::{Scenario, ToolCall};

/// What a `handoff` run needs.
#[derive(Debug, Clone)]
pub struct HandoffConfig {
    /// The first replica (legacy era): sessions open here.
    pub target: Target,
    /// The second replica's MCP endpoint.
    pub other: Url,
    /// Sessions to move.
    pub sessions: usize,
    /// Free text copied into the report.
    pub label: Option<String>,
}

/// Median and 90th percentile of one kind of call, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Spread {
    pub p50_ms: f64,
    pub p90_ms: f64,
}

impl Spread {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            p50_ms: at(0.5),
            p90_ms: at(0.9),
        }
    }
}

/// The report of a `handoff` run.
#[derive(Debug, Serialize)]
pub struct HandoffReport {
    /// Always `handoff`.
    pub mode: &'static str,
    /// Free text from `--label`.
    pub label: Option<String>,
    /// Sessions moved.
    pub sessions: usize,
    /// A call on the replica that created the session.
    pub local: Spread,
    /// The first call on the other replica (restore + replayed `initialize` + the call).
    pub first_elsewhere: Spread,
    /// The next call there.
    pub then_elsewhere: Spread,
    /// `first_elsewhere.p50_ms / local.p50_ms`.
    pub first_call_ratio: f64,
}

/// Move `--sessions` sessions from the first replica to the second, timing the calls.
pub async fn run(config: HandoffConfig) -> anyhow::Result<HandoffReport> {
    let target = Arc::new(config.target);
    let scenario = Arc::new(Scenario::single(ToolCall::new(
        "health",
        serde_json::json!({}),
    )));
    let (mut local, mut first, mut then) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..config.sessions {
        let mut client = VirtualClient::new(Arc::clone(&target), Arc::clone(&scenario))?;
        client.open().await.context("open a session")?;
        client.call(0).await.context("warm call")?;
        local.push(client.call(0).await.context("call on the first replica")?);
        first.push(
            client
                .call_at(&config.other, 0)
                .await
                .with_context(|| format!("first call of session {n} on the second replica"))?,
        );
        then.push(
            client
                .call_at(&config.other, 0)
                .await
                .context("second call on the second replica")?,
        );
        client.close().await.context("end the session")?;
    }
    let (local, first_elsewhere, then_elsewhere) =
        (Spread::of(local), Spread::of(first), Spread::of(then));
    Ok(HandoffReport {
        mode: "handoff",
        label: config.label,
        sessions: config.sessions,
        first_call_ratio: first_elsewhere.p50_ms / local.p50_ms.max(f64::MIN_POSITIVE),
        local,
        first_elsewhere,
        then_elsewhere,
    })
}

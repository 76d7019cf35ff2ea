//! Cold start: time from spawning a server process to its first answered MCP request.
//!
//! Each run spawns the command, then probes the endpoint in a tight loop (a modern
//! `tools/call` or `server/discover`) until one succeeds, records the elapsed time, samples
//! the server's memory, and kills the process. Probes go back to back by default: a refused
//! connect costs tens of microseconds, while tokio's timer cannot sleep less than about a
//! millisecond, so any pause between probes would dominate the error of a few-ms start. The process is killed with SIGKILL: shutdown
//! cost is not what is measured, and the next run must not wait for a drain.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::client::Target;
use crate::protocol::PreparedRequest;
use crate::reply::{CallError, drain, read_result, read_tool_reply};
use crate::report::{ColdStartReport, median};
use crate::rss::read_rss_kib;
use crate::scenario::ToolCall;

/// What request proves the server is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Probe {
    /// A modern `tools/call` of the probe tool (default `health`).
    Health,
    /// A modern `server/discover`.
    Discover,
}

impl Probe {
    /// The lowercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Health => "health",
            Probe::Discover => "discover",
        }
    }
}

/// A resolved cold-start measurement.
#[derive(Debug, Clone)]
pub struct ColdStartConfig {
    /// The endpoint to probe (the era is always modern).
    pub target: Target,
    /// The program to start.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// How many starts to measure.
    pub runs: usize,
    /// The request that proves readiness.
    pub probe: Probe,
    /// The tool called by the `health` probe.
    pub tool: String,
    /// Pause between failed probes; zero probes back to back.
    pub poll_every: Duration,
    /// Give up on a start after this long.
    pub give_up_after: Duration,
    /// Show the server's stdout and stderr instead of discarding them.
    pub show_output: bool,
    /// Free text for the report.
    pub label: Option<String>,
}

/// Measures every run and returns the report.
pub async fn run(config: ColdStartConfig) -> anyhow::Result<ColdStartReport> {
    let http = config
        .target
        .http_client(0)
        .context("build HTTP client for probing")?;
    let request = match config.probe {
        Probe::Health => PreparedRequest::modern_tool_call(
            &ToolCall::new(config.tool.clone(), Value::Object(Default::default())),
            &config.target.base_headers,
        ),
        Probe::Discover => PreparedRequest::modern_discover(&config.target.base_headers),
    };
    if probe(&http, &config, &request, 0).await.is_ok() {
        bail!(
            "something already answers at {}; stop it before measuring cold start",
            config.target.url
        );
    }

    let mut samples = Vec::with_capacity(config.runs);
    let mut rss = Vec::with_capacity(config.runs);
    for run in 0..config.runs {
        let (elapsed, rss_kib) = start_once(&http, &config, &request)
            .await
            .with_context(|| format!("cold start run {} of {}", run + 1, config.runs))?;
        eprintln!(
            "mcpgate-bench: run {}: first answer after {:.3} ms",
            run + 1,
            elapsed.as_secs_f64() * 1e3
        );
        samples.push((elapsed.as_secs_f64() * 1e6).round() / 1e3);
        rss.extend(rss_kib);
    }

    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    Ok(ColdStartReport {
        label: config.label.clone(),
        cmd: std::iter::once(config.program.as_str())
            .chain(config.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        url: config.target.url.to_string(),
        probe: config.probe.as_str(),
        runs: samples.len(),
        median_ms: median(&samples).unwrap_or(0.0),
        min_ms: if samples.is_empty() { 0.0 } else { min },
        max_ms: max,
        samples_ms: samples,
        rss_ready_kib: median(&rss),
    })
}

/// Starts the server once; the time to first answer and the memory at that moment.
async fn start_once(
    http: &reqwest::Client,
    config: &ColdStartConfig,
    request: &PreparedRequest,
) -> anyhow::Result<(Duration, Option<u64>)> {
    let output = || {
        if config.show_output {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let started = Instant::now();
    let mut child = Command::new(&config.program)
        .args(&config.args)
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawn {:?} (--cmd)", config.program))?;

    let outcome = wait_until_ready(http, config, request, &mut child, started).await;
    let rss_kib = child.id().and_then(|pid| read_rss_kib(pid).ok());
    child.start_kill().context("kill the server")?;
    child.wait().await.context("reap the server")?;
    Ok((outcome?, rss_kib))
}

async fn wait_until_ready(
    http: &reqwest::Client,
    config: &ColdStartConfig,
    request: &PreparedRequest,
    child: &mut Child,
    started: Instant,
) -> anyhow::Result<Duration> {
    let mut id = 1;
    loop {
        match probe(http, config, request, id).await {
            Ok(()) => return Ok(started.elapsed()),
            Err(error) => {
                if let Some(status) = child.try_wait().context("check the server process")? {
                    bail!(
                        "server exited with {status} before answering (last probe: {})",
                        error.describe()
                    );
                }
                if started.elapsed() > config.give_up_after {
                    bail!(
                        "no answer within {:?} (last probe: {})",
                        config.give_up_after,
                        error.describe()
                    );
                }
            }
        }
        id += 1;
        if config.poll_every.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(config.poll_every).await;
        }
    }
}

async fn probe(
    http: &reqwest::Client,
    config: &ColdStartConfig,
    request: &PreparedRequest,
    id: u64,
) -> Result<(), CallError> {
    let mut response = http
        .post(config.target.url.clone())
        .headers(request.headers.clone())
        .body(request.body(id))
        .send()
        .await?;
    let outcome = match config.probe {
        Probe::Health => read_tool_reply(&mut response, id).await,
        Probe::Discover => read_result::<Value>(&mut response, id).await.map(drop),
    };
    drain(&mut response).await;
    outcome
}

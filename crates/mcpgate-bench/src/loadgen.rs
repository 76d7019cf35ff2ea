//! Closed-loop load: N virtual clients, each sending its next call as soon as the last one
//! was answered.
//!
//! A run has three phases. Set-up opens every client (legacy sessions are initialised here,
//! unmeasured). Warm-up sends calls for `--warmup` seconds without recording them, so
//! connection set-up and lazy initialisation in the server do not skew the figures. The
//! measured window then lasts until `--duration` elapses or `--requests` calls were sent,
//! whichever comes first. Each client keeps its own histogram; they are merged at the end.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::client::{Target, VirtualClient};
use crate::reply::CallError;
use crate::report::{LatencySummary, LoadReport, ServerMemory};
use crate::rss::{ServerWatch, cpu_us_per_call, read_memory};
use crate::scenario::{Draws, Scenario};

/// Longest latency the histograms hold exactly: 60 s, in microseconds.
pub(crate) const MAX_TRACKED_MICROS: u64 = 60_000_000;

/// A resolved load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server and how to talk to it.
    pub target: Target,
    /// What to call.
    pub scenario: Scenario,
    /// Number of virtual clients.
    pub concurrency: usize,
    /// Length of the measured window, if bounded by time.
    pub duration: Option<Duration>,
    /// Number of measured calls, if bounded by count.
    pub requests: Option<u64>,
    /// Unmeasured time before the window opens.
    pub warmup: Duration,
    /// Free text for the report.
    pub label: Option<String>,
    /// Process whose memory to sample.
    pub server_pid: Option<u32>,
}

/// When the phases end; shared by every client.
#[derive(Debug)]
pub(crate) struct Schedule {
    warmup_end: Instant,
    measure_end: Option<Instant>,
    budget: Option<u64>,
    issued: AtomicU64,
}

impl Schedule {
    /// Warm-up from now for `warmup`, then a window of `duration` and/or `budget` calls.
    pub(crate) fn new(warmup: Duration, duration: Option<Duration>, budget: Option<u64>) -> Self {
        let warmup_end = Instant::now() + warmup;
        Self {
            warmup_end,
            measure_end: duration.map(|duration| warmup_end + duration),
            budget,
            issued: AtomicU64::new(0),
        }
    }

    /// When the measured window opens.
    pub(crate) fn warmup_end(&self) -> Instant {
        self.warmup_end
    }

    /// Whether the next call is measured, or `None` if the client should stop.
    pub(crate) fn admit(&self) -> Option<bool> {
        let now = Instant::now();
        if now < self.warmup_end {
            return Some(false);
        }
        if self.measure_end.is_some_and(|end| now >= end) {
            return None;
        }
        match self.budget {
            Some(budget) if self.issued.fetch_add(1, Ordering::Relaxed) >= budget => None,
            _ => Some(true),
        }
    }
}

/// What one client saw in the measured window.
#[derive(Debug)]
struct Tally {
    latencies: Histogram<u64>,
    requests: u64,
    errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
    streams_left_open: u64,
}

/// Error kinds already described on stderr, so each is explained once.
pub(crate) type SeenKinds = Arc<Mutex<HashSet<String>>>;

/// Runs the load and returns the report.
pub async fn run(config: LoadConfig) -> anyhow::Result<LoadReport> {
    let rss_idle = match config.server_pid {
        Some(pid) => Some(read_memory(pid).context("sample server memory (--server-pid)")?),
        None => None,
    };
    let target = Arc::new(config.target.clone());
    let scenario = Arc::new(config.scenario.clone());

    let clients = open_clients(&target, &scenario, config.concurrency).await?;
    let schedule = Arc::new(Schedule::new(
        config.warmup,
        config.duration,
        config.requests,
    ));
    let warmup_end = schedule.warmup_end();
    eprintln!(
        "mcpgate-bench: {} clients ({} era) on {} calling {}; warm-up {:.1}s, window {}",
        config.concurrency,
        target.era.as_str(),
        target.url,
        scenario.describe(),
        config.warmup.as_secs_f64(),
        window_text(&config),
    );
    let watch = ServerWatch::start(config.server_pid, rss_idle, warmup_end);

    let seen: SeenKinds = Arc::default();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let schedule = schedule.clone();
            let scenario = scenario.clone();
            let seen = seen.clone();
            tokio::spawn(drive(client, index as u64, schedule, scenario, seen))
        })
        .collect();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await.context("join a virtual client")?);
    }
    let (rss_peak, server_cpu_s) = watch.finish().await?;
    let mut report = summarise(
        &config,
        warmup_end,
        tallies,
        ServerMemory::new(rss_idle, rss_peak),
    );
    report.server_cpu_us_per_call =
        server_cpu_s.map(|cpu| cpu_us_per_call(cpu, report.latency_ms_count));
    Ok(report)
}

/// Builds `count` clients for `scenario` and opens them (legacy sessions), all at once.
pub(crate) async fn open_clients(
    target: &Arc<Target>,
    scenario: &Arc<Scenario>,
    count: usize,
) -> anyhow::Result<Vec<VirtualClient>> {
    let opening = (0..count).map(|index| async move {
        let mut client = VirtualClient::new(target.clone(), scenario.clone())
            .with_context(|| format!("build HTTP client {index}"))?;
        client
            .open()
            .await
            .with_context(|| format!("open session for client {index} at {}", target.url))?;
        anyhow::Ok(client)
    });
    futures::future::try_join_all(opening).await
}

async fn drive(
    mut client: VirtualClient,
    index: u64,
    schedule: Arc<Schedule>,
    scenario: Arc<Scenario>,
    seen: SeenKinds,
) -> Tally {
    let mut tally = Tally {
        latencies: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
            .expect("1..60s at 3 significant figures is a valid histogram"),
        requests: 0,
        errors: BTreeMap::new(),
        last_done: None,
        streams_left_open: 0,
    };
    let mut draws = Draws::new(index);
    while let Some(measured) = schedule.admit() {
        let outcome = client.call(scenario.pick(draws.next_draw())).await;
        if !measured {
            continue;
        }
        tally.requests += 1;
        tally.last_done = Some(Instant::now());
        match outcome {
            Ok(latency) => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                tally.latencies.saturating_record(micros.max(1));
            }
            Err(error) => count_error(&mut tally.errors, &seen, error.kind(), &error),
        }
    }
    if let Err(error) = client.close().await {
        count_error(
            &mut tally.errors,
            &seen,
            "session_delete".to_owned(),
            &error,
        );
    }
    tally.streams_left_open = client.streams_left_open();
    tally
}

/// Counts one failure of `kind`, describing it on stderr if it is the first of its kind.
fn count_error(
    errors: &mut BTreeMap<String, u64>,
    seen: &SeenKinds,
    kind: String,
    error: &CallError,
) {
    note_first(seen, &kind, || error.describe());
    *errors.entry(kind).or_default() += 1;
}

/// Describes a failure of `kind` on stderr if it is the first of its kind; true if it was.
pub(crate) fn note_first(seen: &SeenKinds, kind: &str, describe: impl FnOnce() -> String) -> bool {
    let first = seen
        .lock()
        .map(|mut seen| seen.insert(kind.to_owned()))
        .unwrap_or(false);
    if first {
        eprintln!("mcpgate-bench: first {kind} error: {}", describe());
    }
    first
}

fn summarise(
    config: &LoadConfig,
    warmup_end: Instant,
    tallies: Vec<Tally>,
    memory: ServerMemory,
) -> LoadReport {
    let mut latencies = Histogram::<u64>::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
        .expect("1..60s at 3 significant figures is a valid histogram");
    let mut errors = BTreeMap::new();
    let mut requests = 0;
    let mut last_done = warmup_end;
    let mut streams_left_open = 0;
    for tally in tallies {
        // Both histograms share bounds, so adding cannot fail.
        let _ = latencies.add(&tally.latencies);
        requests += tally.requests;
        for (kind, count) in tally.errors {
            *errors.entry(kind).or_insert(0) += count;
        }
        last_done = last_done.max(tally.last_done.unwrap_or(warmup_end));
        streams_left_open += tally.streams_left_open;
    }
    if streams_left_open > 0 {
        eprintln!(
            "mcpgate-bench: server kept {streams_left_open} event streams open after the \
             response; each cost a new connection"
        );
    }
    let window = last_done.duration_since(warmup_end).as_secs_f64();
    let succeeded = latencies.len();
    let calls_per_s = if window > 0.0 {
        (succeeded as f64 / window * 10.0).round() / 10.0
    } else {
        0.0
    };
    LoadReport {
        label: config.label.clone(),
        era: config.target.era.as_str(),
        url: config.target.url.to_string(),
        tool: config.scenario.describe(),
        concurrency: config.concurrency,
        duration_s: (window * 1000.0).round() / 1000.0,
        requests,
        errors,
        calls_per_s,
        latency_ms: LatencySummary::from_micros(&latencies),
        memory,
        server_cpu_us_per_call: None,
        latency_ms_count: succeeded,
    }
}

fn window_text(config: &LoadConfig) -> String {
    describe_window(config.duration, config.requests)
}

/// `4.0s`, `500 calls` or `4.0s or 500 calls`, for progress lines.
pub(crate) fn describe_window(duration: Option<Duration>, requests: Option<u64>) -> String {
    let secs = duration.map(|duration| duration.as_secs_f64());
    match (secs, requests) {
        (Some(secs), Some(requests)) => format!("{secs:.1}s or {requests} calls"),
        (Some(secs), None) => format!("{secs:.1}s"),
        (None, Some(requests)) => format!("{requests} calls"),
        (None, None) => "unbounded".to_owned(),
    }
}

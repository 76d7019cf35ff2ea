//! Adding up: what each client saw in the measured window, and the report made of it all.
//!
//! Clients keep their own [`Tally`] so the load shares nothing but the schedule; only when the
//! window has closed are the tallies summed per tool, per class (reads, writes) and in total.

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::WorkspaceConfig;
use super::mix::{Op, describe_mix};
use crate::loadgen::MAX_TRACKED_MICROS;
use crate::report::{LatencySummary, OpStats, SeedSummary, WorkspaceReport};

/// One measured call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) op: Op,
    pub(super) micros: u64,
}

/// What one client saw in the measured window.
#[derive(Debug)]
pub(super) struct Tally {
    /// Latency of every answered call that was not an error.
    pub(super) samples: Vec<Sample>,
    pub(super) calls: [u64; Op::ALL.len()],
    pub(super) conflicts: [u64; Op::ALL.len()],
    pub(super) errors: [BTreeMap<String, u64>; Op::ALL.len()],
    /// Legacy sessions the server refused to end.
    pub(super) session_delete_errors: u64,
    pub(super) last_done: Option<Instant>,
    pub(super) streams_left_open: u64,
}

impl Tally {
    pub(super) fn new() -> Self {
        Self {
            samples: Vec::new(),
            calls: [0; Op::ALL.len()],
            conflicts: [0; Op::ALL.len()],
            errors: Default::default(),
            session_delete_errors: 0,
            last_done: None,
            streams_left_open: 0,
        }
    }
}

/// Figures for a set of calls being added up.
#[derive(Debug)]
struct Sum {
    latencies: Histogram<u64>,
    calls: u64,
    conflicts: u64,
    errors: BTreeMap<String, u64>,
}

impl Sum {
    fn new() -> Self {
        Self {
            latencies: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                .expect("1..60s at 3 significant figures is a valid histogram"),
            calls: 0,
            conflicts: 0,
            errors: BTreeMap::new(),
        }
    }

    fn add_counts(&mut self, calls: u64, conflicts: u64, errors: &BTreeMap<String, u64>) {
        self.calls += calls;
        self.conflicts += conflicts;
        for (kind, count) in errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }

    fn stats(&self, class: Option<&'static str>, window_s: f64) -> OpStats {
        OpStats {
            class,
            calls: self.calls,
            calls_per_s: per_second(self.latencies.len(), window_s),
            latency_ms: LatencySummary::from_micros(&self.latencies),
            errors: self.errors.clone(),
            conflicts: self.conflicts,
        }
    }
}

fn per_second(count: u64, window_s: f64) -> f64 {
    if window_s > 0.0 {
        (count as f64 / window_s * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The report, and the number of answered calls (not errors) in the window.
pub(super) fn summarise(
    config: &WorkspaceConfig,
    weights: &[(Op, u64)],
    seeded: SeedSummary,
    warmup_end: Instant,
    tallies: Vec<Tally>,
) -> (WorkspaceReport, u64) {
    let mut tools: Vec<Sum> = Op::ALL.iter().map(|_| Sum::new()).collect();
    let mut reads = Sum::new();
    let mut writes = Sum::new();
    let mut total = Sum::new();
    let mut last_done = warmup_end;
    let mut streams_left_open = 0;
    for tally in tallies {
        for sample in &tally.samples {
            let micros = sample.micros.max(1);
            let class = if sample.op.writes() {
                &mut writes
            } else {
                &mut reads
            };
            for sum in [&mut tools[sample.op.index()], class, &mut total] {
                sum.latencies.saturating_record(micros);
            }
        }
        for op in Op::ALL {
            let slot = op.index();
            let (calls, conflicts, errors) = (
                tally.calls[slot],
                tally.conflicts[slot],
                &tally.errors[slot],
            );
            let class = if op.writes() { &mut writes } else { &mut reads };
            for sum in [&mut tools[slot], class, &mut total] {
                sum.add_counts(calls, conflicts, errors);
            }
        }
        if tally.session_delete_errors > 0 {
            *total.errors.entry("session_delete".to_owned()).or_default() +=
                tally.session_delete_errors;
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
    let tool_stats = Op::ALL
        .iter()
        .zip(&tools)
        .map(|(op, sum)| (op.tool().to_owned(), sum.stats(Some(op.class()), window)))
        .collect();
    let totals = total.stats(None, window);
    let report = WorkspaceReport {
        scenario: "workspace",
        label: config.label.clone(),
        era: config.target.era.as_str(),
        url: config.target.url.to_string(),
        concurrency: config.concurrency,
        duration_s: (window * 1000.0).round() / 1000.0,
        mix: describe_mix(weights),
        seeded,
        requests: totals.calls,
        errors: totals.errors,
        conflicts: totals.conflicts,
        calls_per_s: totals.calls_per_s,
        latency_ms: totals.latency_ms,
        reads: reads.stats(None, window),
        writes: writes.stats(None, window),
        tools: tool_stats,
        memory: Default::default(),
        server_cpu_us_per_call: None,
    };
    (report, total.latencies.len())
}

//! The one-line JSON reports the tool prints on stdout.
//!
//! Scripts compare runs by reading these lines, so field names are stable and every figure
//! is in the unit its name says. Human-readable progress goes to stderr instead.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Result of a load run.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    /// Free text from `--label`, to tell runs apart.
    pub label: Option<String>,
    /// `modern` or `legacy`.
    pub era: &'static str,
    /// The endpoint under test.
    pub url: String,
    /// The tool called (or `name:weight,…` for a mix).
    pub tool: String,
    /// Number of virtual clients.
    pub concurrency: usize,
    /// Length of the measured window in seconds, warm-up excluded.
    pub duration_s: f64,
    /// Calls completed in the measured window, failures included.
    pub requests: u64,
    /// Failed calls by kind (`http_503`, `jsonrpc_-32602`, `tool_error`, `timeout`, …).
    pub errors: BTreeMap<String, u64>,
    /// Successful calls per second over the measured window.
    pub calls_per_s: f64,
    /// Latency of successful calls.
    pub latency_ms: LatencySummary,
    /// The server's resident memory, when `--server-pid` was given.
    #[serde(flatten)]
    pub memory: ServerMemory,
    /// Server CPU time (user + system) per successful call in the measured window, in
    /// microseconds, when `--server-pid` was given. Steadier than calls/s on a shared machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_call: Option<f64>,
    /// Successful calls in the window (the latency histogram's count).
    #[serde(skip)]
    pub latency_ms_count: u64,
}

/// Latency percentiles in milliseconds, at microsecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl LatencySummary {
    /// Summarises a histogram of microseconds; all zeros when it is empty.
    pub fn from_micros(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self {
                p50: 0.0,
                p95: 0.0,
                p99: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        let at = |quantile: f64| micros_to_ms(histogram.value_at_quantile(quantile) as f64);
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: micros_to_ms(histogram.max() as f64),
            mean: micros_to_ms(histogram.mean()),
        }
    }
}

/// Result of a cold-start measurement.
#[derive(Debug, Serialize)]
pub struct ColdStartReport {
    /// Free text from `--label`.
    pub label: Option<String>,
    /// The command that was started.
    pub cmd: String,
    /// The endpoint probed.
    pub url: String,
    /// `health` (a modern `tools/call`) or `discover` (`server/discover`).
    pub probe: &'static str,
    /// Number of starts measured.
    pub runs: usize,
    /// Median time from spawn to first answered request.
    pub median_ms: f64,
    /// Fastest start.
    pub min_ms: f64,
    /// Slowest start.
    pub max_ms: f64,
    /// Every start, in run order.
    pub samples_ms: Vec<f64>,
    /// Median server resident set size right after its first answer.
    pub rss_ready_kib: Option<u64>,
}

/// Result of a `workspace` run: totals, then per operation class and per tool.
///
/// A call ends in one of three ways: success; an expected refusal under contention, counted
/// in `conflicts` (a `patch_task` or `process_task` whose version is stale, or whose
/// transition no longer applies); or an error, counted by kind in `errors`. `calls_per_s` and
/// `latency_ms` cover answered calls that are not errors (successes and conflicts).
#[derive(Debug, Serialize)]
pub struct WorkspaceReport {
    /// Always `workspace`; tells these lines from load and cold-start lines.
    pub scenario: &'static str,
    /// Free text from `--label`, to tell runs apart (e.g. the backend).
    pub label: Option<String>,
    /// `modern` or `legacy`.
    pub era: &'static str,
    /// The endpoint under test.
    pub url: String,
    /// Number of virtual clients.
    pub concurrency: usize,
    /// Length of the measured window in seconds, warm-up excluded.
    pub duration_s: f64,
    /// Each tool's share of the draws in percent, `name:share,…`.
    pub mix: String,
    /// What was created before the load started.
    pub seeded: SeedSummary,
    /// Calls completed in the measured window, whatever their outcome.
    pub requests: u64,
    /// Failed calls by kind (`tool_error`, `http_503`, `jsonrpc_-32602`, `timeout`, …).
    pub errors: BTreeMap<String, u64>,
    /// Expected refusals: version conflicts and transitions that no longer apply.
    pub conflicts: u64,
    /// Answered calls (not errors) per second over the measured window.
    pub calls_per_s: f64,
    /// Latency of answered calls (not errors).
    pub latency_ms: LatencySummary,
    /// Read tools together.
    pub reads: OpStats,
    /// Write tools together.
    pub writes: OpStats,
    /// Each tool.
    pub tools: BTreeMap<String, OpStats>,
    /// The server's resident memory (idle: after seeding, before the load), when
    /// `--server-pid` was given.
    #[serde(flatten)]
    pub memory: ServerMemory,
    /// Server CPU time per answered call in the measured window, in microseconds, when
    /// `--server-pid` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_call: Option<f64>,
}

/// What the `workspace` scenario created before the load.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SeedSummary {
    /// Tasks created (the IDs reads and writes draw from).
    pub tasks: usize,
    /// Notes created.
    pub notes: usize,
    /// Comments created on seeded tasks.
    pub comments: usize,
    /// Records written in all, over every org (seeding at scale writes to other orgs too,
    /// and its tasks and notes count the measured org's only).
    pub records: usize,
    /// Time the seeding took, in seconds.
    pub seconds: f64,
}

/// Figures for one tool or one class of tools.
#[derive(Debug, Clone, Serialize)]
pub struct OpStats {
    /// `reads` or `writes`, for a tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
    /// Calls completed in the window, whatever their outcome.
    pub calls: u64,
    /// Answered calls (not errors) per second.
    pub calls_per_s: f64,
    /// Latency of answered calls (not errors).
    pub latency_ms: LatencySummary,
    /// Failed calls by kind.
    pub errors: BTreeMap<String, u64>,
    /// Expected refusals (stale version, transition that no longer applies).
    pub conflicts: u64,
}

impl OpStats {
    /// All failed calls, whatever their kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl WorkspaceReport {
    /// A table for people: each class, its tools (busiest first) and the totals.
    pub fn human(&self) -> String {
        let mut out = format!(
            "workspace: {} clients ({} era), {:.1} s measured; seeded {} tasks, {} notes, {} \
             comments in {:.1} s\n",
            self.concurrency,
            self.era,
            self.duration_s,
            self.seeded.tasks,
            self.seeded.notes,
            self.seeded.comments,
            self.seeded.seconds,
        );
        out.push_str(&format!(
            "  {:<16} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9}\n",
            "operation", "calls", "calls/s", "p50 ms", "p95 ms", "p99 ms", "errors", "conflicts"
        ));
        let row = |out: &mut String, name: &str, stats: &OpStats| {
            out.push_str(&format!(
                "  {:<16} {:>9} {:>9.1} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>9}\n",
                name,
                stats.calls,
                stats.calls_per_s,
                stats.latency_ms.p50,
                stats.latency_ms.p95,
                stats.latency_ms.p99,
                stats.error_count(),
                stats.conflicts,
            ));
        };
        for (class, stats) in [("reads", &self.reads), ("writes", &self.writes)] {
            row(&mut out, class, stats);
            let mut tools: Vec<_> = self
                .tools
                .iter()
                .filter(|(_, tool)| tool.class == Some(class))
                .collect();
            tools.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
            for (name, tool) in tools {
                row(&mut out, &format!("  {name}"), tool);
            }
        }
        let total = OpStats {
            class: None,
            calls: self.requests,
            calls_per_s: self.calls_per_s,
            latency_ms: self.latency_ms,
            errors: self.errors.clone(),
            conflicts: self.conflicts,
        };
        row(&mut out, "total", &total);
        out
    }
}

/// Milliseconds with three decimals from a count of microseconds.
pub fn micros_to_ms(micros: f64) -> f64 {
    micros.round() / 1000.0
}

/// The median of `values` (upper median for an even count); `None` when empty.
pub fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len() / 2).copied()
}

/// Writes `report` to stdout as exactly one line of JSON.
pub fn print_line<T: Serialize>(report: &T) -> anyhow::Result<()> {
    let line = serde_json::to_string(report).context("serialise report")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").context("write report to stdout")?;
    stdout.flush().context("flush stdout")
}

/// A server's resident memory over a run, in KiB: idle before the first call and the peak
/// during it, in all and its two parts (see [`crate::rss::Memory`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerMemory {
    /// All of it (`VmRSS`) before the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_idle_kib: Option<u64>,
    /// The largest `VmRSS` seen during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_peak_kib: Option<u64>,
    /// The anonymous part before the run (what the server allocated; the rest is its
    /// executable's pages as mapped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_anon_idle_kib: Option<u64>,
    /// The largest anonymous part seen during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_anon_peak_kib: Option<u64>,
    /// The largest file-backed part seen during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_file_peak_kib: Option<u64>,
}

impl ServerMemory {
    /// From the idle reading and the sampled peaks.
    pub fn new(idle: Option<crate::rss::Memory>, peak: Option<crate::rss::Memory>) -> Self {
        Self {
            rss_idle_kib: idle.map(|m| m.rss),
            rss_peak_kib: peak.map(|m| m.rss),
            rss_anon_idle_kib: idle.map(|m| m.anon),
            rss_anon_peak_kib: peak.map(|m| m.anon),
            rss_file_peak_kib: peak.map(|m| m.file),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_reported_in_milliseconds() {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        for micros in 1..=1000 {
            histogram.record(micros).expect("value within bounds");
        }
        let summary = LatencySummary::from_micros(&histogram);
        assert_eq!(summary.p50, 0.5);
        assert_eq!(summary.max, 1.0);
        assert_eq!(summary.mean, 0.501);
        assert!(summary.p99 >= 0.989 && summary.p99 <= 0.991, "{summary:?}");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4, 1, 3, 2]), Some(3));
        assert_eq!(median::<u64>(&[]), None);
    }
}

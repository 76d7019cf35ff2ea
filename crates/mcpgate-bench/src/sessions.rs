//! The `sessions` mode: what an idle legacy session costs a server.
//!
//! Opens sessions one after another (`initialize`, then `notifications/initialized`), leaves
//! them idle, and reads the server's memory from `/proc/<pid>/status` before and after:
//! anonymous memory (what sessions allocate) apart from file-mapped pages (the binary and the
//! database map, which sessions do not grow). A short warm-up first lets the allocator and the
//! runtime reach their working size, so the figure is per session, not start-up. Refusals
//! (a server's session cap, HTTP 503) are counted, not failed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use serde::Serialize;

use crate::client::{Target, VirtualClient};
use crate::reply::CallError;
use crate::scenario::{Scenario, ToolCall};

/// Sessions opened (and left open) before the first reading.
const WARMUP_SESSIONS: usize = 20;
/// Time for the server to settle after the last session, before the second reading.
const SETTLE: Duration = Duration::from_secs(1);

/// What a `sessions` run needs.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    /// The server (legacy era).
    pub target: Target,
    /// Sessions to open after the warm-up.
    pub sessions: usize,
    /// The server's process id, whose memory is read.
    pub server_pid: u32,
    /// Free text copied into the report.
    pub label: Option<String>,
}

/// Memory of a process, in KiB, as `/proc/<pid>/status` reports it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    /// `VmRSS`: all resident pages.
    pub rss_kib: u64,
    /// `RssAnon`: resident anonymous pages (heap, stacks).
    pub anon_kib: u64,
    /// `RssFile`: resident file-mapped pages (the binary, libraries, mapped databases).
    pub file_kib: u64,
}

impl Memory {
    /// The memory of process `pid` now.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        Self::parse(&status).with_context(|| format!("in {path}"))
    }

    /// The memory lines of a `/proc/<pid>/status` text.
    fn parse(status: &str) -> anyhow::Result<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .with_context(|| format!("no {name} line"))
        };
        Ok(Self {
            rss_kib: field("VmRSS:")?,
            anon_kib: field("RssAnon:")?,
            file_kib: field("RssFile:")?,
        })
    }
}

/// The report of a `sessions` run.
#[derive(Debug, Serialize)]
pub struct SessionsReport {
    /// Always `sessions`.
    pub mode: &'static str,
    /// Free text from `--label`.
    pub label: Option<String>,
    /// Sessions asked for after the warm-up.
    pub requested: usize,
    /// Sessions the server opened.
    pub opened: usize,
    /// `initialize` calls refused with 503 (a session cap).
    pub refused: usize,
    /// Server memory after the warm-up.
    pub before: Memory,
    /// Server memory with every session open and idle.
    pub after: Memory,
    /// Anonymous bytes per opened session.
    pub anon_bytes_per_session: u64,
    /// File-mapped bytes per opened session.
    pub file_bytes_per_session: u64,
}

/// Open the warm-up sessions, read memory, open the measured ones, read memory again.
pub async fn run(config: SessionsConfig) -> anyhow::Result<SessionsReport> {
    let target = Arc::new(config.target);
    let scenario = Arc::new(Scenario::single(ToolCall::new(
        "health",
        serde_json::json!({}),
    )));
    for _ in 0..WARMUP_SESSIONS {
        open(&target, &scenario).await.context("warm-up session")?;
    }
    tokio::time::sleep(SETTLE).await;
    let before = Memory::of(config.server_pid)?;
    let (mut opened, mut refused) = (0, 0);
    for _ in 0..config.sessions {
        match open(&target, &scenario).await {
            Ok(()) => opened += 1,
            Err(CallError::Status(StatusCode::SERVICE_UNAVAILABLE)) => refused += 1,
            Err(e) => return Err(e).context("open a session"),
        }
    }
    tokio::time::sleep(SETTLE).await;
    let after = Memory::of(config.server_pid)?;
    let per_session = |from: u64, to: u64| (to.saturating_sub(from) * 1024) / opened.max(1) as u64;
    Ok(SessionsReport {
        mode: "sessions",
        label: config.label,
        requested: config.sessions,
        opened,
        refused,
        anon_bytes_per_session: per_session(before.anon_kib, after.anon_kib),
        file_bytes_per_session: per_session(before.file_kib, after.file_kib),
        before,
        after,
    })
}

/// Open one legacy session and leave it idle.
async fn open(target: &Arc<Target>, scenario: &Arc<Scenario>) -> Result<(), CallError> {
    VirtualClient::new(Arc::clone(target), Arc::clone(scenario))?
        .open()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_by_kind() {
        let status = "Name:\tmcpgate\nVmRSS:\t  40720 kB\nRssAnon:\t  22136 kB\n\
                      RssFile:\t  18584 kB\nRssShmem:\t 0 kB\n";
        let memory = Memory::parse(status).expect("parsed");
        assert_eq!(
            (memory.rss_kib, memory.anon_kib, memory.file_kib),
            (40720, 22136, 18584)
        );
        assert!(
            Memory::parse("VmRSS:\t1 kB\n").is_err(),
            "RssAnon is required"
        );
    }
}

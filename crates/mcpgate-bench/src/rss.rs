//! Server memory from `/proc/<pid>/status` (Linux only).
//!
//! Resident set size is read from the `VmRSS` line, which the kernel reports in KiB, with its
//! two parts: `RssAnon` (the heap, stacks: memory the process made) and `RssFile` (pages of
//! the executable and other mapped files, shared with the page cache). A sampler polls them
//! during a load run so the report can show the peaks next to the idle figures taken before
//! the first request.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often the sampler reads the memory figures during a run.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The current resident set size of process `pid`, in KiB.
pub fn read_rss_kib(pid: u32) -> anyhow::Result<u64> {
    read_memory(pid).map(|memory| memory.rss)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// The value in KiB of the `/proc/<pid>/status` line starting with `key`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// A process's resident memory, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// All of it (`VmRSS`).
    pub rss: u64,
    /// Anonymous memory (`RssAnon`): what the process allocated.
    pub anon: u64,
    /// File-backed pages (`RssFile`): the executable's code and data as mapped.
    pub file: u64,
}

impl Memory {
    /// Each part's larger value (peaks of the parts need not coincide).
    fn max(self, other: Self) -> Self {
        Self {
            rss: self.rss.max(other.rss),
            anon: self.anon.max(other.anon),
            file: self.file.max(other.file),
        }
    }
}

/// The current resident memory of process `pid`.
pub fn read_memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_memory(&status).with_context(|| format!("no VmRSS, RssAnon or RssFile line in {path}"))
}

fn parse_memory(status: &str) -> Option<Memory> {
    Some(Memory {
        rss: parse_vm_rss(status)?,
        anon: status_kib(status, "RssAnon:")?,
        file: status_kib(status, "RssFile:")?,
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux x86_64).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user + system) process `pid` has used so far, in seconds.
pub fn read_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / TICKS_PER_SECOND)
        .with_context(|| format!("unexpected format of {path}"))
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state is field 3 of the file; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A background task that tracks the largest resident memory of a process.
#[derive(Debug)]
pub struct RssSampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Memory>,
}

impl RssSampler {
    /// Starts sampling `pid`, counting `floor` as already seen.
    pub fn start(pid: u32, floor: Memory) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = floor;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
                // The process may exit mid-run; keep the peak seen so far.
                if let Ok(now) = read_memory(pid) {
                    peak = peak.max(now);
                }
            }
            if let Ok(now) = read_memory(pid) {
                peak = peak.max(now);
            }
            peak
        });
        Self { stop, task }
    }

    /// Stops sampling and returns the peaks.
    pub async fn finish(self) -> anyhow::Result<Memory> {
        // The task may already have ended; it still holds the peak.
        let _ = self.stop.send(());
        self.task.await.context("join the RSS sampler task")
    }
}

/// The server's memory and CPU over a measured window: RSS sampled throughout (peak against
/// the idle figure), CPU time read when the window opens and after the last call.
pub struct ServerWatch {
    pid: Option<u32>,
    sampler: Option<RssSampler>,
    cpu_at_window: Option<JoinHandle<Option<f64>>>,
}

impl ServerWatch {
    /// Start watching `pid` (nothing to watch when `None`); the window opens at `window_start`.
    pub fn start(
        pid: Option<u32>,
        rss_idle: Option<Memory>,
        window_start: std::time::Instant,
    ) -> Self {
        let sampler = pid
            .zip(rss_idle)
            .map(|(pid, idle)| RssSampler::start(pid, idle));
        let cpu_at_window = pid.map(|pid| {
            tokio::spawn(async move {
                tokio::time::sleep_until(window_start.into()).await;
                read_cpu_seconds(pid).ok()
            })
        });
        Self {
            pid,
            sampler,
            cpu_at_window,
        }
    }

    /// The memory peaks and the server CPU seconds spent in the window.
    pub async fn finish(self) -> anyhow::Result<(Option<Memory>, Option<f64>)> {
        let rss_peak = match self.sampler {
            Some(sampler) => Some(sampler.finish().await?),
            None => None,
        };
        let cpu = match (self.cpu_at_window, self.pid) {
            (Some(start), Some(pid)) => {
                let start = start.await.context("join the CPU sampler")?;
                start.zip(read_cpu_seconds(pid).ok()).map(|(a, b)| b - a)
            }
            _ => None,
        };
        Ok((rss_peak, cpu))
    }
}

/// Server CPU microseconds per call, to a tenth.
pub fn cpu_us_per_call(cpu_seconds: f64, calls: u64) -> f64 {
    (cpu_seconds * 1e6 / calls.max(1) as f64 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_after_the_command_name() {
        let stat = "4242 (my server) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_vm_rss_line() {
        let status = "Name:\tfloor\nVmPeak:\t  20000 kB\nVmRSS:\t   10236 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(10236));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn parses_memory_and_its_parts() {
        let status = "VmRSS:\t   10236 kB\nRssAnon:\t    4000 kB\nRssFile:\t    6236 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss: 10236,
                anon: 4000,
                file: 6236
            })
        );
        assert_eq!(parse_memory("VmRSS:\t 1 kB\n"), None);
    }

    #[test]
    fn reads_own_rss() {
        let kib = read_rss_kib(std::process::id()).expect("/proc/self is readable on Linux");
        assert!(kib > 0);
    }
}

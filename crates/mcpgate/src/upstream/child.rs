//! A stdio upstream's child process: started without a shell and with only the variables its
//! entry lists (plus `PATH`, `HOME`, `LANG`); its stdout checked line by line before rmcp reads
//! it, so a line that cannot be JSON-RPC ends the session with a clear error instead of
//! leaving calls to hang; its stderr logged line by line under the upstream's name, never
//! parsed; and stopped the polite way: stdin closed, then SIGTERM, then SIGKILL.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Variables a child gets from this process besides the ones its entry lists.
const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG"];

/// The longest line accepted from a child's stdout (a message) …
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// … and from its stderr (longer log lines are cut).
const MAX_LOG_LINE: usize = 4096;

/// How long a child may take to exit after its stdin closed, and again after SIGTERM.
const GRACE: Duration = Duration::from_secs(2);

/// A running child.
pub(super) struct Process {
    child: Child,
    upstream: String,
}

/// Start `command` for the upstream `name`. Returns the process and the two ends rmcp
/// speaks through (what the child wrote, checked; and its stdin).
pub(super) fn spawn(
    name: &str,
    command: &str,
    args: &[String],
    env: &std::collections::BTreeMap<String, String>,
    cwd: Option<&std::path::Path>,
) -> anyhow::Result<(Process, impl AsyncRead + Send + Unpin + 'static, ChildStdin)> {
    let mut cmd = Command::new(command);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in BASE_ENV {
        if let Ok(value) = std::env::var(var) {
            cmd.env(var, value);
        }
    }
    cmd.envs(env);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().with_context(|| format!("start {command}"))?;
    let stdin = child.stdin.take().context("the child's stdin")?;
    let stdout = child.stdout.take().context("the child's stdout")?;
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(log_stderr(name.to_owned(), stderr));
    }
    let (checked, rmcp_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(check_stdout(name.to_owned(), stdout, checked));
    Ok((
        Process {
            child,
            upstream: name.to_owned(),
        },
        rmcp_end,
        stdin,
    ))
}

/// Pass the child's stdout on line by line while each line can be a JSON-RPC message; end it
/// (rmcp then sees the transport close) at the first that cannot, or one over the size cap.
async fn check_stdout(
    upstream: String,
    stdout: impl AsyncRead + Unpin,
    mut to_rmcp: impl AsyncWrite + Unpin,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_MESSAGE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > MAX_MESSAGE {
            tracing::error!(upstream = %upstream, "upstream wrote a message over 16 MiB; ending its session");
            return;
        }
        let text = line.trim_ascii();
        if !text.is_empty() && !matches!(text[0], b'{' | b'[') {
            let shown = String::from_utf8_lossy(&text[..text.len().min(200)]).into_owned();
            tracing::error!(
                upstream = %upstream,
                line = %shown,
                "upstream wrote something that is not JSON-RPC to stdout; ending its session"
            );
            return;
        }
        if to_rmcp.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// Log each stderr line of the child under the upstream's name (cut to a bounded length).
async fn log_stderr(upstream: String, stderr: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LOG_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(line.trim_ascii_end());
        if !text.is_empty() {
            tracing::info!(upstream = %upstream, line = %text, "upstream stderr");
        }
        // A cut line: skip the rest of it, a bounded chunk at a time.
        let mut cut = !line.ends_with(b"\n") && line.len() >= MAX_LOG_LINE;
        while cut {
            line.clear();
            match (&mut reader)
                .take(MAX_LOG_LINE as u64)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => return,
                Ok(_) => cut = !line.ends_with(b"\n"),
            }
        }
    }
}

impl Process {
    /// Stop the child (its stdin is already closed by the session's end): wait for it to exit,
    /// then SIGTERM, then SIGKILL, each after a grace period; and reap it.
    pub async fn stop(mut self) {
        if tokio::time::timeout(GRACE, self.child.wait()).await.is_ok() {
            return;
        }
        if let Some(pid) = self.child.id() {
            terminate(pid);
            if tokio::time::timeout(GRACE, self.child.wait()).await.is_ok() {
                return;
            }
        }
        tracing::warn!(upstream = %self.upstream, "upstream process ignored SIGTERM; killing it");
        let _ = self.child.kill().await;
    }
}

/// SIGTERM to a child this process spawned and has not reaped yet (so its pid cannot have
/// been reused).
#[cfg(unix)]
fn terminate(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

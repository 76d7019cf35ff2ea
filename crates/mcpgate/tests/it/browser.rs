//! Pages rendered in a real browser, offline: headless Chromium with every host name but
//! 127.0.0.1 unresolvable, so a page that needed a CDN, a web font or any other outside asset
//! would not render.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// What Chromium made of a page.
pub struct Rendered {
    /// The DOM after scripts ran (`--dump-dom`).
    pub dom: String,
    /// Whether Chromium exited 0.
    pub success: bool,
    /// How it exited, and the end of its stderr.
    pub diagnostics: String,
}

/// Render `url`; `None` (with a note) where Chromium is not installed, except under CI, where
/// the browser tests must run.
pub async fn render(url: &str, what: &str) -> Option<Rendered> {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {CHROMIUM} is missing: the {what} test must run (scripts/test.sh \
             installs Debian's chromium package)"
        );
        eprintln!("{CHROMIUM} not found: skipping the {what} test");
        return None;
    }
    let profile = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            // Every name fails to resolve: only the server under test can be reached.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("chromium finishes in time")
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    Some(Rendered {
        diagnostics: format!(
            "exit: {}\n--- DOM (end) ---\n{}\n--- chromium stderr (end) ---\n{}",
            output.status,
            tail(&dom, 4000),
            tail(&stderr, 4000)
        ),
        success: output.status.success(),
        dom,
    })
}

impl Rendered {
    /// What to print when an assertion about the page fails: Chromium's side and the server's
    /// log.
    pub fn context(&self, server_logs: &[String]) -> String {
        format!(
            "{}\n--- server log ---\n{}",
            self.diagnostics,
            server_logs.join("\n")
        )
    }
}

/// The last `n` bytes of `s` or a little less, cut on a character boundary.
fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

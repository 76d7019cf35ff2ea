//! `/docs` renders the app's own OpenAPI document in a real browser, offline: headless Chromium
//! with every host name but 127.0.0.1 unresolvable, so a page that needed a CDN, a web font or
//! the Swagger validator would not render.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::Server;

const CHROMIUM: &str = "/usr/bin/chromium";

#[tokio::test]
async fn docs_render_offline_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but {CHROMIUM} is missing: the docs rendering test must run \
                 (scripts/test.sh installs Debian's chromium package)"
            );
        }
        eprintln!("{CHROMIUM} not found: skipping the docs rendering test");
        return;
    }
    let server = Server::start(&[]).await;
    let profile = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // Every name fails to resolve: only the server under test can be reached.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(server.at("/docs"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("chromium finishes in time")
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let context = || {
        let stderr = String::from_utf8_lossy(&output.stderr);
        format!(
            "exit: {}\n--- DOM (end) ---\n{}\n--- chromium stderr (end) ---\n{}\n--- server log ---\n{}",
            output.status,
            tail(&dom, 4000),
            tail(&stderr, 4000),
            server.logs().join("\n"),
        )
    };
    assert!(output.status.success(), "chromium failed\n{}", context());
    assert!(
        dom.contains("id=\"swagger-ui\""),
        "the docs page was not loaded\n{}",
        context()
    );
    assert!(
        !dom.contains("Failed to load API definition"),
        "Swagger UI could not load /openapi.json\n{}",
        context()
    );
    assert!(
        dom.contains("opblock"),
        "Swagger UI rendered no operations\n{}",
        context()
    );
    assert!(
        dom.contains("/api/v1/notes"),
        "the notes API is not in the rendered docs\n{}",
        context()
    );
}

/// The last `n` bytes of `s` or a little less, cut on a character boundary.
fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

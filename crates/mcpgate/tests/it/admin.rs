//! The admin listener: metrics, probes and the status page off the public listener; the
//! metrics token wherever metrics are served; DNS rebinding and cross-site requests refused;
//! `mcpgate health` for container health checks.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;

use crate::browser;
use crate::support::{Server, binary, run_binary};

const TOKEN: &str = "public-listener-token-0123456789";
const METRICS_TOKEN: &str = "metrics-token-abcdefghijklmnop";

async fn get(
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a body"))
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn metrics_move_to_the_admin_listener_when_the_public_one_is_not_loopback() {
    // Public on every interface (so it needs auth); the admin listener on loopback.
    let server = Server::start_at(
        "0.0.0.0:0",
        &[("MCPGATE_AUTH", "token"), ("MCPGATE_AUTH_TOKEN", TOKEN)],
    )
    .await;
    let (status, _, _) = get(&server.at("/metrics"), &[]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no metrics on the public listener"
    );
    let (status, _, _) = get(
        &server.at("/metrics"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not even for an authenticated caller"
    );
    for path in ["/healthz", "/readyz"] {
        let (status, _, _) = get(&server.at(path), &[]).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the public listener keeps {path} for load balancers"
        );
        let (status, headers, _) = get(&server.admin(path), &[]).await;
        assert_eq!(status, StatusCode::OK, "admin {path}");
        assert!(headers.contains_key("x-request-id"));
    }
    let (status, headers, body) = get(&server.admin("/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("mcpgate_http_requests_total"), "{body}");
    assert_eq!(headers["cache-control"], "no-store");

    // Asked for, they are served publicly too.
    let public = Server::start_at(
        "0.0.0.0:0",
        &[
            ("MCPGATE_AUTH", "token"),
            ("MCPGATE_AUTH_TOKEN", TOKEN),
            ("MCPGATE_PUBLIC_METRICS", "true"),
        ],
    )
    .await;
    let (status, _, body) = get(&public.at("/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("mcpgate_http_requests_in_flight 1"), "{body}");
}

#[tokio::test]
async fn the_metrics_token_guards_metrics_on_both_listeners_and_the_status_page() {
    // A loopback public listener serves metrics too by default: behind the same token.
    let server = Server::start(&[("MCPGATE_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let bearer = format!("Bearer {METRICS_TOKEN}");
    let refused = [
        None,
        Some(format!("Bearer {METRICS_TOKEN}x")),
        Some(format!(
            "Bearer {}",
            &METRICS_TOKEN[..METRICS_TOKEN.len() - 1]
        )),
        Some("Bearer".to_owned()),
        Some(format!("Token {METRICS_TOKEN}")),
        Some(METRICS_TOKEN.to_owned()),
        Some(basic(METRICS_TOKEN, "wrong")),
        Some("Basic !!!not-base64".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(METRICS_TOKEN)
        )),
    ];
    for url in [
        server.admin("/metrics"),
        server.at("/metrics"),
        server.admin("/status"),
    ] {
        for authorization in &refused {
            let headers: Vec<(&str, &str)> = authorization
                .as_deref()
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            let (status, headers, body) = get(&url, &headers).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{url} with {authorization:?}"
            );
            let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
            assert_eq!(
                challenges.len(),
                2,
                "Basic (browsers) and Bearer (scrapers)"
            );
            assert!(body.contains("\"error\":\"unauthorized\""), "{body}");
            assert!(!body.contains(METRICS_TOKEN));
        }
        for authorization in [
            bearer.clone(),
            basic("prometheus", METRICS_TOKEN),
            basic("", METRICS_TOKEN),
        ] {
            let (status, _, _) = get(&url, &[("authorization", &authorization)]).await;
            assert_eq!(status, StatusCode::OK, "{url} with {authorization}");
        }
    }
    // Probes never need it.
    for url in [
        server.admin("/healthz"),
        server.admin("/readyz"),
        server.at("/healthz"),
    ] {
        let (status, _, _) = get(&url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
    }
}

#[tokio::test]
async fn the_admin_listener_refuses_rebound_names_and_other_sites() {
    let server = Server::start(&[]).await;
    let status_page = server.admin("/status");
    let port = status_page
        .split(':')
        .nth(2)
        .and_then(|rest| rest.split('/').next())
        .expect("a port")
        .to_owned();
    // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        for path in ["/status", "/metrics", "/healthz"] {
            let url = server.admin(path);
            let (status, headers, body) = get(&url, &[("host", &host)]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} with Host {host}");
            assert!(body.contains("forbidden_host"));
            assert!(
                headers.contains_key("x-request-id"),
                "made like every other answer"
            );
        }
    }
    // A page of another site reading it with fetch, or posting to it.
    let (status, _, _) = get(&status_page, &[("origin", "http://evil.example")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(&status_page, &[("origin", "null")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(
        &status_page,
        &[("origin", &format!("http://127.0.0.1:{port}"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "its own origin");
    let (status, _, _) = get(&status_page, &[("host", &format!("localhost:{port}"))]).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing but the admin routes.
    for path in ["/mcp", "/api/v1/notes", "/docs"] {
        let (status, _, _) = get(&server.admin(path), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_status_page_renders_offline_with_upstreams_and_recent_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("mcpgate.toml");
    std::fs::write(
        &config,
        "[[upstreams]]\nname = \"files\"\ntransport = \"stdio\"\n\
         command = \"/nonexistent/mcp-files-server\"\nwarm = true\n\
         [upstreams.tools]\nallow = [\"*\"]\n",
    )
    .expect("write the config");
    let server = Server::start(&[
        ("MCPGATE_CONFIG", config.to_str().expect("utf-8 path")),
        ("MCPGATE_RATE_LIMIT", "100/min"),
    ])
    .await;
    // The warm upstream's failed start is logged as a warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, body) = get(&server.admin("/status"), &[]).await;
        if body.contains("mcp-files-server") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no warning on the page:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(page) = browser::render(&server.admin("/status"), "status page").await else {
        return;
    };
    let context = || page.context(&server.logs());
    assert!(page.success, "chromium failed\n{}", context());
    let dom = &page.dom;
    for expected in [
        "<title>mcpgate status</title>",
        env!("CARGO_PKG_VERSION"),
        "system, workspace",
        "<th>rate limits</th><td>memory</td>",
        "<td>files</td>",
        "mcp-files-server",
        "upstream unreachable",
    ] {
        assert!(
            dom.contains(expected),
            "{expected:?} missing\n{}",
            context()
        );
    }
}

#[tokio::test]
async fn a_taken_default_admin_port_is_skipped_but_a_configured_one_is_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address").to_string();
    // Configured: the server refuses to start, naming the setting.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("MCPGATE_DATA_DIR", dir.path())
        .env("MCPGATE_ADMIN_LISTEN", &addr)
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("exits at once")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("MCPGATE_ADMIN_LISTEN") && stderr.contains(&addr),
        "{stderr}"
    );

    // Off: no admin listener at all, and metrics stay on the loopback public listener.
    let server = Server::start(&[("MCPGATE_ADMIN_LISTEN", "off")]).await;
    assert!(
        !server
            .logs()
            .iter()
            .any(|l| l.contains("serving admin endpoints"))
    );
    let (status, _, _) = get(&server.at("/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK);

    // A bad value is bad configuration.
    let out = tokio::process::Command::new(binary())
        .args(["config", "check"])
        .env_clear()
        .env("MCPGATE_ADMIN_LISTEN", "9090")
        .env("MCPGATE_METRICS_TOKEN", "short")
        .output()
        .await
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("MCPGATE_ADMIN_LISTEN") && stderr.contains("MCPGATE_METRICS_TOKEN"),
        "{stderr}"
    );
    drop(taken);
}

#[tokio::test]
async fn mcpgate_health_probes_the_configured_listener() {
    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    // Only a public name is allowed: the probe must send it as its Host.
    let server = Server::start_at(&listen, &[("MCPGATE_ALLOWED_HOSTS", "mcp.example.com")]).await;
    let health = |args: &'static [&'static str], listen: String| async move {
        let mut all = vec!["health"];
        all.extend_from_slice(args);
        let env = [
            ("MCPGATE_LISTEN", listen.as_str()),
            ("MCPGATE_ALLOWED_HOSTS", "mcp.example.com"),
            // As in a container: listening on every interface is allowed there.
            ("MCPGATE_ALLOW_UNAUTHENTICATED", "true"),
        ];
        run_binary(&all, &env).await
    };
    let (code, stdout, stderr) = health(&[], listen.clone()).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("/healthz: 200 OK"), "{stdout}");
    let (code, stdout, _) = health(&["--ready"], listen.clone()).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("/readyz: 200 OK"), "{stdout}");
    // On a wildcard listener the probe goes to loopback.
    let (code, _, _) = health(&[], format!("0.0.0.0:{port}")).await;
    assert_eq!(code, Some(0));

    // Nothing listening: exit 1, with the reason.
    server.sigterm();
    let (code, stdout, stderr) =
        health(&[], format!("127.0.0.1:{}", crate::support::free_port())).await;
    assert_eq!(code, Some(1), "nothing listens there: {stdout}{stderr}");
    assert!(stderr.contains("mcpgate: "), "{stderr}");
    assert_eq!(server.exited().await, Some(0));
}

//! The command line contract: `config check`, `migrate`, `--version`, and exit code 64 with
//! every bad setting named.

use std::process::Output;

use crate::support::{Server, binary};

fn run(args: &[&str], env: &[(&str, &str)], dir: &tempfile::TempDir) -> Output {
    let mut cmd = std::process::Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("MCPGATE_DATA_DIR", dir.path())
        .env("MCPGATE_LOG_FORMAT", "text");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mcpgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run `mcpgate serve` on `listen` with `env`, expecting it to refuse at once with exit 64;
/// what it wrote to stderr.
async fn serve_refused(listen: &str, env: &[(&str, &str)], dir: &tempfile::TempDir) -> String {
    let mut serve = tokio::process::Command::new(binary());
    serve
        .args(["serve", "--transport", "http", "--listen", listen])
        .env_clear()
        .env("MCPGATE_DATA_DIR", dir.path())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), serve.output())
        .await
        .expect("refuses at once instead of serving")
        .expect("run mcpgate");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    stderr
}

#[test]
fn bad_configuration_exits_64_naming_every_bad_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    std::fs::write(
        &file,
        "[http]\nmax_body_bytes = \"lots\"\nlisten_on = \"x\"\n[modules]\npage_size = 0\n",
    )
    .expect("write config");
    let env = [
        ("MCPGATE_TRANSPORT", "carrier-pigeon"),
        ("MCPGATE_LISTEN", "not-an-address"),
        ("MCPGATE_MODULES", "system,nosuch"),
        ("MCPGATE_AUTH", "maybe"),
        ("MCPGATE_LOG_FORMAT", "xml"),
        ("MCPGATE_SHUTDOWN_GRACE", "soonish"),
        // Tokio's own variable: a bad value is reported, not a panic in the runtime.
        ("TOKIO_WORKER_THREADS", "lots"),
    ];
    for command in [&["config", "check"][..], &["serve"][..]] {
        let mut args = command.to_vec();
        args.extend(["--config", file.to_str().expect("utf-8 path")]);
        let out = run(&args, &env, &dir);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{command:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        for setting in [
            "MCPGATE_TRANSPORT",
            "MCPGATE_LISTEN",
            "MCPGATE_MODULES",
            "MCPGATE_AUTH",
            "MCPGATE_LOG_FORMAT",
            "MCPGATE_SHUTDOWN_GRACE",
            "TOKIO_WORKER_THREADS",
            "http.max_body_bytes",
            "http.listen_on",
            "modules.page_size",
        ] {
            assert!(
                stderr.contains(setting),
                "{setting} not named in:\n{stderr}"
            );
        }
        assert!(out.stdout.is_empty(), "nothing on stdout");
    }
}

#[test]
fn missing_config_file_exits_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &["config", "check", "--config", "/nonexistent/mcpgate.toml"],
        &[],
        &dir,
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("/nonexistent/mcpgate.toml"));
}

#[test]
fn unauthenticated_public_listen_needs_explicit_consent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &["config", "check"],
        &[("MCPGATE_LISTEN", "0.0.0.0:8080")],
        &dir,
    );
    assert_eq!(out.status.code(), Some(64));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");
    let out = run(
        &["config", "check"],
        &[
            ("MCPGATE_LISTEN", "0.0.0.0:8080"),
            ("MCPGATE_ALLOW_UNAUTHENTICATED", "true"),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Unsigned dev tokens let anyone act as any org's admin: `serve` refuses a public address
/// with them as it does with no authentication at all, saying why.
#[tokio::test]
async fn dev_auth_is_refused_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr = serve_refused("0.0.0.0:0", &[("MCPGATE_AUTH", "dev")], &dir).await;
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without authentication")
            && stderr.contains("auth `dev` tokens are unsigned")
            && stderr.contains("--allow-unauthenticated"),
        "{stderr}"
    );
}

/// On loopback dev auth serves, and says loudly at start-up what it is.
#[tokio::test]
async fn dev_auth_warns_at_start_up() {
    let server = Server::start(&[("MCPGATE_AUTH", "dev")]).await;
    let warned = server.logs().iter().any(|line| {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        entry["level"] == "WARN"
            && entry["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("auth `dev` is on: bearer tokens are unsigned"))
    });
    assert!(warned, "no start-up warning: {:#?}", server.logs());
}

#[test]
fn config_check_accepts_a_valid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    std::fs::write(
        &file,
        "[server]\ntransport = \"stdio\"\n[http]\nlisten = \"127.0.0.1:9999\"\nshutdown_grace = \"5s\"\n[modules]\nenabled = [\"system\", \"conformance\"]\n",
    )
    .expect("write config");
    let out = run(
        &["config", "check", "--config", file.to_str().expect("utf-8")],
        &[],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("configuration ok") && stdout.contains("Stdio"),
        "{stdout}"
    );
    assert!(stdout.contains("system, conformance"), "{stdout}");
}

#[test]
fn migrate_applies_once_and_version_prints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run(&["migrate"], &[], &dir);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).starts_with("6 migration(s) applied to sqlite"));
    let again = run(&["migrate"], &[], &dir);
    assert!(text(&again.stdout).starts_with("0 migration(s) applied"));
    assert!(
        dir.path().join("mcpgate.db").exists(),
        "the database lives in the data dir"
    );
    let version = run(&["--version"], &[], &dir);
    assert_eq!(
        text(&version.stdout).trim(),
        format!("mcpgate {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A prefix-less upstream that names a native tool outright would shadow it (or be shadowed):
/// `serve` refuses the configuration before connecting anything, with every clash named, and
/// so does `config check` for clashes between upstreams.
#[tokio::test]
async fn tool_names_taken_twice_are_bad_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    let entry = |name: &str, tools: &str| {
        format!(
            "[[upstreams]]\nname = \"{name}\"\ncommand = \"/nonexistent/server\"\nprefix = \"\"\n\
             [upstreams.tools]\n{tools}\n"
        )
    };
    std::fs::write(&file, entry("shadow", "allow = [\"health\", \"echo_*\"]")).expect("write");
    let config = file.display().to_string();
    let stderr = serve_refused("127.0.0.1:0", &[("MCPGATE_CONFIG", &config)], &dir).await;
    assert!(
        stderr.contains("shadow: the tool name \"health\" is already taken"),
        "{stderr}"
    );

    std::fs::write(
        &file,
        format!(
            "{}{}",
            entry("one", "allow = [\"search\"]"),
            entry("two", "allow = [\"search\"]")
        ),
    )
    .expect("write");
    let out = run(&["config", "check"], &[("MCPGATE_CONFIG", &config)], &dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("\"search\" would be offered by both one and two"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tls_settings_that_cannot_serve_are_refused_with_exit_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Half the pair: found when the configuration is read.
    let out = run(
        &["config", "check"],
        &[("MCPGATE_TLS_CERT", "/nowhere/cert.pem")],
        &dir,
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("MCPGATE_TLS_KEY"),
        "{}",
        text(&out.stderr)
    );
    // Files that are not a certificate and key: found before serving.
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all").expect("write");
    let garbage = garbage.display().to_string();
    let stderr = serve_refused(
        "127.0.0.1:0",
        &[
            ("MCPGATE_TLS_CERT", &garbage),
            ("MCPGATE_TLS_KEY", &garbage),
        ],
        &dir,
    )
    .await;
    assert!(stderr.contains("http.tls_cert"), "{stderr}");
}

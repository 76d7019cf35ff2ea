//! Upstream MCP servers behind the real binary: a stdio upstream (mcpgate itself, serving only
//! `system`) federated under its prefix, filtered by its allowlist, called through the gateway,
//! started with only the environment its entry lists, and stopped with the gateway.

mod dpop;
mod faults;
pub(crate) use faults::eventually;
mod modern_http;
mod oauth;
mod proxy;
mod questions;
mod real;
mod signed;
mod tasks;

use crate::edge::{call, config_file, tool_names};
use crate::support::{Server, binary};

/// A planted secret in the gateway's environment that no upstream may see.
const PLANTED: &str = "planted-upstream-secret-7f3a";

/// The processes whose parent is `pid`.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`; comm may hold spaces, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

/// An `[[upstreams]]` entry named `inner`: mcpgate itself over stdio, with `modules` on and
/// its data in `data`, exposing what `tools` (the body of `[upstreams.tools]`) allows.
pub(crate) fn inner_mcpgate(data: &tempfile::TempDir, modules: &str, tools: &str) -> String {
    format!(
        r#"
[[upstreams]]
name = "inner"
command = "{binary}"
args = ["serve", "--transport", "stdio"]
env = {{ MCPGATE_DATA_DIR = "{data}", MCPGATE_MODULES = "{modules}", MCPGATE_LOG = "warn" }}
timeout = "20s"

[upstreams.tools]
{tools}
"#,
        binary = binary(),
        data = data.path().display(),
    )
}

#[tokio::test]
async fn a_stdio_upstream_is_federated_under_its_prefix_and_allowlist() {
    let upstream_data = tempfile::tempdir().expect("tempdir");
    let (_dir, file) = config_file(&inner_mcpgate(
        &upstream_data,
        "system",
        "allow = [\"*\"]\ndeny = [\"server_info\"]",
    ));
    let server = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_PLANTED_SECRET", PLANTED),
    ])
    .await;

    let names = tool_names(&server, None).await;
    assert!(names.contains(&"inner__health".to_owned()), "{names:?}");
    assert!(
        names.contains(&"health".to_owned()),
        "natives stay: {names:?}"
    );
    assert!(
        !names.contains(&"inner__server_info".to_owned()),
        "denied upstream tools are not offered: {names:?}"
    );

    let (status, body) = call(&server, None, "inner__health").await;
    assert_eq!(status, 200);
    let report = &body["result"]["structuredContent"];
    assert_eq!(report["status"], "ok", "{body}");
    assert_eq!(report["components"]["store"]["backend"], "sqlite", "{body}");
    let (_, refused) = call(&server, None, "inner__server_info").await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    // The upstream got only what its entry lists (plus PATH, HOME, LANG): no secret of ours.
    // The listing opened the pool's first session and the call its second: two children.
    let gateway = server.child.id().expect("running");
    let children = children_of(gateway);
    assert_eq!(
        children.len(),
        2,
        "one child per pooled stdio session: {children:?}"
    );
    for child in &children {
        let environ = std::fs::read(format!("/proc/{child}/environ")).expect("environ");
        let environ = String::from_utf8_lossy(&environ);
        assert!(environ.contains("MCPGATE_MODULES=system"), "{environ}");
        assert!(
            !environ.contains(PLANTED),
            "the upstream saw the gateway's secret"
        );
        assert!(!environ.contains("MCPGATE_CONFIG"), "{environ}");
    }

    // Stopping the gateway stops the upstreams.
    assert_eq!(server.terminate().await, Some(0));
    for child in children {
        let gone = (0..50).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{child}/stat"))
                .is_ok_and(|s| !s.contains(") Z "));
            if alive {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            !alive
        });
        assert!(gone, "the upstream process ended with the gateway");
    }
}

#[tokio::test]
async fn unreachable_or_silent_upstreams_are_logged_and_the_gateway_serves_without_them() {
    let (_dir, file) = config_file(
        r#"
[[upstreams]]
name = "gone"
command = "/nonexistent/mcp-server"
timeout = "2s"

[upstreams.tools]
allow = ["*"]

# Starts but never answers `initialize`: given up after its timeout.
[[upstreams]]
name = "silent"
command = "sh"
args = ["-c", "sleep 60"]
timeout = "1s"

[upstreams.tools]
allow = ["*"]
"#,
    );
    let server = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    let names = tool_names(&server, None).await;
    assert!(names.contains(&"health".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("gone__")), "{names:?}");
    let logs = server.logs().join("\n");
    for name in ["gone", "silent"] {
        assert!(
            logs.lines()
                .any(|l| l.contains("upstream unreachable") && l.contains(name)),
            "{name}: {logs}"
        );
    }
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn a_change_of_a_legacy_upstreams_tool_list_reaches_the_gateways_catalog() {
    a_tool_list_change_is_followed("legacy").await;
}

/// A stateless upstream has no session to announce changes on: the gateway holds a
/// `subscriptions/listen` stream open to it.
#[tokio::test]
async fn a_change_of_a_stateless_upstreams_tool_list_reaches_the_gateways_catalog() {
    a_tool_list_change_is_followed("2026-07-28").await;
}

async fn a_tool_list_change_is_followed(protocol: &str) {
    let upstream_data = tempfile::tempdir().expect("tempdir");
    // One session: the tool appears on the child that was told to add it.
    let entry = inner_mcpgate(
        &upstream_data,
        "system,conformance",
        "allow = [\"test_trigger_tool_change\", \"test_dynamic_tool\"]",
    )
    .replace(
        "[upstreams.tools]",
        &format!("pool_size = 1\nprotocol = \"{protocol}\"\n[upstreams.tools]"),
    );
    let (_dir, file) = config_file(&entry);
    let server = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    let dynamic = "inner__test_dynamic_tool".to_owned();
    assert!(!tool_names(&server, None).await.contains(&dynamic));

    // The upstream adds a tool and says so; the gateway lists it again and offers it.
    let (status, body) = call(&server, None, "inner__test_trigger_tool_change").await;
    assert_eq!(status, 200, "{body}");
    let mut offered = false;
    for _ in 0..100 {
        if tool_names(&server, None).await.contains(&dynamic) {
            offered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(offered, "the new upstream tool is offered");
    let (_, answer) = call(&server, None, &dynamic).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "test_dynamic_tool is here",
        "{answer}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test]
async fn an_http_upstream_is_called_with_its_own_token_never_the_callers() {
    const TOKEN: &str = "upstream-only-token-0123456789abcdef";
    let inner = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", TOKEN),
        ("MCPGATE_MODULES", "system"),
    ])
    .await;
    let (_dir, file) = config_file(&format!(
        r#"
[[upstreams]]
name = "inner"
transport = "http"
url = "{url}"
bearer_token_env = "INNER_TOKEN"
headers = {{ "X-Team" = "platform" }}

[upstreams.tools]
allow = ["health"]

[[upstreams]]
name = "tokenless"
transport = "http"
url = "{url}"

[upstreams.tools]
allow = ["*"]
"#,
        url = inner.url(),
    ));
    // Callers of the gateway hold a token of their own, which the upstream would refuse.
    const CALLER: &str = "gateway-caller-token-fedcba9876543210";
    let gateway = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("INNER_TOKEN", TOKEN),
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", CALLER),
    ])
    .await;

    let names = tool_names(&gateway, Some(CALLER)).await;
    assert!(names.contains(&"inner__health".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("tokenless__")),
        "an upstream that refuses us is left out: {names:?}"
    );
    let (status, body) = call(&gateway, Some(CALLER), "inner__health").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["structuredContent"]["status"], "ok",
        "{body}"
    );
    let logs = gateway.logs().join("\n");
    assert!(
        logs.lines()
            .any(|l| l.contains("upstream unreachable") && l.contains("tokenless")),
        "{logs}"
    );
    assert!(
        !logs.contains(TOKEN),
        "the upstream's token is never logged"
    );
    assert!(!logs.contains(CALLER), "nor the caller's");
}

#[tokio::test]
async fn each_upstream_is_spoken_to_in_its_configured_era() {
    let inner = Server::start(&[("MCPGATE_MODULES", "system")]).await;
    let entries: String = [("old", "legacy"), ("new", "2026-07-28"), ("probe", "auto")]
        .iter()
        .map(|(name, protocol)| {
            format!(
                "[[upstreams]]\nname = \"{name}\"\ntransport = \"http\"\nurl = \"{url}\"\n\
                 protocol = \"{protocol}\"\npool_size = 1\n[upstreams.tools]\nallow = [\"health\"]\n\n",
                url = inner.url()
            )
        })
        .collect();
    let (_dir, file) = config_file(&entries);
    let gateway = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    for tool in ["old__health", "new__health", "probe__health"] {
        let (status, body) = call(&gateway, None, tool).await;
        assert_eq!(status, 200, "{tool}");
        assert_eq!(
            body["result"]["structuredContent"]["status"], "ok",
            "{tool}: {body}"
        );
    }
    // Only the legacy upstream holds a session on the upstream; the modern one and the probe
    // (which found a 2026-07-28 server) send self-contained requests.
    assert_eq!(crate::sessions::live_sessions(&inner).await, 1);
}

/// A prefix-less upstream whose glob lets through a name a native tool has: known only once
/// it lists its tools, so the gateway serves on and quarantines the upstream (all its tools,
/// not just the clashing one), and `health` names the clash.
#[tokio::test]
async fn a_prefixless_upstream_clashing_at_runtime_is_quarantined() {
    let upstream_data = tempfile::tempdir().expect("tempdir");
    let entry = inner_mcpgate(&upstream_data, "system", "allow = [\"*\"]")
        .replace("timeout = \"20s\"", "timeout = \"20s\"\nprefix = \"\"");
    let (_dir, file) = config_file(&entry);
    let server = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    let mut report = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, health) = call(&server, None, "health").await;
        report = health["result"]["structuredContent"].clone();
        if report["quarantined"][0]["source"] == "inner" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(report["quarantined"][0]["source"], "inner", "{report}");
    assert!(
        report["quarantined"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("health")),
        "{report}"
    );
    assert_eq!(report["status"], "degraded", "{report}");
    // The native tools still answer as themselves.
    assert_eq!(
        report["components"]["store"]["backend"], "sqlite",
        "{report}"
    );
}

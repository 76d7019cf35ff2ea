//! `[proxy]`, `--proxy URL`, `MCPGATE_PROXY`: proxy mode, where the MCP endpoint relays to one
//! upstream HTTP server instead of serving tools of its own.
//!
//! The upstream is also an `[[upstreams]]`-style entry behind the scenes (no prefix, required
//! for readiness, opened at start): it is listed in the background so that per-tool policy
//! knows its tools. So `[proxy]` takes the keys of an HTTP upstream that make sense for one
//! relayed server — `upstream` (its URL), `name`, `headers`, `bearer_token_env`,
//! `bearer_token_file`, `[proxy.oauth]`, `timeout`, `protocol`, `trust_annotations`, the heartbeat and
//! `[proxy.tools]` `allow`/`deny` (default: every tool) — and refuses the rest (prefixes,
//! renames and fixed arguments would make the relay no longer transparent).

use super::Layers;
use super::upstreams::UpstreamSpec;
use crate::upstream::UpstreamConfig;

/// Keys `[proxy]` takes (besides `upstream`).
const KEYS: &[&str] = &[
    "name",
    "headers",
    "bearer_token_env",
    "bearer_token_file",
    "oauth",
    "sign_tenant_headers",
    "signing_secret_env",
    "signing_secret_file",
    "ca_file",
    "client_cert",
    "client_key",
    "timeout",
    "protocol",
    "trust_annotations",
    "heartbeat_interval",
    "heartbeat_timeout",
    "tools",
];

/// The proxy's upstream, when proxy mode is on. `cli` is `--proxy URL`, which wins over
/// `MCPGATE_PROXY` and `proxy.upstream`.
pub(super) fn resolve_proxy(l: &mut Layers<'_>, cli: Option<&str>) -> Option<UpstreamConfig> {
    let table = l
        .file_only("proxy")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let url = match cli {
        Some(url) => Some(url.to_owned()),
        None => l.get::<String>("proxy.upstream", "MCPGATE_PROXY"),
    };
    let Some(url) = url else {
        if !table.is_empty() {
            l.issue(
                "proxy",
                None,
                "`[proxy]` needs `upstream` (the URL of the MCP server to relay to)",
            );
        }
        return None;
    };
    let mut problems = Vec::new();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(format!(
            "expected an http:// or https:// URL, found {url:?}"
        ));
    }
    let mut spec = toml::Table::new();
    for (key, value) in &table {
        match key.as_str() {
            "upstream" => {}
            key if KEYS.contains(&key) => {
                spec.insert(key.to_owned(), value.clone());
            }
            other => problems.push(format!(
                "`{other}` is not a proxy setting (it takes: upstream, {})",
                KEYS.join(", ")
            )),
        }
    }
    if let Some(tools) = spec.get("tools").and_then(toml::Value::as_table)
        && tools.contains_key("overrides")
    {
        problems.push(
            "`tools.overrides` would change what the relay passes on; not in proxy mode".into(),
        );
    }
    let tools = spec
        .entry("tools")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(tools) = tools.as_table_mut() {
        tools
            .entry("allow")
            .or_insert_with(|| toml::Value::Array(vec!["*".into()]));
    }
    spec.entry("name")
        .or_insert_with(|| toml::Value::from("upstream"));
    for (key, value) in [
        ("transport", toml::Value::from("http")),
        ("url", toml::Value::from(url)),
        ("prefix", toml::Value::from("")),
        ("required", toml::Value::from(true)),
        ("warm", toml::Value::from(true)),
        ("pool_size", toml::Value::from(1)),
    ] {
        spec.insert(key.to_owned(), value);
    }
    let converted = toml::Value::Table(spec)
        .try_into::<UpstreamSpec>()
        .map_err(|e| e.to_string().trim().replace('\n', " "))
        .and_then(UpstreamConfig::try_from);
    match converted {
        Ok(upstream) if problems.is_empty() => Some(upstream),
        Ok(_) => {
            l.issue("proxy", Some("MCPGATE_PROXY"), problems.join("; "));
            None
        }
        Err(message) => {
            problems.push(message);
            l.issue("proxy", Some("MCPGATE_PROXY"), problems.join("; "));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{ConfigError, Overrides, resolve};

    fn resolve_with(
        file: &str,
        env: &[(&str, &str)],
        cli: Option<&str>,
    ) -> Result<crate::config::Config, ConfigError> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, file).expect("write");
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(
            &env,
            &Overrides {
                config_file: Some(path),
                proxy: cli.map(str::to_owned),
                ..Overrides::default()
            },
        )
    }

    #[test]
    fn the_url_comes_from_the_command_line_the_environment_or_the_file() {
        let c = resolve_with("", &[], None).expect("no proxy");
        assert!(c.proxy.is_none());
        let c = resolve_with(
            "[proxy]\nupstream = \"http://127.0.0.1:9/mcp\"\n",
            &[],
            None,
        )
        .expect("file");
        let upstream = c.proxy.expect("proxy");
        assert_eq!(upstream.name, "upstream");
        assert_eq!(upstream.prefix, "");
        assert!(upstream.required);
        assert_eq!(upstream.tools.allow, ["*"]);
        let c = resolve_with(
            "[proxy]\nupstream = \"http://127.0.0.1:9/mcp\"\n",
            &[("MCPGATE_PROXY", "http://127.0.0.1:10/mcp")],
            Some("http://127.0.0.1:11/mcp"),
        )
        .expect("cli wins");
        assert!(format!("{:?}", c.proxy.expect("proxy").transport).contains(":11/mcp"));
    }

    #[test]
    fn settings_that_would_change_the_relay_are_refused_with_every_problem_named() {
        let Err(ConfigError::Invalid(issues)) = resolve_with(
            "[proxy]\nupstream = \"ftp://example.test/mcp\"\nprefix = \"x__\"\n\
             command = \"sh\"\n[proxy.tools.overrides.a]\nname = \"b\"\n",
            &[],
            None,
        ) else {
            panic!("must be refused");
        };
        let text = format!("{issues:?}");
        for expected in [
            "an http:// or https:// URL",
            "`prefix`",
            "`command`",
            "tools.overrides",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        let Err(ConfigError::Invalid(issues)) = resolve_with(
            "[proxy]\nupstream = \"http://127.0.0.1:9/mcp\"\n\
             [[upstreams]]\nname = \"u\"\ncommand = \"x\"\n",
            &[("MCPGATE_TRANSPORT", "stdio")],
            None,
        ) else {
            panic!("must be refused");
        };
        let text = format!("{issues:?}");
        for expected in ["[[upstreams]]", "transport = http"] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
    }

    #[test]
    fn a_proxy_table_without_an_upstream_is_a_problem() {
        let Err(ConfigError::Invalid(issues)) =
            resolve_with("[proxy]\ntimeout = \"5s\"\n", &[], None)
        else {
            panic!("must be refused");
        };
        assert!(format!("{issues:?}").contains("needs `upstream`"));
    }
}

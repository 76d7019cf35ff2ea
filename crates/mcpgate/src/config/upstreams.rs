//! `[[upstreams]]`: the MCP servers federated behind this one (file only). Each entry is read
//! into a spec as written (unknown keys refused) and checked by `TryFrom`; names must be
//! unique. Every problem is reported in the same run as the rest of the configuration.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Layers;
use crate::edge::is_identifier;
use crate::upstream::{BearerSource, UpstreamConfig, UpstreamProtocol, UpstreamTransport};

/// How long connecting, listing and each call may take when the entry does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One `[[upstreams]]` entry as written.
///
/// No `Debug`: `env` may hold secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamSpec {
    name: Option<String>,
    transport: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    prefix: Option<String>,
    timeout: Option<String>,
    protocol: Option<String>,
    #[serde(default)]
    tools: ToolsSpec,
}

/// `[upstreams.tools]`: which of the upstream's tools are exposed.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ToolsSpec {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

impl TryFrom<UpstreamSpec> for UpstreamConfig {
    type Error = String;

    fn try_from(spec: UpstreamSpec) -> Result<Self, String> {
        let Some(name) = spec.name.filter(|n| is_identifier(n)) else {
            return Err("needs a `name` of 1-128 characters of A-Z a-z 0-9 _ . -".into());
        };
        let http_only = spec.url.is_some()
            || !spec.headers.is_empty()
            || spec.bearer_token_env.is_some()
            || spec.bearer_token_file.is_some();
        let stdio_only = spec.command.is_some()
            || !spec.args.is_empty()
            || !spec.env.is_empty()
            || spec.cwd.is_some();
        let transport = match spec.transport.as_deref().unwrap_or("stdio") {
            "stdio" if http_only => {
                return Err(format!(
                    "{name}: `url`, `headers` and bearer tokens are for transport = \"http\""
                ));
            }
            "http" if stdio_only => {
                return Err(format!(
                    "{name}: `command`, `args`, `env` and `cwd` are for transport = \"stdio\""
                ));
            }
            "stdio" => {
                let Some(command) = spec.command.filter(|c| !c.trim().is_empty()) else {
                    return Err(format!("{name}: a stdio upstream needs a `command`"));
                };
                UpstreamTransport::Stdio {
                    command,
                    args: spec.args,
                    env: spec.env,
                    cwd: spec.cwd,
                }
            }
            "http" => {
                let Some(url) = spec
                    .url
                    .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                else {
                    return Err(format!(
                        "{name}: an http upstream needs an http(s):// `url`"
                    ));
                };
                let bearer = match (spec.bearer_token_env, spec.bearer_token_file) {
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "{name}: `bearer_token_env` and `bearer_token_file` exclude each other"
                        ));
                    }
                    (Some(var), None) => Some(BearerSource::Env(var)),
                    (None, Some(path)) => Some(BearerSource::File(path)),
                    (None, None) => None,
                };
                if spec
                    .headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case("authorization"))
                {
                    return Err(format!(
                        "{name}: set the upstream's token with `bearer_token_env` or \
                         `bearer_token_file`, not in `headers`"
                    ));
                }
                UpstreamTransport::Http {
                    url,
                    headers: spec.headers,
                    bearer,
                }
            }
            other => {
                return Err(format!(
                    "{name}: transport {other:?} is not supported (expected \"stdio\" or \"http\")"
                ));
            }
        };
        let prefix = spec.prefix.unwrap_or_else(|| format!("{name}__"));
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(format!(
                "{name}: `prefix` may hold only A-Z a-z 0-9 _ . - (tool names must stay valid)"
            ));
        }
        let timeout = match spec.timeout {
            None => DEFAULT_TIMEOUT,
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    return Err(format!(
                        "{name}: `timeout` must be a positive duration (\"30s\")"
                    ));
                }
            },
        };
        let protocol = match spec.protocol.as_deref().unwrap_or("legacy") {
            "legacy" => UpstreamProtocol::Legacy,
            "2026-07-28" => UpstreamProtocol::Modern,
            "auto" => UpstreamProtocol::Auto,
            other => {
                return Err(format!(
                    "{name}: protocol {other:?} is not one of \"legacy\", \"2026-07-28\", \"auto\""
                ));
            }
        };
        Ok(UpstreamConfig {
            protocol,
            name,
            transport,
            prefix,
            allow: spec.tools.allow,
            deny: spec.tools.deny,
            timeout,
        })
    }
}

/// Every `[[upstreams]]` entry, each name once.
pub(super) fn resolve_upstreams(l: &mut Layers<'_>) -> Vec<UpstreamConfig> {
    let upstreams = l.file_entries::<UpstreamSpec, UpstreamConfig>("upstreams");
    let mut seen = HashSet::new();
    for upstream in &upstreams {
        if !seen.insert(upstream.name.clone()) {
            l.issue(
                "upstreams",
                None,
                format!("the upstream name {:?} is used twice", upstream.name),
            );
        }
    }
    upstreams
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{ConfigError, Overrides, resolve};

    fn with_file(text: &str) -> Result<crate::config::Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcpgate.toml");
        std::fs::write(&path, text).expect("write");
        let env = HashMap::from([
            ("MCPGATE_CONFIG".to_owned(), path.display().to_string()),
            (
                "MCPGATE_DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
        ]);
        resolve(&env, &Overrides::default())
    }

    #[test]
    fn an_entry_gets_defaults_and_every_bad_entry_is_named() {
        let config = with_file(
            "[[upstreams]]\nname = \"files\"\ncommand = \"files-server\"\nargs = [\"--root\", \"/srv\"]\n\
             [upstreams.tools]\nallow = [\"read_*\"]\n",
        )
        .expect("valid");
        let files = &config.upstreams[0];
        assert_eq!(files.prefix, "files__");
        assert_eq!(files.timeout, super::DEFAULT_TIMEOUT);
        assert!(files.exposes("read_file") && !files.exposes("write_file"));

        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"a\"\ncommand = \"x\"\n\n\
             [[upstreams]]\nname = \"a\"\ncommand = \"y\"\n\n\
             [[upstreams]]\nname = \"b\"\n\n\
             [[upstreams]]\nname = \"c\"\ncommand = \"z\"\ntransport = \"carrier-pigeon\"\n\n\
             [[upstreams]]\nname = \"d\"\ncommand = \"z\"\nsecret = \"hunter2\"\n",
        ) else {
            panic!("invalid");
        };
        let text: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.setting, i.message))
            .collect();
        let all = text.join("\n");
        assert!(all.contains("used twice"), "{all}");
        assert!(
            all.contains("upstreams[2]") && all.contains("needs a `command`"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[3]") && all.contains("carrier-pigeon"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[4]") && all.contains("secret"),
            "{all}"
        );
        assert!(
            !all.contains("hunter2"),
            "values are not quoted back: {all}"
        );
    }

    #[test]
    fn http_entries_take_a_url_and_a_token_source_and_nothing_of_stdio() {
        let config = with_file(
            "[[upstreams]]\nname = \"gh\"\ntransport = \"http\"\nurl = \"https://mcp.example/mcp\"\n\
             bearer_token_file = \"/run/secrets/gh\"\nheaders = { \"X-Team\" = \"platform\" }\n",
        )
        .expect("valid");
        let text = format!("{:?}", config.upstreams[0].transport);
        assert!(
            text.contains("X-Team") && !text.contains("platform"),
            "{text}"
        );

        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"a\"\ntransport = \"http\"\n\n\
             [[upstreams]]\nname = \"b\"\ntransport = \"http\"\nurl = \"http://x/mcp\"\n\
             headers = { Authorization = \"Bearer t0ken-in-a-file\" }\n\n\
             [[upstreams]]\nname = \"c\"\ntransport = \"http\"\nurl = \"http://x/mcp\"\n\
             bearer_token_env = \"T\"\nbearer_token_file = \"/t\"\n\n\
             [[upstreams]]\nname = \"d\"\ntransport = \"http\"\nurl = \"http://x/mcp\"\ncommand = \"x\"\n\n\
             [[upstreams]]\nname = \"e\"\ncommand = \"x\"\nurl = \"http://x/mcp\"\n\n\
             [[upstreams]]\nname = \"f\"\ncommand = \"x\"\nprotocol = \"2099\"\n",
        ) else {
            panic!("invalid");
        };
        let all: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.setting, i.message))
            .collect();
        let all = all.join("\n");
        assert!(
            all.contains("upstreams[0]") && all.contains("needs an http(s)"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[1]") && all.contains("not in `headers`"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[2]") && all.contains("exclude each other"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[3]") && all.contains("are for transport = \"stdio\""),
            "{all}"
        );
        assert!(
            all.contains("upstreams[4]") && all.contains("are for transport = \"http\""),
            "{all}"
        );
        assert!(
            all.contains("upstreams[5]") && all.contains("\"2099\""),
            "{all}"
        );
        assert!(!all.contains("t0ken-in-a-file"), "{all}");
    }
}

//! Upstream MCP servers federated behind this one: each configured `[[upstreams]]` entry is a
//! catalog source whose tools are listed under its prefix (`files__read_file`), pass the same
//! edge, policy and limits as native tools, and are called on the upstream under their own
//! names. Only tools the entry's `tools.allow` globs name (and its `tools.deny` globs do not)
//! are exposed; with no `allow`, nothing is.
//!
//! Today: stdio upstreams (a child process per upstream, started with only the environment
//! the entry lists plus `PATH`, `HOME` and `LANG`, no shell) and Streamable HTTP upstreams (with
//! static headers and a bearer token of their own), connected at start-up, with a
//! per-call timeout, stopped with the app. A tool-list change the upstream announces is
//! listed again and published like a native one. An upstream that cannot be reached at
//! start-up is logged and left out.

mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use source::UpstreamSource;

use crate::edge::glob;
use crate::lifecycle::Lifecycle;
use crate::mcp::Catalog;

/// How to reach an upstream.
#[derive(Clone)]
pub enum UpstreamTransport {
    /// A child process speaking MCP on its stdin/stdout.
    Stdio {
        /// The program (a path, or a name looked up in `PATH`); never run through a shell.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// The only variables it gets besides `PATH`, `HOME` and `LANG`.
        env: BTreeMap<String, String>,
        /// Its working directory.
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP server.
    Http {
        /// Its MCP endpoint.
        url: String,
        /// Headers sent with every request (names and values as configured).
        headers: BTreeMap<String, String>,
        /// Where the bearer token mcpgate presents comes from (never the caller's own
        /// credential).
        bearer: Option<BearerSource>,
    },
}

impl std::fmt::Debug for UpstreamTransport {
    /// Variable values are left out: they are often secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            Self::Http {
                url,
                headers,
                bearer,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .field("bearer", bearer)
                .finish(),
        }
    }
}

/// Where an upstream's bearer token is read, each time a session starts (so a rotated file is
/// picked up on the next connection).
#[derive(Debug, Clone)]
pub enum BearerSource {
    /// An environment variable of this process.
    Env(String),
    /// A file (surrounding whitespace is trimmed).
    File(PathBuf),
}

impl BearerSource {
    /// The token.
    pub fn read(&self) -> anyhow::Result<String> {
        use anyhow::Context;
        let token = match self {
            Self::Env(name) => {
                std::env::var(name).with_context(|| format!("environment variable {name}"))?
            }
            Self::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("token file {}", path.display()))?,
        };
        let token = token.trim();
        anyhow::ensure!(!token.is_empty(), "the bearer token is empty");
        Ok(token.to_owned())
    }
}

/// One `[[upstreams]]` entry.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The upstream's name (also the catalog source's name).
    pub name: String,
    /// How to reach it.
    pub transport: UpstreamTransport,
    /// Put before each of its tool names (default `<name>__`).
    pub prefix: String,
    /// Globs of tool names (the upstream's own) to expose.
    pub allow: Vec<String>,
    /// Globs of tool names never to expose, whatever `allow` says.
    pub deny: Vec<String>,
    /// How long connecting, listing and each call may take.
    pub timeout: Duration,
    /// Which protocol era to speak with it.
    pub protocol: UpstreamProtocol,
}

/// The protocol era mcpgate speaks with an upstream, whatever era its own callers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// A session opened with `initialize` (2025-11-25 and older). The default: the upstream's
    /// tool-list changes are heard on the session.
    Legacy,
    /// Stateless 2026-07-28: `server/discover`, then self-contained requests.
    Modern,
    /// `server/discover` first, `initialize` when the upstream turns out to be legacy.
    Auto,
}

impl UpstreamConfig {
    /// Whether the upstream's tool `name` is exposed.
    pub fn exposes(&self, name: &str) -> bool {
        self.allow.iter().any(|p| glob(p, name)) && !self.deny.iter().any(|p| glob(p, name))
    }
}

/// Connect to every upstream and add each to `catalog` as a prefixed source, stopped with
/// `lifecycle`. One that cannot be reached, or whose tools cannot be listed, is logged and left
/// out: the server starts without it.
pub async fn connect_all(upstreams: &[UpstreamConfig], catalog: &Catalog, lifecycle: &Lifecycle) {
    for config in upstreams {
        let source = match UpstreamSource::connect(config.clone(), lifecycle).await {
            Ok(source) => source,
            Err(e) => {
                tracing::error!(
                    upstream = %config.name,
                    error = %format!("{e:#}"),
                    "upstream unreachable; its tools are not offered"
                );
                continue;
            }
        };
        let tools = source.tool_count();
        match catalog.add_source_prefixed(Arc::clone(&source) as _, &config.prefix) {
            Ok(None) => tracing::info!(upstream = %config.name, tools, "upstream connected"),
            Ok(Some(problem)) => tracing::warn!(
                upstream = %config.name,
                problem = %problem,
                "upstream quarantined"
            ),
            Err(e) => tracing::error!(upstream = %config.name, error = %e, "upstream not added"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow: &[&str], deny: &[&str]) -> UpstreamConfig {
        UpstreamConfig {
            name: "files".into(),
            transport: UpstreamTransport::Stdio {
                command: "x".into(),
                args: Vec::new(),
                env: BTreeMap::from([("TOKEN".to_owned(), "s3cret".to_owned())]),
                cwd: None,
            },
            prefix: "files__".into(),
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            timeout: Duration::from_secs(1),
            protocol: UpstreamProtocol::Legacy,
        }
    }

    #[test]
    fn nothing_is_exposed_until_allowed_and_deny_wins() {
        assert!(!config(&[], &[]).exposes("read_file"));
        assert!(config(&["read_*"], &[]).exposes("read_file"));
        assert!(!config(&["*"], &["read_*"]).exposes("read_file"));
        assert!(config(&["*"], &["read_*"]).exposes("write_file"));
    }

    #[test]
    fn debug_output_leaves_environment_values_out() {
        let text = format!("{:?}", config(&[], &[]));
        assert!(text.contains("TOKEN") && !text.contains("s3cret"), "{text}");
    }
}

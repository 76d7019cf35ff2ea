//! One upstream as a catalog source: its client session, its exposed tools, its calls.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use anyhow::Context;
use rmcp::model::ProtocolVersion;
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Tool};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService, ServiceError,
};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, RoleClient};

use super::{UpstreamConfig, UpstreamProtocol, UpstreamTransport};
use crate::lifecycle::Lifecycle;
use crate::mcp::{Module, SourceChanges, ToolSpec};

/// Variables a child gets from this process besides the ones its entry lists.
const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG"];

/// An upstream MCP server, connected.
pub struct UpstreamSource {
    config: UpstreamConfig,
    peer: rmcp::Peer<RoleClient>,
    tools: Mutex<Vec<Tool>>,
    changes: OnceLock<SourceChanges>,
}

/// What the upstream tells us: a changed tool list is listed again and the catalog rebuilt.
#[derive(Clone, Default)]
struct Events {
    source: Arc<OnceLock<Weak<UpstreamSource>>>,
}

impl ClientHandler for Events {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let Some(source) = self.source.get().and_then(Weak::upgrade) else {
            return;
        };
        // Listing again is a request on the same session: not from inside its own loop.
        tokio::spawn(async move { source.relist().await });
    }
}

impl UpstreamSource {
    /// Start and initialize the upstream, list its tools, and keep the ones it exposes. The
    /// session is closed (and a child process stopped) when `lifecycle` stops its tasks.
    pub async fn connect(
        config: UpstreamConfig,
        lifecycle: &Lifecycle,
    ) -> anyhow::Result<Arc<Self>> {
        let events = Events::default();
        let running = tokio::time::timeout(config.timeout, start(&config, events.clone()))
            .await
            .context("the upstream did not finish initializing in time")??;
        let peer = running.peer().clone();
        let tools = exposed(&config, &peer).await?;
        lifecycle
            .tasks()
            .spawn(format!("upstream {}", config.name), move |stop| {
                close_on(stop, running)
            });
        let source = Arc::new(Self {
            config,
            peer,
            tools: Mutex::new(tools),
            changes: OnceLock::new(),
        });
        let _ = events.source.set(Arc::downgrade(&source));
        Ok(source)
    }

    /// List the tools again after the upstream said they changed, and tell the catalog.
    async fn relist(&self) {
        match exposed(&self.config, &self.peer).await {
            Ok(tools) => {
                *self.tools.lock().unwrap_or_else(|e| e.into_inner()) = tools;
                if let Some(changes) = self.changes.get() {
                    changes.changed();
                }
            }
            Err(e) => tracing::warn!(
                upstream = %self.config.name,
                error = %format!("{e:#}"),
                "upstream tools could not be listed again; keeping the last list"
            ),
        }
    }

    /// How many tools it exposes.
    pub fn tool_count(&self) -> usize {
        self.tools.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Call the tool on the upstream, within the timeout. The upstream's protocol errors pass
    /// through; a transport failure or a timeout is a tool error the caller can read.
    async fn call(&self, request: CallToolRequestParams) -> Result<CallToolResponse, ErrorData> {
        let name = &self.config.name;
        let timeout = self.config.timeout;
        let failed =
            |message: String| Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        match tokio::time::timeout(timeout, self.peer.call_tool_once(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(ServiceError::McpError(error))) => Err(error),
            Ok(Err(error)) => {
                tracing::warn!(upstream = %name, error = %error, "upstream call failed");
                failed(format!("upstream {name} failed: {error}"))
            }
            Err(_) => failed(format!(
                "upstream {name} did not answer within {} s",
                timeout.as_secs_f64()
            )),
        }
    }
}

/// The upstream's tools that its entry exposes, listed within its timeout.
async fn exposed(
    config: &UpstreamConfig,
    peer: &rmcp::Peer<RoleClient>,
) -> anyhow::Result<Vec<Tool>> {
    let listed = tokio::time::timeout(config.timeout, peer.list_all_tools())
        .await
        .context("the upstream did not list its tools in time")?
        .context("list the upstream's tools")?;
    Ok(listed
        .into_iter()
        .filter(|t| config.exposes(&t.name))
        .map(untrusted_annotations)
        .collect())
}

/// Start the transport and initialize the session.
async fn start(
    config: &UpstreamConfig,
    events: Events,
) -> anyhow::Result<RunningService<RoleClient, Events>> {
    let lifecycle = lifecycle(config.protocol);
    let (command, args, env, cwd) = match &config.transport {
        UpstreamTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => (command, args, env, cwd),
        UpstreamTransport::Http {
            url,
            headers,
            bearer,
        } => {
            let token = bearer.as_ref().map(super::BearerSource::read).transpose()?;
            return start_http(url, headers, token.as_deref(), events, lifecycle).await;
        }
    };
    let mut child = tokio::process::Command::new(command);
    child.args(args).env_clear();
    for name in BASE_ENV {
        if let Ok(value) = std::env::var(name) {
            child.env(name, value);
        }
    }
    child.envs(env);
    if let Some(cwd) = cwd {
        child.current_dir(cwd);
    }
    let process = TokioChildProcess::new(child).with_context(|| format!("start {command}"))?;
    events
        .serve_with_lifecycle(process, lifecycle)
        .await
        .context("initialize the session")
}

/// rmcp's lifecycle for the era configured.
fn lifecycle(protocol: UpstreamProtocol) -> ClientLifecycleMode {
    let modern = vec![ProtocolVersion::V_2026_07_28];
    match protocol {
        UpstreamProtocol::Legacy => ClientLifecycleMode::Initialize,
        UpstreamProtocol::Modern => ClientLifecycleMode::Discover {
            preferred_versions: modern,
        },
        UpstreamProtocol::Auto => ClientLifecycleMode::Auto {
            preferred_versions: modern,
            legacy_version: None,
        },
    }
}

/// Connect to a Streamable HTTP upstream with its own headers and token.
async fn start_http(
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    bearer: Option<&str>,
    events: Events,
    lifecycle: ClientLifecycleMode,
) -> anyhow::Result<RunningService<RoleClient, Events>> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut custom = std::collections::HashMap::new();
    for (name, value) in headers {
        let name = http::HeaderName::try_from(name.as_str())
            .with_context(|| format!("header name {name:?}"))?;
        let value = http::HeaderValue::try_from(value.as_str())
            .with_context(|| format!("the value of header {name}"))?;
        custom.insert(name, value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    if let Some(token) = bearer {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    events
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .with_context(|| format!("initialize the session with {url}"))
}

/// An upstream's annotations are its own claims: a tool counts as one that writes (for role
/// checks) unless configured otherwise.
fn untrusted_annotations(mut tool: Tool) -> Tool {
    if let Some(annotations) = tool.annotations.as_mut() {
        annotations.read_only_hint = None;
    }
    tool
}

/// Close the session once `stop` is cancelled.
async fn close_on(
    stop: tokio_util::sync::CancellationToken,
    running: RunningService<RoleClient, Events>,
) -> anyhow::Result<()> {
    stop.cancelled().await;
    running
        .cancel()
        .await
        .context("close the upstream session")?;
    Ok(())
}

impl Module for UpstreamSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn attach(&self, changes: SourceChanges) {
        let _ = self.changes.set(changes);
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let tools = self.tools.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tools
            .into_iter()
            .map(|tool| {
                let upstream = Arc::clone(&self);
                ToolSpec::new(tool, move |request, _cx| {
                    let upstream = Arc::clone(&upstream);
                    async move { upstream.call(request).await }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ToolAnnotations;

    use super::*;

    #[test]
    fn an_upstream_saying_its_tool_only_reads_is_not_taken_at_its_word() {
        let tool = Tool::new("wipe", "says it only reads", Arc::new(Default::default()))
            .with_annotations(ToolAnnotations::new().read_only(true).destructive(false));
        let tool = untrusted_annotations(tool);
        let annotations = tool.annotations.expect("kept");
        assert_eq!(annotations.read_only_hint, None);
        assert_eq!(annotations.destructive_hint, Some(false));
    }
}

//! Module `system`: `health` (component status and uptime) and `server_info` (name, version,
//! protocol versions, modules, tool count). Both read-only, with output schemas and structured
//! content.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, ContentBlock, ProtocolVersion, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;

use super::{no_arguments, output_schema};
use crate::config::Transport;
use crate::mcp::{Module, Quarantined, Snapshot, ToolSpec, WeakCatalog};
use crate::state::AppState;
use crate::store::Store;
use crate::upstream::{UpstreamStatus, Upstreams};

/// Facts about the running app that `system` reports.
pub struct AppFacts {
    /// When the app was built.
    pub started: Instant,
    /// The server name.
    pub name: String,
    /// The server version.
    pub version: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
    /// Enabled module names, in order.
    pub modules: Vec<String>,
    /// The catalog (for the tool count and quarantined sources).
    pub catalog: WeakCatalog,
    /// The store, for health probes.
    pub store: Arc<dyn Store>,
    /// How long a store probe result may be reused.
    pub probe_ttl: Duration,
    /// The federated upstreams.
    pub upstreams: Upstreams,
}

impl AppFacts {
    /// The facts of the app that `state` belongs to.
    pub fn of(state: &AppState) -> Self {
        Self {
            started: state.started,
            name: "mcpgate".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            transport: match state.config.transport {
                Transport::Stdio => "stdio",
                Transport::Http => "http",
            },
            modules: state.config.modules.enabled.clone(),
            catalog: state.catalog.downgrade(),
            store: Arc::clone(&state.store),
            probe_ttl: state.config.store.health_probe_ttl,
            upstreams: state.upstreams.clone(),
        }
    }
}

/// The `health` report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HealthReport {
    /// `ok` when every component is ok, otherwise `degraded`.
    pub status: String,
    /// Whole seconds since start.
    pub uptime_seconds: u64,
    /// Server version.
    pub version: String,
    /// Status per component.
    pub components: Components,
    /// Tool sources left out of the catalog, and why (then the status is `degraded`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<QuarantinedSource>,
    /// Each federated upstream (any not `ready` makes the status `degraded`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamStatus>,
}

/// A tool source the catalog left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct QuarantinedSource {
    /// The source's name.
    pub source: String,
    /// What is wrong with what it offers.
    pub reason: String,
}

impl From<&Quarantined> for QuarantinedSource {
    fn from(q: &Quarantined) -> Self {
        Self {
            source: q.source.clone(),
            reason: q.reason.clone(),
        }
    }
}

/// Component statuses.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Components {
    /// The data store.
    pub store: ComponentStatus,
}

/// One component's status.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ComponentStatus {
    /// `ok` or `down`.
    pub status: String,
    /// Backend name, e.g. `sqlite`.
    pub backend: String,
    /// Round-trip time of the last probe (at most `store.health_probe_ttl` old), in
    /// milliseconds.
    pub latency_ms: f64,
    /// Why the component is down, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `server_info` report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServerInfoReport {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Protocol versions this server speaks, newest first.
    pub protocol_versions: Vec<String>,
    /// Transport serving this process.
    pub transport: String,
    /// Enabled modules, in order.
    pub modules: Vec<String>,
    /// Number of registered tools.
    pub tool_count: usize,
    /// Tool sources left out of the catalog, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<QuarantinedSource>,
}

struct Probe {
    at: Instant,
    latency: Duration,
    error: Option<String>,
}

/// A rendered `health` answer: it only changes when the probe is refreshed or the uptime
/// reaches another whole second, so it is rendered once and reused until then.
struct RenderedHealth {
    probe: Arc<Probe>,
    catalog: Arc<Snapshot>,
    uptime: u64,
    value: serde_json::Value,
    text: String,
}

/// The `system` module.
pub struct SystemModule {
    facts: AppFacts,
    last_probe: Mutex<Option<Arc<Probe>>>,
    last_health: Mutex<Option<Arc<RenderedHealth>>>,
}

impl SystemModule {
    /// The module over the app's facts.
    pub fn new(facts: AppFacts) -> Self {
        Self {
            facts,
            last_probe: Mutex::new(None),
            last_health: Mutex::new(None),
        }
    }

    async fn probe(&self) -> Arc<Probe> {
        if let Some(p) = self
            .last_probe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && p.at.elapsed() < self.facts.probe_ttl
        {
            return Arc::clone(p);
        }
        let started = Instant::now();
        let error = self.facts.store.ping().await.err().map(|e| {
            tracing::warn!(error = %e, "store health probe failed");
            "the store did not answer".to_owned()
        });
        let probe = Arc::new(Probe {
            at: Instant::now(),
            latency: started.elapsed(),
            error,
        });
        *self.last_probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&probe));
        probe
    }

    /// The `health` answer, rendered at most once per probe and uptime second.
    async fn health_result(&self) -> CallToolResult {
        let probe = self.probe().await;
        let catalog = self.snapshot();
        let uptime = self.facts.started.elapsed().as_secs();
        let cached = self
            .last_health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|r| {
                r.uptime == uptime
                    && Arc::ptr_eq(&r.probe, &probe)
                    && Arc::ptr_eq(&r.catalog, &catalog)
            })
            .map(Arc::clone);
        let rendered = match cached {
            Some(rendered) => rendered,
            None => {
                let upstreams = self.facts.upstreams.statuses().await;
                let value = match serde_json::to_value(self.report(&probe, &catalog, upstreams)) {
                    Ok(value) => value,
                    Err(e) => return encoding_failed(&e),
                };
                let rendered = Arc::new(RenderedHealth {
                    text: value.to_string(),
                    value,
                    probe,
                    catalog,
                    uptime,
                });
                *self.last_health.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Arc::clone(&rendered));
                rendered
            }
        };
        let mut result = CallToolResult::success(vec![ContentBlock::text(rendered.text.clone())]);
        result.structured_content = Some(rendered.value.clone());
        result
    }

    /// Build the health report.
    pub async fn health(&self) -> HealthReport {
        let probe = self.probe().await;
        let upstreams = self.facts.upstreams.statuses().await;
        self.report(&probe, &self.snapshot(), upstreams)
    }

    /// The catalog's current snapshot.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.facts.catalog.snapshot()
    }

    fn report(
        &self,
        probe: &Probe,
        catalog: &Snapshot,
        mut upstreams: Vec<UpstreamStatus>,
    ) -> HealthReport {
        let quarantined: Vec<QuarantinedSource> =
            catalog.quarantined.iter().map(Into::into).collect();
        for upstream in &mut upstreams {
            if quarantined.iter().any(|q| q.source == upstream.name) {
                "quarantined".clone_into(&mut upstream.state);
            }
        }
        let store = ComponentStatus {
            status: if probe.error.is_none() { "ok" } else { "down" }.to_owned(),
            backend: self.facts.store.backend().to_owned(),
            latency_ms: probe.latency.as_secs_f64() * 1e3,
            error: probe.error.clone(),
        };
        HealthReport {
            status: if probe.error.is_none()
                && quarantined.is_empty()
                && upstreams.iter().all(|u| u.state == "ready")
            {
                "ok"
            } else {
                "degraded"
            }
            .to_owned(),
            uptime_seconds: self.facts.started.elapsed().as_secs(),
            version: self.facts.version.clone(),
            components: Components { store },
            quarantined,
            upstreams,
        }
    }

    /// Build the server info report.
    pub fn server_info(&self) -> ServerInfoReport {
        let snapshot = self.snapshot();
        let mut versions: Vec<String> = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .map(|v| v.as_str().to_owned())
            .collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        ServerInfoReport {
            name: self.facts.name.clone(),
            version: self.facts.version.clone(),
            protocol_versions: versions,
            transport: self.facts.transport.to_owned(),
            modules: self.facts.modules.clone(),
            tool_count: snapshot.len(),
            quarantined: snapshot.quarantined.iter().map(Into::into).collect(),
        }
    }
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn structured<T: Serialize>(value: &T) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => encoding_failed(&e),
    }
}

fn encoding_failed(e: &serde_json::Error) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "could not encode the report: {e}"
    ))])
}

impl Module for SystemModule {
    fn name(&self) -> &'static str {
        "system"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let health = Tool::new(
            "health",
            "Report whether the server and its components (the data store) are working, with \
             uptime and probe latency. Use it to check the connection before other work.",
            no_arguments(),
        )
        .with_title("Server health")
        .with_annotations(read_only())
        .with_raw_output_schema(output_schema::<HealthReport>());
        let info = Tool::new(
            "server_info",
            "Describe this server: name, version, supported MCP protocol versions, transport, \
             enabled modules and how many tools it offers.",
            no_arguments(),
        )
        .with_title("Server information")
        .with_annotations(read_only())
        .with_raw_output_schema(output_schema::<ServerInfoReport>());
        let me = Arc::clone(&self);
        vec![
            ToolSpec::new(health, move |_, _| {
                let me = Arc::clone(&me);
                async move { Ok(me.health_result().await.into()) }
            }),
            ToolSpec::new(info, move |_, _| {
                let me = Arc::clone(&self);
                async move { Ok(structured(&me.server_info()).into()) }
            }),
        ]
    }
}

//! One upstream as a catalog source: its pool of sessions and what it exposes (tools,
//! resources, resource templates, prompts). Calls and reads are in `calls.rs`, what sessions
//! hear in `events.rs`, what an upstream asks or logs during a call in `questions.rs`, the
//! breaker's transitions and the supervisor in `supervise.rs`.

mod calls;
mod deliveries;
mod events;
mod listen;
mod principals;
mod questions;
mod supervise;
mod tasks;

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use rmcp::model::{
    CancelTaskParams, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
    Prompt, ReadResourceRequestParams, ReadResourceResponse, Resource, ResourceTemplate, Tool,
    UpdateTaskParams,
};
use rmcp::service::ServiceError;
use rmcp::{ErrorData, RoleClient};

use self::events::Events;
use super::breaker::{Breaker, BreakerState};
use super::pins::Pinning;
use super::pool::Pool;
use super::resources::{
    expose_prompts, expose_resources, expose_templates, namespace, own, rewrite_tool_meta,
};
use super::retry::RetryBudget;
use super::session::Session;
use super::tools::{Exposed, expose};
use super::{UpstreamConfig, UpstreamProtocol, UpstreamStatus};
use crate::mcp::{BoxFuture, CallContext, Module, SourceChanges, ToolSpec};
use crate::store::PinStore;
use crate::telemetry::UpstreamMetrics;

/// An upstream MCP server.
pub struct UpstreamSource {
    config: UpstreamConfig,
    /// The shared sessions (listing, probes, and calls unless isolated per caller).
    pool: Arc<Pool<Events>>,
    /// Callers' own sessions, under `isolation = "per_principal"`.
    principals: principals::Principals,
    /// Itself, to give new sessions a handler that reports back.
    weak: Weak<Self>,
    /// What it exposes; `None` until it was first listed.
    offer: Mutex<Option<Arc<Offer>>>,
    changes: OnceLock<SourceChanges>,
    breaker: Mutex<Breaker>,
    budget: RetryBudget,
    metrics: UpstreamMetrics,
    /// Wakes the supervisor (the breaker opened, the tools changed).
    wake: tokio::sync::Notify,
    /// The last problem seen, cleared by the next success.
    problem: Mutex<Option<String>>,
    /// The era its last session opened with.
    era: Mutex<Option<String>>,
    /// Where tool pins are kept (`None`: pinning is not checked, e.g. `upstreams check`).
    pins: Option<Arc<dyn PinStore>>,
    /// Tools whose definition changed since pinned, as of the last listing.
    changed_tools: Mutex<Vec<String>>,
    /// Tasks it created for callers, under the gateway's ids.
    tasks: tasks::Tasks,
    /// Calls in flight: the supervisor waits for them before it closes the sessions (an
    /// upstream removed or replaced by a reload lets its calls finish).
    calls: tokio_util::task::TaskTracker,
}

/// What an upstream exposes, as exposed (filtered, renamed, namespaced).
#[derive(Default)]
struct Offer {
    tools: Vec<Arc<Exposed>>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: Vec<Prompt>,
}

/// What `inspect` found.
#[derive(Debug)]
pub struct Inspection {
    /// The protocol version the session opened with.
    pub era: Option<String>,
    /// Every tool the upstream lists, by its own name.
    pub listed: Vec<String>,
    /// The exposed ones: the upstream's name and the name callers see.
    pub exposed: Vec<(String, String)>,
    /// What mcpgate presented to it, as described for people (`None`: nothing).
    pub credential: Option<String>,
}

impl UpstreamSource {
    /// The source for `config`, not yet connected.
    pub fn new(
        config: UpstreamConfig,
        metrics: UpstreamMetrics,
        pins: Option<Arc<dyn PinStore>>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak: &Weak<Self>| Self {
            pool: Arc::new(Pool::new(config.clone(), handlers(weak.clone()))),
            principals: principals::Principals::default(),
            weak: weak.clone(),
            breaker: Mutex::new(Breaker::new(config.breaker, Instant::now())),
            budget: RetryBudget::new(&config.retry),
            config,
            offer: Mutex::new(None),
            changes: OnceLock::new(),
            metrics,
            wake: tokio::sync::Notify::new(),
            problem: Mutex::new(None),
            era: Mutex::new(None),
            pins,
            changed_tools: Mutex::new(Vec::new()),
            tasks: tasks::Tasks::default(),
            calls: tokio_util::task::TaskTracker::new(),
        })
    }

    /// Handlers for new sessions.
    fn make_handler(&self) -> super::pool::MakeHandler<Events> {
        handlers(self.weak.clone())
    }

    /// Its configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Connect and list what it offers (and, for a `warm` upstream, open every session).
    /// Returns how many tools it exposes. `Err` says why it could not; the supervisor keeps
    /// trying.
    pub async fn start(&self) -> anyhow::Result<usize> {
        let tools = self.list().await?;
        if self.config.warm {
            let opening = (0..self.pool.size()).map(|i| self.pool.acquire_slot(i));
            for opened in futures::future::join_all(opening).await {
                opened?;
            }
        }
        Ok(tools)
    }

    /// List what it offers through the pool (retrying connect failures within the retry
    /// policy) and keep what is exposed. Returns how many tools are exposed.
    async fn list(&self) -> anyhow::Result<usize> {
        let mut retry = 0;
        loop {
            let attempt = async {
                let session = self.pool.acquire().await?;
                self.note_era(&session);
                let listed = self.list_through(&session.peer).await;
                if let Err(e) = &listed
                    && e.downcast_ref::<ServiceError>()
                        .is_some_and(|e| !matches!(e, ServiceError::McpError(_)))
                {
                    self.evict(&self.pool, &session, "transport").await;
                }
                listed
            };
            match attempt.await {
                Ok(count) => return Ok(count),
                Err(e) if retry + 1 < self.config.retry.attempts && self.budget.withdraw() => {
                    retry += 1;
                    self.metrics.retry();
                    tracing::debug!(upstream = %self.config.name, error = %format!("{e:#}"), retry, "retrying the listing");
                    tokio::time::sleep(self.config.retry.backoff(retry)).await;
                }
                Err(e) => {
                    self.set_problem(format!("{e:#}"));
                    return Err(e);
                }
            }
        }
    }

    /// List tools (and resources, templates and prompts, when the upstream has them) through
    /// `peer`, each within the timeout, and keep what is exposed. Returns how many tools are
    /// exposed.
    async fn list_through(&self, peer: &rmcp::Peer<RoleClient>) -> anyhow::Result<usize> {
        let timeout = self.config.timeout;
        let within = |what: &'static str| {
            move |_| anyhow::anyhow!("the upstream did not list its {what} in time")
        };
        let capabilities = peer.peer_info().map(|info| info.capabilities.clone());
        let has_resources = capabilities.as_ref().is_some_and(|c| c.resources.is_some());
        let has_prompts = capabilities.as_ref().is_some_and(|c| c.prompts.is_some());
        let tools = tokio::time::timeout(timeout, peer.list_all_tools())
            .await
            .map_err(within("tools"))??;
        let tools = self.pinned(tools).await?;
        let mut offer = Offer {
            tools: expose(&self.config, tools)
                .into_iter()
                .map(|mut t| {
                    if let Some(namespace) = namespace(&self.config) {
                        rewrite_tool_meta(namespace, &mut t.tool);
                    }
                    Arc::new(t)
                })
                .collect(),
            ..Offer::default()
        };
        if has_resources && !self.config.resources.is_empty() {
            let resources = tokio::time::timeout(timeout, peer.list_all_resources())
                .await
                .map_err(within("resources"))??;
            offer.resources = expose_resources(&self.config, resources);
            let templates = tokio::time::timeout(timeout, peer.list_all_resource_templates())
                .await
                .map_err(within("resource templates"))??;
            offer.templates = expose_templates(&self.config, templates);
        }
        if has_prompts && !self.config.prompts.is_empty() {
            let prompts = tokio::time::timeout(timeout, peer.list_all_prompts())
                .await
                .map_err(within("prompts"))??;
            offer.prompts = expose_prompts(&self.config, prompts);
        }
        let count = offer.tools.len();
        *self.offer.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(offer));
        self.clear_problem();
        Ok(count)
    }

    /// Compare the allowed tools of a listing with their pins (pinning the new ones), note
    /// and count the changed ones, and leave them out under `pinning = "block"`.
    async fn pinned(&self, tools: Vec<Tool>) -> anyhow::Result<Vec<Tool>> {
        let Some(store) = self
            .pins
            .as_ref()
            .filter(|_| self.config.pinning != Pinning::Off)
        else {
            return Ok(tools);
        };
        let allowed: Vec<Tool> = tools
            .into_iter()
            .filter(|t| self.config.exposes(&t.name))
            .collect();
        let changed = super::pins::compare(store.as_ref(), &self.config.name, &allowed).await?;
        let known: Vec<String> = self
            .changed_tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for tool in changed.iter().filter(|t| !known.contains(t)) {
            self.metrics
                .tool_changed(self.config.pinning == Pinning::Block);
            tracing::warn!(
                upstream = %self.config.name,
                tool = %tool,
                policy = if self.config.pinning == Pinning::Block { "block" } else { "warn" },
                "upstream tool definition changed since it was pinned; approve it with `mcpgate upstreams approve`"
            );
        }
        *self.changed_tools.lock().unwrap_or_else(|e| e.into_inner()) = changed.clone();
        if self.config.pinning == Pinning::Block {
            return Ok(allowed
                .into_iter()
                .filter(|t| !changed.iter().any(|c| c == t.name.as_ref()))
                .collect());
        }
        Ok(allowed)
    }

    /// Tools whose definition changed since pinned.
    pub(super) fn changed_tools(&self) -> Vec<String> {
        self.changed_tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Connect once, list everything the upstream offers, and say what would be exposed under
    /// which name; then close. For `mcpgate upstreams check`.
    pub async fn inspect(&self) -> anyhow::Result<Inspection> {
        let inspected = async {
            let session = self.pool.acquire().await?;
            let era = session.protocol_version().map(|v| v.to_string());
            let listed = tokio::time::timeout(self.config.timeout, session.peer.list_all_tools())
                .await
                .map_err(|_| anyhow::anyhow!("the upstream did not list its tools in time"))?
                .map_err(|e| anyhow::Error::from(e).context("list the upstream's tools"))?;
            let names: Vec<String> = listed.iter().map(|t| t.name.to_string()).collect();
            let exposed = expose(&self.config, listed)
                .into_iter()
                .map(|t| {
                    (
                        t.upstream_name,
                        format!("{}{}", self.config.prefix, t.tool.name),
                    )
                })
                .collect();
            anyhow::Ok(Inspection {
                era,
                listed: names,
                exposed,
                credential: self.pool.credential().describe(),
            })
        }
        .await;
        self.pool.close_all().await;
        inspected
    }

    /// Pin the current definitions of its allowed tools, replacing the old pins; returns how
    /// many were pinned and which had changed. Then close.
    pub async fn approve(&self, store: &dyn PinStore) -> anyhow::Result<(usize, Vec<String>)> {
        let approved = async {
            let session = self.pool.acquire().await?;
            let listed = tokio::time::timeout(self.config.timeout, session.peer.list_all_tools())
                .await
                .map_err(|_| anyhow::anyhow!("the upstream did not list its tools in time"))?
                .map_err(|e| anyhow::Error::from(e).context("list the upstream's tools"))?;
            let before = store.tool_pins(&self.config.name).await?;
            let digests: Vec<(String, String)> = listed
                .iter()
                .filter(|t| self.config.exposes(&t.name))
                .map(|t| (t.name.to_string(), super::pins::digest(t)))
                .collect();
            let changed = digests
                .iter()
                .filter(|(tool, digest)| before.get(tool).is_some_and(|d| d != digest))
                .map(|(tool, _)| tool.clone())
                .collect();
            store.pin_tools(&self.config.name, &digests, true).await?;
            anyhow::Ok((digests.len(), changed))
        }
        .await;
        self.pool.close_all().await;
        approved
    }

    /// List again through `peer` after the upstream said its offer changed there, and tell
    /// the catalog.
    async fn relist(&self, peer: &rmcp::Peer<RoleClient>) {
        match self.list_through(peer).await {
            Ok(_) => self.announce(),
            Err(e) => tracing::warn!(
                upstream = %self.config.name,
                error = %format!("{e:#}"),
                "upstream offer could not be listed again; keeping the last list"
            ),
        }
    }

    fn announce(&self) {
        if let Some(changes) = self.changes.get() {
            changes.changed();
        }
    }

    /// What it exposes now (`None` before the first listing).
    fn offer(&self) -> Option<Arc<Offer>> {
        self.offer.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn is_listed(&self) -> bool {
        self.offer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// What it exposes while its breaker is closed (an open breaker hides everything).
    fn visible(&self) -> Option<Arc<Offer>> {
        let closed = self
            .breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state(Instant::now())
            == BreakerState::Closed;
        closed.then(|| self.offer()).flatten()
    }

    /// Whether URIs in its answers are namespaced: it exposes resources under its name.
    fn has_resources(&self) -> bool {
        namespace(&self.config).is_some()
            && self
                .offer()
                .is_some_and(|o| !o.resources.is_empty() || !o.templates.is_empty())
    }

    /// How many tools it exposes now.
    pub fn tool_count(&self) -> usize {
        self.offer().map_or(0, |o| o.tools.len())
    }

    fn note_era(&self, session: &Session<Events>) {
        if let Some(version) = session.protocol_version() {
            *self.era.lock().unwrap_or_else(|e| e.into_inner()) = Some(version.to_string());
        }
    }

    fn set_problem(&self, problem: String) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }

    fn clear_problem(&self) {
        let mut problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        if problem.is_some() {
            *problem = None;
        }
    }

    async fn evict(
        &self,
        pool: &Pool<Events>,
        session: &Arc<Session<Events>>,
        reason: &'static str,
    ) {
        self.metrics.eviction(reason);
        tracing::warn!(upstream = %self.config.name, session = session.id, reason, "upstream session evicted");
        pool.evict(session).await;
    }

    /// Where it stands, for health reports.
    pub async fn status(&self) -> UpstreamStatus {
        let breaker = self
            .breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state(Instant::now());
        let mut sessions = 0;
        for pool in self.pools() {
            sessions += pool
                .sessions()
                .await
                .iter()
                .filter(|s| s.is_alive())
                .count();
        }
        let listed = self.is_listed();
        let problem = self
            .problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let state = if breaker != BreakerState::Closed {
            "open_breaker"
        } else if !listed {
            "connecting"
        } else if problem.is_some() {
            "degraded"
        } else {
            "ready"
        };
        UpstreamStatus {
            name: self.config.name.clone(),
            state: state.to_owned(),
            required: self.config.required,
            era: self.era.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            tools: self.tool_count(),
            sessions,
            pool_size: self.pool.size(),
            breaker: breaker.as_str().to_owned(),
            error: problem,
            changed_tools: self.changed_tools(),
        }
    }
}

/// A factory of handlers that report to the source behind `source`.
fn handlers(source: Weak<UpstreamSource>) -> super::pool::MakeHandler<Events> {
    Box::new(move || Events {
        source: source.clone(),
        progress: Arc::default(),
        callers: Arc::default(),
    })
}

impl Module for UpstreamSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn attach(&self, changes: SourceChanges) {
        let _ = self.changes.set(changes);
    }

    /// Its exposed tools, or none while its breaker is not closed.
    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let Some(offer) = self.visible() else {
            return Vec::new();
        };
        offer
            .tools
            .iter()
            .map(|tool| {
                let upstream = Arc::clone(&self);
                let tool = Arc::clone(tool);
                ToolSpec::new(tool.tool.clone(), move |request, cx| {
                    let upstream = Arc::clone(&upstream);
                    let tool = Arc::clone(&tool);
                    async move { upstream.call(&tool, request, cx).await }
                })
            })
            .collect()
    }

    /// Advertised from the start when the entry allows any: the upstream may join later.
    fn offers_resources(&self) -> bool {
        !self.config.resources.is_empty()
    }

    fn offers_prompts(&self) -> bool {
        !self.config.prompts.is_empty()
    }

    fn resources(&self) -> Vec<Resource> {
        self.visible()
            .map_or_else(Vec::new, |o| o.resources.clone())
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        self.visible()
            .map_or_else(Vec::new, |o| o.templates.clone())
    }

    fn read_resource(
        self: Arc<Self>,
        params: &ReadResourceRequestParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<ReadResourceResponse, ErrorData>>> {
        let uri = own(namespace(&self.config), &params.uri)?;
        let asked = params.clone();
        Some(Box::pin(async move { self.read(uri, &asked, cx).await }))
    }

    fn prompts(&self) -> Vec<Prompt> {
        self.visible().map_or_else(Vec::new, |o| o.prompts.clone())
    }

    fn get_prompt(
        self: Arc<Self>,
        params: &GetPromptRequestParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetPromptResponse, ErrorData>>> {
        let name = params.name.strip_prefix(self.config.prefix.as_str())?;
        let offered = self
            .visible()?
            .prompts
            .iter()
            .any(|p| p.name == params.name);
        if !offered {
            return None;
        }
        let name = name.to_owned();
        let params = params.clone();
        Some(Box::pin(async move { self.prompt(name, params, cx).await }))
    }

    /// A 2026-07-28 upstream may answer calls with tasks (relayed in `tasks.rs`); one pinned
    /// to the legacy era never does here.
    fn provides_tasks(&self) -> bool {
        self.config.protocol != UpstreamProtocol::Legacy
    }

    fn get_task(
        self: Arc<Self>,
        params: &GetTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetTaskResult, ErrorData>>> {
        self.get_relayed_task(params, cx)
    }

    fn update_task(
        self: Arc<Self>,
        params: &UpdateTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        self.ack_relayed_task(params, cx)
    }

    fn cancel_task(
        self: Arc<Self>,
        params: &CancelTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        self.ack_relayed_task(params, cx)
    }
}

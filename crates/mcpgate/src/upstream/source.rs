//! One upstream as a catalog source: its pool of sessions, its exposed tools, its calls (with
//! timeouts, retries where safe and a circuit breaker), and the supervisor that keeps it
//! healthy (first listing, heartbeats, breaker probes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotificationParam, ClientRequest, ContentBlock, ErrorCode, ProgressNotificationParam,
    ProgressToken, RequestId, ServerResult,
};
use rmcp::service::PeerRequestOptions;
use rmcp::service::{NotificationContext, ServiceError};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use tokio_util::sync::CancellationToken;

use super::breaker::{Breaker, BreakerState};
use super::pool::{AcquireError, Pool};
use super::retry::RetryBudget;
use super::session::Session;
use super::tools::{Exposed, expose};
use super::{UpstreamConfig, UpstreamStatus};
use crate::mcp::{CallContext, Module, SourceChanges, ToolSpec};
use crate::telemetry::UpstreamMetrics;

/// How often an upstream that has never been listed is tried again, at most.
const FIRST_LIST_RETRY_CAP: Duration = Duration::from_secs(30);

/// An upstream MCP server.
pub struct UpstreamSource {
    config: UpstreamConfig,
    pool: Pool<Events>,
    /// What it exposes; `None` until it was first listed.
    tools: Mutex<Option<Vec<Arc<Exposed>>>>,
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
}

/// What one upstream session tells us: a changed tool list is listed again, and progress of a
/// call goes to that call's caller only.
#[derive(Clone)]
struct Events {
    source: Weak<UpstreamSource>,
    progress: Arc<ProgressRoutes>,
}

impl ClientHandler for Events {
    async fn on_tool_list_changed(&self, cx: NotificationContext<RoleClient>) {
        let Some(source) = self.source.upgrade() else {
            return;
        };
        // Listed again through the session that announced the change (a stateful upstream's
        // sessions may differ). Not from inside the session's own loop: it answers the list.
        tokio::spawn(async move { source.relist(&cx.peer).await });
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let progress = Arc::clone(&self.progress);
        tokio::spawn(async move { progress.forward(params).await });
    }
}

/// The progress tokens of one session's calls in flight, each leading back to its caller.
/// rmcp gives every request a token of its own (unique on the session), so concurrent callers
/// sharing a session never see each other's progress.
#[derive(Default)]
struct ProgressRoutes {
    routes: Mutex<HashMap<ProgressToken, CallContext>>,
}

/// Removes a call's route when the call ends.
struct Route {
    routes: Arc<ProgressRoutes>,
    token: ProgressToken,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.routes
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
    }
}

impl ProgressRoutes {
    /// Send the progress under `token` to `caller` until the route is dropped.
    fn route(self: &Arc<Self>, token: ProgressToken, caller: &CallContext) -> Route {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), caller.clone());
        Route {
            routes: Arc::clone(self),
            token,
        }
    }

    /// Pass a progress notification on to the caller whose request it belongs to. A
    /// notification that outran its route (sent before the request's route was recorded) is
    /// looked up again for a moment; one that belongs to nobody is dropped.
    async fn forward(&self, params: ProgressNotificationParam) {
        for _ in 0..20 {
            let caller = self
                .routes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&params.progress_token)
                .cloned();
            if let Some(caller) = caller {
                caller
                    .progress(params.progress, params.total, params.message)
                    .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Sends `notifications/cancelled` for a request whose caller stopped waiting.
struct CancelOnDrop {
    peer: rmcp::Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let cancel = CancelledNotificationParam::new(
                    Some(id),
                    Some("the gateway's caller stopped waiting".into()),
                );
                let _ = peer.notify_cancelled(cancel).await;
            });
        }
    }
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
}

/// How one attempt at a call ended.
enum Attempt {
    /// The upstream answered (a result, possibly `isError`).
    Answered(CallToolResponse),
    /// The upstream refused the request (a protocol error other than an internal one).
    Refused(ErrorData),
    /// The upstream failed with an internal error.
    Failed(ErrorData),
    /// No session could be had: nothing was sent.
    NotConnected(AcquireError),
    /// The session broke after the request may have been sent.
    Broken(ServiceError),
    /// The upstream did not answer within the limit.
    TimedOut(Duration),
}

impl UpstreamSource {
    /// The source for `config`, not yet connected.
    pub fn new(config: UpstreamConfig, metrics: UpstreamMetrics) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self {
            pool: Pool::new(config.clone(), {
                let source = weak.clone();
                Box::new(move || Events {
                    source: source.clone(),
                    progress: Arc::default(),
                })
            }),
            breaker: Mutex::new(Breaker::new(config.breaker, Instant::now())),
            budget: RetryBudget::new(&config.retry),
            config,
            tools: Mutex::new(None),
            changes: OnceLock::new(),
            metrics,
            wake: tokio::sync::Notify::new(),
            problem: Mutex::new(None),
            era: Mutex::new(None),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Connect and list the tools (and, for a `warm` upstream, open every session). `Err`
    /// says why it could not; the supervisor keeps trying.
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

    /// List the tools through the pool (retrying connect failures within the retry policy) and
    /// keep the ones exposed. Returns how many are exposed.
    async fn list(&self) -> anyhow::Result<usize> {
        let mut retry = 0;
        let listed = loop {
            let attempt = async {
                let session = self.pool.acquire().await?;
                self.note_era(&session);
                let listed =
                    tokio::time::timeout(self.config.timeout, session.peer.list_all_tools())
                        .await
                        .map_err(|_| {
                            anyhow::anyhow!("the upstream did not list its tools in time")
                        })?;
                match listed {
                    Ok(tools) => Ok(tools),
                    Err(e) => {
                        if !matches!(e, ServiceError::McpError(_)) {
                            self.evict(&session, "transport").await;
                        }
                        Err(anyhow::Error::from(e).context("list the upstream's tools"))
                    }
                }
            };
            match attempt.await {
                Ok(tools) => break tools,
                Err(e) if retry + 1 < self.config.retry.attempts && self.budget.withdraw() => {
                    retry += 1;
                    self.metrics.retry();
                    tracing::debug!(upstream = %self.config.name, error = %format!("{e:#}"), retry, "retrying the tool listing");
                    tokio::time::sleep(self.config.retry.backoff(retry)).await;
                }
                Err(e) => {
                    self.set_problem(format!("{e:#}"));
                    return Err(e);
                }
            }
        };
        Ok(self.keep(listed))
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
            })
        }
        .await;
        self.pool.close_all().await;
        inspected
    }

    /// List the tools again through `peer` after the upstream said they changed there, and
    /// tell the catalog.
    async fn relist(&self, peer: &rmcp::Peer<RoleClient>) {
        let listed = tokio::time::timeout(self.config.timeout, peer.list_all_tools()).await;
        match listed {
            Ok(Ok(tools)) => {
                self.keep(tools);
                self.announce();
            }
            Ok(Err(e)) => tracing::warn!(
                upstream = %self.config.name,
                error = %e,
                "upstream tools could not be listed again; keeping the last list"
            ),
            Err(_) => tracing::warn!(
                upstream = %self.config.name,
                "upstream tools were not listed again in time; keeping the last list"
            ),
        }
    }

    /// Keep the exposed ones of `listed`; returns how many.
    fn keep(&self, listed: Vec<rmcp::model::Tool>) -> usize {
        let exposed: Vec<Arc<Exposed>> = expose(&self.config, listed)
            .into_iter()
            .map(Arc::new)
            .collect();
        let count = exposed.len();
        *self.tools.lock().unwrap_or_else(|e| e.into_inner()) = Some(exposed);
        self.clear_problem();
        count
    }

    fn announce(&self) {
        if let Some(changes) = self.changes.get() {
            changes.changed();
        }
    }

    /// How many tools it exposes now.
    pub fn tool_count(&self) -> usize {
        self.tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, Vec::len)
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

    async fn evict(&self, session: &Arc<Session<Events>>, reason: &'static str) {
        self.metrics.eviction(reason);
        tracing::warn!(upstream = %self.config.name, session = session.id, reason, "upstream session evicted");
        self.pool.evict(session).await;
    }

    /// Where it stands, for health reports.
    pub async fn status(&self) -> UpstreamStatus {
        let breaker = self
            .breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state(Instant::now());
        let sessions = self
            .pool
            .sessions()
            .await
            .iter()
            .filter(|s| s.is_alive())
            .count();
        let listed = self
            .tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
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
        }
    }

    /// Call `tool` for the caller: within its timeout, retried where that is safe, through the
    /// breaker. The upstream's protocol errors pass through; what went wrong on the way is a
    /// tool error naming the upstream.
    async fn call(
        &self,
        tool: &Exposed,
        request: CallToolRequestParams,
        cx: CallContext,
    ) -> Result<CallToolResponse, ErrorData> {
        let request_id = request_id(&cx);
        let upstream = tool.upstream_request(
            &request,
            &request_id,
            self.config.correlation_argument.as_deref(),
        );
        let started = Instant::now();
        self.budget.deposit();
        let _in_flight = self.metrics.in_flight();
        let mut retry = 0;
        let attempt = loop {
            if let Err(rejected) = self.pass() {
                self.metrics.call("breaker_open", started.elapsed());
                return failed(format!(
                    "upstream {} is unavailable: its circuit breaker is open (next try in {} s)",
                    self.config.name,
                    rejected.retry_after.as_secs().max(1)
                ));
            }
            let attempt = self.attempt(tool, upstream.clone(), &cx).await;
            self.settle(&attempt);
            let retryable = match &attempt {
                Attempt::NotConnected(_) => true,
                Attempt::Broken(_) | Attempt::Failed(_) => tool.retry_safe,
                Attempt::Answered(_) | Attempt::Refused(_) | Attempt::TimedOut(_) => false,
            };
            if retryable
                && retry + 1 < self.config.retry.attempts
                && !cx.request.ct.is_cancelled()
                && self.budget.withdraw()
            {
                retry += 1;
                self.metrics.retry();
                tracing::debug!(upstream = %self.config.name, tool = %tool.upstream_name, request_id, retry, "retrying the upstream call");
                tokio::time::sleep(self.config.retry.backoff(retry)).await;
                continue;
            }
            break attempt;
        };
        let elapsed = started.elapsed();
        let name = &self.config.name;
        match attempt {
            Attempt::Answered(response) => {
                self.metrics.call("ok", elapsed);
                Ok(response)
            }
            Attempt::Refused(error) => {
                self.metrics.call("refused", elapsed);
                Err(error)
            }
            Attempt::Failed(error) => {
                self.metrics.call("upstream_error", elapsed);
                Err(error)
            }
            Attempt::NotConnected(e) => {
                self.metrics.call("unavailable", elapsed);
                failed(format!("upstream {name} is unavailable: {e}"))
            }
            Attempt::Broken(e) => {
                self.metrics.call("transport_error", elapsed);
                tracing::warn!(upstream = %name, request_id, error = %e, "upstream call failed");
                failed(format!("upstream {name} failed: {e}"))
            }
            Attempt::TimedOut(limit) => {
                self.metrics.call("timeout", elapsed);
                tracing::warn!(upstream = %name, request_id, limit_s = limit.as_secs_f64(), "upstream call timed out");
                failed(format!(
                    "upstream {name} did not answer within {} s",
                    limit.as_secs_f64()
                ))
            }
        }
    }

    /// One try: a session from the pool, the request, the answer within the tool's timeout.
    /// A caller who goes away (cancelled, stream closed) cancels the upstream request too:
    /// dropping rmcp's request future sends `notifications/cancelled`.
    async fn attempt(
        &self,
        tool: &Exposed,
        request: CallToolRequestParams,
        cx: &CallContext,
    ) -> Attempt {
        let session = match self.pool.acquire().await {
            Ok(session) => session,
            Err(e) => return Attempt::NotConnected(e),
        };
        let call = async {
            let handle = session
                .peer
                .send_request_with_option(
                    ClientRequest::CallToolRequest(CallToolRequest::new(request)),
                    PeerRequestOptions::no_options(),
                )
                .await?;
            let _route = cx.request.meta.get_progress_token().map(|_| {
                session
                    .handler
                    .progress
                    .route(handle.progress_token.clone(), cx)
            });
            let mut cancel = CancelOnDrop {
                peer: session.peer.clone(),
                id: Some(handle.id.clone()),
            };
            let answer = handle.await_response().await;
            cancel.id = None;
            match answer? {
                ServerResult::CallToolResult(result) => Ok(CallToolResponse::Complete(result)),
                ServerResult::InputRequiredResult(result) => {
                    Ok(CallToolResponse::InputRequired(result))
                }
                ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        };
        let answer = tokio::select! {
            answer = tokio::time::timeout(tool.timeout, call) => answer,
            () = cx.request.ct.cancelled() => return Attempt::Broken(ServiceError::Cancelled {
                reason: Some("the caller cancelled".into()),
            }),
        };
        match answer {
            Err(_) => Attempt::TimedOut(tool.timeout),
            Ok(Ok(response)) => Attempt::Answered(response),
            Ok(Err(ServiceError::McpError(error))) if error.code == ErrorCode::INTERNAL_ERROR => {
                Attempt::Failed(error)
            }
            Ok(Err(ServiceError::McpError(error))) => Attempt::Refused(error),
            Ok(Err(error)) => {
                if !session.is_alive()
                    || matches!(
                        error,
                        ServiceError::TransportClosed | ServiceError::TransportSend(_)
                    )
                {
                    self.evict(&session, "transport").await;
                }
                Attempt::Broken(error)
            }
        }
    }

    /// Ask the breaker to let a call through.
    fn pass(&self) -> Result<(), super::breaker::Rejected> {
        self.breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_pass(Instant::now())
    }

    /// Tell the breaker how an attempt went. Timeouts (a limit mcpgate chose) and waiting out
    /// a reconnect backoff are not the upstream's failures.
    fn settle(&self, attempt: &Attempt) {
        let ok = match attempt {
            Attempt::Answered(_) | Attempt::Refused(_) => Some(true),
            Attempt::Failed(_) | Attempt::NotConnected(AcquireError::Connect(_)) => Some(false),
            Attempt::Broken(ServiceError::Cancelled { .. }) => None,
            Attempt::Broken(_) => Some(false),
            Attempt::TimedOut(_) | Attempt::NotConnected(AcquireError::BackingOff { .. }) => None,
        };
        match attempt {
            Attempt::Answered(_) | Attempt::Refused(_) => self.clear_problem(),
            Attempt::Failed(e) => self.set_problem(e.message.to_string()),
            Attempt::NotConnected(e) => self.set_problem(e.to_string()),
            Attempt::Broken(e) => self.set_problem(e.to_string()),
            Attempt::TimedOut(_) => {}
        }
        self.record(ok);
    }

    /// Record an outcome (`None`: release a probe without a verdict) and act on a transition.
    fn record(&self, ok: Option<bool>) {
        let now = Instant::now();
        let moved = {
            let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            match ok {
                Some(ok) => breaker.record(now, ok),
                None => breaker.abandon(),
            }
        };
        let Some(to) = moved else {
            return;
        };
        self.metrics.breaker(to.as_str());
        match to {
            BreakerState::Open => {
                tracing::warn!(upstream = %self.config.name, "upstream circuit breaker opened; its tools are hidden")
            }
            _ => {
                tracing::info!(upstream = %self.config.name, "upstream circuit breaker closed; its tools are back")
            }
        }
        self.announce();
        self.wake.notify_one();
    }

    /// Keep the upstream healthy until `stop`: list it until that works, probe an open
    /// breaker after its cooldown, ping every session each heartbeat. Then close every
    /// session.
    pub async fn supervise(self: Arc<Self>, stop: CancellationToken) -> anyhow::Result<()> {
        let heartbeat = self.config.heartbeat_interval;
        let mut next_heartbeat = (!heartbeat.is_zero()).then(|| Instant::now() + heartbeat);
        let mut next_listing = Instant::now() + Duration::from_millis(500);
        let mut listing_failures: u32 = 0;
        loop {
            let now = Instant::now();
            let listed = self
                .tools
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some();
            let breaker = self
                .breaker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .state(now);
            // Act on what is due.
            if !listed && now >= next_listing {
                match self.list().await {
                    Ok(tools) => {
                        tracing::info!(upstream = %self.config.name, tools, "upstream connected");
                        self.announce();
                    }
                    Err(e) => {
                        listing_failures += 1;
                        next_listing = Instant::now()
                            + self
                                .config
                                .retry
                                .ceiling(listing_failures)
                                .max(Duration::from_millis(500))
                                .min(FIRST_LIST_RETRY_CAP);
                        tracing::debug!(upstream = %self.config.name, error = %format!("{e:#}"), "upstream still unreachable");
                    }
                }
                continue;
            }
            if listed && breaker == BreakerState::HalfOpen {
                self.probe().await;
                continue;
            }
            if next_heartbeat.is_some_and(|at| now >= at) {
                self.heartbeat().await;
                next_heartbeat = Some(Instant::now() + heartbeat);
                continue;
            }
            // Sleep until the next duty (or a wake-up, or the stop).
            let mut until = next_heartbeat.unwrap_or(now + Duration::from_secs(3600));
            if !listed {
                until = until.min(next_listing);
            }
            if let Some(open_until) = self.breaker_reopens(now) {
                until = until.min(open_until);
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep_until(until.into()) => {}
                () = self.wake.notified() => {}
            }
        }
        self.pool.close_all().await;
        Ok(())
    }

    /// When an open breaker lets a probe through.
    fn breaker_reopens(&self, now: Instant) -> Option<Instant> {
        let breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match breaker.state(now) {
            BreakerState::Open => breaker.retry_after(now).map(|d| now + d),
            _ => None,
        }
    }

    /// Probe a half-open breaker by listing the tools: closes it (tools back) or opens it again.
    async fn probe(&self) {
        if self.pass().is_err() {
            return;
        }
        let ok = self.list().await.is_ok();
        tracing::info!(upstream = %self.config.name, ok, "upstream breaker probe");
        self.record(Some(ok));
    }

    /// Ping every session; evict the ones that fail or are slow.
    async fn heartbeat(&self) {
        let timeout = self.config.heartbeat_timeout;
        let sessions = self.pool.sessions().await;
        let pings = sessions.iter().map(|session| async move {
            let ok = session.is_alive()
                && matches!(
                    tokio::time::timeout(timeout, session.ping()).await,
                    Ok(Ok(()))
                );
            (session, ok)
        });
        for (session, ok) in futures::future::join_all(pings).await {
            if !ok {
                self.set_problem("a heartbeat ping failed".into());
                self.evict(session, "heartbeat").await;
                self.record(Some(false));
            }
        }
        self.metrics.sessions(self.pool.sessions().await.len());
    }
}

/// A tool error the caller can read.
fn failed(message: String) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into())
}

/// The request id the edge gave this call's HTTP request, or a new one (stdio).
fn request_id(cx: &CallContext) -> String {
    cx.request
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(crate::http::REQUEST_ID))
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
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
        let closed = self
            .breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state(Instant::now())
            == BreakerState::Closed;
        if !closed {
            return Vec::new();
        }
        let tools = self
            .tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        tools
            .into_iter()
            .map(|tool| {
                let upstream = Arc::clone(&self);
                ToolSpec::new(tool.tool.clone(), move |request, cx| {
                    let upstream = Arc::clone(&upstream);
                    let tool = Arc::clone(&tool);
                    async move { upstream.call(&tool, request, cx).await }
                })
            })
            .collect()
    }
}

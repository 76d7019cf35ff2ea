//! Requests forwarded to an upstream: each through the breaker, on a pooled session, within
//! its timeout, retried where that is safe, and counted. Tool calls answer what went wrong on
//! the way as `isError` results naming the upstream; reads and prompts as JSON-RPC errors.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
    ContentBlock, ErrorCode, GetPromptRequestParams, GetPromptResponse, ReadResourceRequestParams,
    ReadResourceResponse, ServerResult,
};
use rmcp::model::{
    InputRequiredResult, InputResponses, JsonObject, ResultType, TASKS_EXTENSION_ID,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use tracing::Instrument as _;

use super::UpstreamSource;
use super::events::{CancelOnDrop, Events};
use crate::mcp::CallContext;
use crate::upstream::breaker::Rejected;
use crate::upstream::direct::{Kind, Outgoing, complete, decode, param_headers};
use crate::upstream::pool::AcquireError;
use crate::upstream::resources::{rewrite_read, rewrite_tool_result};
use crate::upstream::session::Session;
use crate::upstream::tools::Exposed;

/// How a request ended.
pub(super) enum Attempt<T> {
    /// The upstream answered.
    Answered(T),
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
    /// The breaker is open: nothing was sent.
    Open(Rejected),
}

impl<T> Attempt<T> {
    fn outcome(&self) -> &'static str {
        match self {
            Self::Answered(_) => "ok",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "upstream_error",
            Self::NotConnected(_) => "unavailable",
            Self::Broken(_) => "transport_error",
            Self::TimedOut(_) => "timeout",
            Self::Open(_) => "breaker_open",
        }
    }

    /// What went wrong, for the caller; `None` when the upstream answered or refused.
    fn failure(&self, upstream: &str) -> Option<String> {
        Some(match self {
            Self::Answered(_) | Self::Refused(_) | Self::Failed(_) => return None,
            Self::NotConnected(e) => format!("upstream {upstream} is unavailable: {e}"),
            Self::Broken(e) => format!("upstream {upstream} failed: {e}"),
            Self::TimedOut(limit) => format!(
                "upstream {upstream} did not answer within {} s",
                limit.as_secs_f64()
            ),
            Self::Open(rejected) => format!(
                "upstream {upstream} is unavailable: its circuit breaker is open (next try in \
                 {} s)",
                rejected.retry_after.as_secs().max(1)
            ),
        })
    }
}

impl UpstreamSource {
    /// Run `op` on a pooled session: through the breaker, within `timeout`, cancelled when
    /// the caller goes away, retried (after a jittered backoff, within the budget) when no
    /// session could be had or — if `retry_safe` — when the upstream failed or the session
    /// broke. Counted in the upstream's metrics.
    pub(super) async fn run<T, F, Fut>(
        &self,
        cx: &CallContext,
        timeout: Duration,
        retry_safe: bool,
        op: F,
    ) -> Attempt<T>
    where
        F: Fn(Arc<Session<Events>>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        self.run_on(cx, None, timeout, retry_safe, op).await
    }

    /// [`Self::run`] on the session `pinned` when given (what a task started on a session-bound
    /// upstream needs: only that session knows it), or on the next pooled one.
    pub(super) async fn run_on<T, F, Fut>(
        &self,
        cx: &CallContext,
        pinned: Option<u64>,
        timeout: Duration,
        retry_safe: bool,
        op: F,
    ) -> Attempt<T>
    where
        F: Fn(Arc<Session<Events>>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let started = Instant::now();
        self.budget.deposit();
        let _in_flight = self.metrics.in_flight();
        let _call = self.calls.token();
        let pool = self.pool_for(cx);
        let mut retry = 0;
        let attempt = loop {
            if let Err(rejected) = self.pass() {
                break Attempt::Open(rejected);
            }
            let acquired = match pinned {
                None => pool.acquire().await,
                Some(id) => match pool.session(id).await {
                    Some(session) => Ok(session),
                    None => break Attempt::Refused(session_gone()),
                },
            };
            let attempt = match acquired {
                Err(e) => Attempt::NotConnected(e),
                Ok(session) => {
                    let answer = tokio::select! {
                        answer = tokio::time::timeout(timeout, op(Arc::clone(&session))) => answer,
                        () = cx.request.ct.cancelled() => Ok(Err(ServiceError::Cancelled {
                            reason: Some("the caller cancelled".into()),
                        })),
                    };
                    match answer {
                        Err(_) => Attempt::TimedOut(timeout),
                        Ok(Ok(answer)) => Attempt::Answered(answer),
                        Ok(Err(ServiceError::McpError(error)))
                            if error.code == ErrorCode::INTERNAL_ERROR =>
                        {
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
                                self.evict(&pool, &session, "transport").await;
                            }
                            Attempt::Broken(error)
                        }
                    }
                }
            };
            self.settle(&attempt);
            let retryable = match &attempt {
                Attempt::NotConnected(_) => true,
                Attempt::Broken(ServiceError::Cancelled { .. }) => false,
                Attempt::Broken(_) | Attempt::Failed(_) => retry_safe,
                _ => false,
            };
            if retryable
                && retry + 1 < self.config.retry.attempts
                && !cx.request.ct.is_cancelled()
                && self.budget.withdraw()
            {
                retry += 1;
                self.metrics.retry();
                tokio::time::sleep(self.config.retry.backoff(retry)).await;
                continue;
            }
            break attempt;
        };
        self.metrics.call(attempt.outcome(), started.elapsed());
        attempt
    }

    /// Call `tool` for the caller. The upstream's protocol errors pass through; what went wrong
    /// on the way is a tool error naming the upstream. The `input_required` rounds of a
    /// 2026-07-28 upstream pass through to a stateless caller; a legacy caller is asked on its
    /// session, and the call goes upstream again with its answers.
    pub(super) async fn call(
        &self,
        tool: &Exposed,
        mut request: CallToolRequestParams,
        cx: CallContext,
    ) -> Result<CallToolResponse, ErrorData> {
        for _ in 0..ROUNDS {
            let answer = self.call_once(tool, &request, &cx).await?;
            if let Some(answer) = settle_round(&cx, answer, &mut request).await? {
                return Ok(answer);
            }
        }
        Err(too_many_rounds())
    }

    /// One call of `tool` for the caller (see [`Self::call`]).
    async fn call_once(
        &self,
        tool: &Exposed,
        request: &CallToolRequestParams,
        cx: &CallContext,
    ) -> Result<CallToolResponse, ErrorData> {
        let request_id = request_id(cx);
        let upstream = tool.upstream_request(
            request,
            &request_id,
            self.config.correlation_argument.as_deref(),
        );
        let wants_progress = cx.request.meta.get_progress_token().is_some();
        // Exported spans only: the upstream's own spans continue the trace under this one.
        let span = tracing::debug_span!(
            "upstream.call",
            upstream = %self.config.name,
            tool = %tool.upstream_name,
        );
        let capabilities = span.in_scope(|| caller_capabilities(cx));
        let answered_on = AtomicU64::new(0);
        let attempt = self
            .run(cx, tool.timeout, tool.retry_safe, |session| {
                let request = upstream.clone();
                let capabilities = &capabilities;
                let cx = &cx;
                let request_id = &request_id;
                // A task lives where it was made: on a stateless HTTP upstream any request
                // reaches it, otherwise (a stdio child, say) only this session knows it.
                let pin = if session.direct.is_some() {
                    0
                } else {
                    session.id
                };
                answered_on.store(pin, Ordering::Relaxed);
                async move {
                    if let Some(direct) = &session.direct {
                        let out = Outgoing {
                            method: "tools/call",
                            request_id,
                            capabilities,
                            param_headers: param_headers(
                                &tool.param_headers,
                                request.arguments.as_ref(),
                            ),
                        };
                        let raw = direct.request(out, request, cx).await?;
                        return Ok(match complete(&raw) {
                            Ok(result) => CallToolResponse::Complete(result),
                            Err(Kind::Complete) => {
                                CallToolResponse::Complete(decode(&raw, "tool result")?)
                            }
                            Err(Kind::InputRequired) => {
                                CallToolResponse::InputRequired(decode(&raw, "input request")?)
                            }
                            Err(Kind::Task) => CallToolResponse::Task(decode(&raw, "task")?),
                        });
                    }
                    let options = PeerRequestOptions::no_options().with_meta(capabilities.clone());
                    let handle = session
                        .peer
                        .send_request_with_option(
                            ClientRequest::CallToolRequest(CallToolRequest::new(request)),
                            options,
                        )
                        .await?;
                    let route = wants_progress.then(|| {
                        session
                            .handler
                            .progress
                            .route(handle.progress_token.clone(), cx)
                    });
                    let calling = session.handler.callers.enter(handle.id.clone(), cx);
                    let mut cancel = CancelOnDrop {
                        peer: session.peer.clone(),
                        id: Some(handle.id.clone()),
                    };
                    let answer = handle.await_response().await;
                    cancel.id = None;
                    calling.finish().await;
                    if let Some(route) = route {
                        route.finish().await;
                    }
                    match answer? {
                        ServerResult::CallToolResult(result) => {
                            Ok(CallToolResponse::Complete(result))
                        }
                        ServerResult::InputRequiredResult(result) => {
                            Ok(CallToolResponse::InputRequired(result))
                        }
                        ServerResult::CreateTaskResult(result) => {
                            Ok(CallToolResponse::Task(result))
                        }
                        _ => Err(ServiceError::UnexpectedResponse),
                    }
                }
            })
            .instrument(span)
            .await;
        let name = &self.config.name;
        if let Some(message) = attempt.failure(name) {
            tracing::warn!(upstream = %name, request_id, tool = %tool.upstream_name, outcome = attempt.outcome(), "upstream call failed");
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        match attempt {
            Attempt::Answered(CallToolResponse::Complete(mut result)) => {
                // A legacy upstream's result carries no `resultType`; the caller may be modern
                // (rmcp leaves it out again for legacy callers).
                result.result_type.get_or_insert(ResultType::COMPLETE);
                if self.has_resources() {
                    rewrite_tool_result(name, &mut result);
                }
                Ok(CallToolResponse::Complete(result))
            }
            Attempt::Answered(CallToolResponse::Task(mut created)) => {
                let pinned = Some(answered_on.into_inner()).filter(|&id| id != 0);
                self.tasks.adopt(&mut created, &cx.principal, pinned);
                Ok(CallToolResponse::Task(created))
            }
            Attempt::Answered(other) => Ok(other),
            Attempt::Refused(error) | Attempt::Failed(error) => Err(error),
            _ => unreachable!("failures answered above"),
        }
    }

    /// Read the upstream's resource `uri` (its own URI) for the caller, a legacy caller
    /// answering the upstream's rounds on its session (see [`Self::call`]).
    pub(super) async fn read(
        &self,
        uri: String,
        asked: &ReadResourceRequestParams,
        cx: CallContext,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let mut params = ReadResourceRequestParams::new(uri);
        params.input_responses = asked.input_responses.clone();
        params.request_state = asked.request_state.clone();
        for _ in 0..ROUNDS {
            let answer = self.read_once(&params, &cx).await?;
            if let Some(answer) = settle_round(&cx, answer, &mut params).await? {
                return Ok(answer);
            }
        }
        Err(too_many_rounds())
    }

    async fn read_once(
        &self,
        params: &ReadResourceRequestParams,
        cx: &CallContext,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let capabilities = caller_capabilities(cx);
        let request_id = request_id(cx);
        let attempt = self
            .run(cx, self.config.timeout, true, |session| {
                let params = params.clone();
                let capabilities = capabilities.clone();
                let (cx, request_id) = (&cx, &request_id);
                async move {
                    if let Some(direct) = &session.direct {
                        let out = Outgoing::new("resources/read", request_id, &capabilities);
                        let raw = direct.request(out, params, cx).await?;
                        return Ok(match complete(&raw) {
                            Ok(result) => ReadResourceResponse::Complete(result),
                            Err(Kind::InputRequired) => {
                                ReadResourceResponse::InputRequired(decode(&raw, "input request")?)
                            }
                            Err(_) => ReadResourceResponse::Complete(decode(&raw, "resource")?),
                        });
                    }
                    let request = ClientRequest::ReadResourceRequest(
                        rmcp::model::ReadResourceRequest::new(params),
                    );
                    match send(&session, request, capabilities, cx).await? {
                        ServerResult::ReadResourceResult(r) => {
                            Ok(ReadResourceResponse::Complete(r))
                        }
                        ServerResult::InputRequiredResult(r) => {
                            Ok(ReadResourceResponse::InputRequired(r))
                        }
                        _ => Err(ServiceError::UnexpectedResponse),
                    }
                }
            })
            .await;
        match self.answer(attempt)? {
            ReadResourceResponse::Complete(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                if let Some(namespace) = crate::upstream::resources::namespace(&self.config) {
                    rewrite_read(namespace, &mut result);
                }
                Ok(ReadResourceResponse::Complete(result))
            }
            other => Ok(other),
        }
    }

    /// Get the upstream's prompt `name` (its own name) for the caller, a legacy caller
    /// answering the upstream's rounds on its session (see [`Self::call`]).
    pub(super) async fn prompt(
        &self,
        name: String,
        mut params: GetPromptRequestParams,
        cx: CallContext,
    ) -> Result<GetPromptResponse, ErrorData> {
        params.name = name;
        params.meta = None;
        for _ in 0..ROUNDS {
            let answer = self.prompt_once(&params, &cx).await?;
            if let Some(answer) = settle_round(&cx, answer, &mut params).await? {
                return Ok(answer);
            }
        }
        Err(too_many_rounds())
    }

    async fn prompt_once(
        &self,
        params: &GetPromptRequestParams,
        cx: &CallContext,
    ) -> Result<GetPromptResponse, ErrorData> {
        let capabilities = caller_capabilities(cx);
        let request_id = request_id(cx);
        let attempt = self
            .run(cx, self.config.timeout, true, |session| {
                let params = params.clone();
                let capabilities = capabilities.clone();
                let (cx, request_id) = (&cx, &request_id);
                async move {
                    if let Some(direct) = &session.direct {
                        let out = Outgoing::new("prompts/get", request_id, &capabilities);
                        let raw = direct.request(out, params, cx).await?;
                        return Ok(match complete(&raw) {
                            Ok(result) => GetPromptResponse::Complete(result),
                            Err(Kind::InputRequired) => {
                                GetPromptResponse::InputRequired(decode(&raw, "input request")?)
                            }
                            Err(_) => GetPromptResponse::Complete(decode(&raw, "prompt")?),
                        });
                    }
                    let request =
                        ClientRequest::GetPromptRequest(rmcp::model::GetPromptRequest::new(params));
                    match send(&session, request, capabilities, cx).await? {
                        ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
                        ServerResult::InputRequiredResult(r) => {
                            Ok(GetPromptResponse::InputRequired(r))
                        }
                        _ => Err(ServiceError::UnexpectedResponse),
                    }
                }
            })
            .await;
        match self.answer(attempt)? {
            GetPromptResponse::Complete(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(GetPromptResponse::Complete(result))
            }
            other => Ok(other),
        }
    }

    /// A read's or prompt's answer: the upstream's, or a JSON-RPC error naming what went
    /// wrong on the way.
    pub(super) fn answer<T>(&self, attempt: Attempt<T>) -> Result<T, ErrorData> {
        if let Some(message) = attempt.failure(&self.config.name) {
            return Err(ErrorData::internal_error(message, None));
        }
        match attempt {
            Attempt::Answered(answer) => Ok(answer),
            Attempt::Refused(error) | Attempt::Failed(error) => Err(error),
            _ => unreachable!("failures answered above"),
        }
    }

    /// Tell the breaker how an attempt went. Timeouts (a limit mcpgate chose), a caller who
    /// cancelled and waiting out a reconnect backoff are not the upstream's failures.
    pub(super) fn settle<T>(&self, attempt: &Attempt<T>) {
        let ok = match attempt {
            Attempt::Answered(_) | Attempt::Refused(_) => Some(true),
            Attempt::Failed(_) | Attempt::NotConnected(AcquireError::Connect(_)) => Some(false),
            Attempt::Broken(ServiceError::Cancelled { .. }) => None,
            Attempt::Broken(_) => Some(false),
            Attempt::TimedOut(_)
            | Attempt::NotConnected(AcquireError::BackingOff { .. })
            | Attempt::Open(_) => None,
        };
        match attempt {
            Attempt::Answered(_) | Attempt::Refused(_) => self.clear_problem(),
            Attempt::Failed(e) => self.set_problem(e.message.to_string()),
            Attempt::NotConnected(e) => self.set_problem(e.to_string()),
            Attempt::Broken(e) => self.set_problem(e.to_string()),
            Attempt::TimedOut(_) | Attempt::Open(_) => {}
        }
        if !matches!(attempt, Attempt::Open(_)) {
            self.record(ok);
        }
    }
}

/// How many `input_required` rounds of an upstream a legacy caller is asked through before
/// the request fails.
const ROUNDS: usize = 10;

/// A request whose upstream may answer `input_required`: it can be sent again with answers.
trait Answerable {
    fn answer_with(&mut self, responses: InputResponses, state: Option<String>);
}

/// An upstream's answer that may be an `input_required` round.
trait MaybeRound: Sized {
    /// The round, or the answer itself when it is none.
    fn into_round(self) -> Result<InputRequiredResult, Self>;
}

macro_rules! rounds_of {
    ($($params:ty => $response:ident),* $(,)?) => {$(
        impl Answerable for $params {
            fn answer_with(&mut self, responses: InputResponses, state: Option<String>) {
                self.input_responses = Some(responses);
                self.request_state = state;
            }
        }
        impl MaybeRound for $response {
            fn into_round(self) -> Result<InputRequiredResult, Self> {
                match self {
                    $response::InputRequired(round) => Ok(round),
                    other => Err(other),
                }
            }
        }
    )*};
}

rounds_of! {
    CallToolRequestParams => CallToolResponse,
    ReadResourceRequestParams => ReadResourceResponse,
    GetPromptRequestParams => GetPromptResponse,
}

/// What to do with an upstream's `answer` to `params`: a stateless caller gets it as it is,
/// `input_required` rounds included (it retries them itself), and so does a legacy caller when
/// it is no round (`Some`). A round is put to a legacy caller on its session and its answers
/// are set on `params`, with the upstream's request state, to be sent again (`None`).
async fn settle_round<P: Answerable, R: MaybeRound>(
    cx: &CallContext,
    answer: R,
    params: &mut P,
) -> Result<Option<R>, ErrorData> {
    if cx.is_modern() {
        return Ok(Some(answer));
    }
    let round = match answer.into_round() {
        Ok(round) => round,
        Err(answer) => return Ok(Some(answer)),
    };
    let requests = round.input_requests.unwrap_or_default();
    // Boxed, like the rest of what only a legacy caller's rounds need, so a call's future
    // stays small.
    let responses = Box::pin(crate::mcp::rounds::answer_in_session(cx, requests)).await?;
    params.answer_with(responses, round.request_state);
    Ok(None)
}

/// Why a pinned session could not be had: it is gone (a stdio child that ended, say), and
/// what only it knew (a task) with it.
pub(super) const SESSION_GONE: &str = "the upstream session that held it has ended";

fn session_gone() -> ErrorData {
    ErrorData::invalid_params(SESSION_GONE, None)
}

fn too_many_rounds() -> ErrorData {
    ErrorData::internal_error(
        format!("the upstream still asked for input after {ROUNDS} rounds"),
        None,
    )
}

/// Send `request` on `session` with the caller's relayed capabilities; cancelled upstream if
/// the caller stops waiting.
pub(super) async fn send(
    session: &Session<Events>,
    request: ClientRequest,
    capabilities: rmcp::model::RequestMetaObject,
    cx: &CallContext,
) -> Result<ServerResult, ServiceError> {
    let options = PeerRequestOptions::no_options().with_meta(capabilities);
    let handle = session
        .peer
        .send_request_with_option(request, options)
        .await?;
    let calling = session.handler.callers.enter(handle.id.clone(), cx);
    let mut cancel = CancelOnDrop {
        peer: session.peer.clone(),
        id: Some(handle.id.clone()),
    };
    let answer = handle.await_response().await;
    cancel.id = None;
    calling.finish().await;
    answer
}

/// `_meta` for a request upstream on behalf of the caller: which of the server→client
/// requests (elicitation, sampling, roots) it can answer — a 2026-07-28 upstream may ask for
/// those in `input_required` rounds, which pass through to a stateless caller and are put to a
/// legacy caller on its session — whether it follows tasks (a stateless caller that declared
/// the extension: the upstream's tasks are relayed, see `tasks.rs`), and the log level it
/// wants messages at.
pub(super) fn caller_capabilities(cx: &CallContext) -> rmcp::model::RequestMetaObject {
    let declared = cx.request.client_capabilities().unwrap_or_default();
    let mut relayed = rmcp::model::ClientCapabilities::default();
    let follows_tasks = cx.is_modern() && declared.supports_tasks();
    relayed.elicitation = declared.elicitation;
    relayed.sampling = declared.sampling;
    relayed.roots = declared.roots;
    if follows_tasks {
        relayed.extensions = Some(
            [(TASKS_EXTENSION_ID.to_owned(), JsonObject::new())]
                .into_iter()
                .collect(),
        );
    }
    let mut meta = rmcp::model::RequestMetaObject::new();
    meta.set_client_capabilities(relayed);
    // The trace goes on upstream (SEP-414), from the current span, when spans are exported.
    if let Some((traceparent, tracestate)) = crate::telemetry::current_trace_context() {
        meta.set_traceparent(traceparent);
        if let Some(tracestate) = tracestate {
            meta.set_tracestate(tracestate);
        }
    }
    if let Some(level) = cx.wanted_log_level() {
        meta.set_log_level(level);
    }
    meta
}

/// The request id the edge gave this call's HTTP request, or a new one (stdio).
pub(super) fn request_id(cx: &CallContext) -> String {
    cx.request
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(crate::edge::REQUEST_ID))
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

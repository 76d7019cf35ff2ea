//! Proxy mode, its inbound half: the MCP endpoint's backend when mcpgate stands in front of one
//! upstream server (`serve --proxy URL`). The edge has run (request id, Host/Origin, body limit,
//! load shedding); then, in order:
//!
//! 1. the gate, exactly as for served MCP (auth, scopes, rate limits per caller);
//! 2. a POST body is read (bounded) and checked as one JSON-RPC message, the same checks and
//!    answers as for served MCP;
//! 3. **sessions stay with their creators.** Upstream session ids pass through unchanged, and
//!    each one is bound to the caller whose `initialize` created it (the same owner table and
//!    caps as served sessions). A request naming a session that is not the caller's, or that
//!    this process never saw created, is answered 404 here and never reaches the upstream — an
//!    id learned from a log or a shared screen is not a way into someone else's session;
//! 4. **per-tool policy holds.** The upstream's tools are listed in the background into the
//!    catalog (as an upstream with no prefix), so the catalog's one decision applies: a
//!    `tools/call` of a tool the caller may not use, or over its rate, is answered here like a
//!    served one, and a `tools/list` answer is filtered to what the caller may use, whether it
//!    comes as JSON or inside an event stream;
//! 5. the request is relayed ([`crate::proxy`]) and its answer streamed back. A new session is
//!    bound when the upstream answers the `initialize`; a DELETE, or a 404 from the upstream,
//!    ends the binding.
//!
//! Open-ended GET streams end when the drain starts; answers to requests end at shutdown,
//! after in-flight requests had their grace.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::edge_layer::{hold_while_streaming, read_body};
use super::jsonrpc;
use super::mcp_layer::{admit, session_id, session_not_found, sessions_full};
use super::sessions::{Held, Owned, SessionOwner};
use crate::edge::{Gate, Principal, reject};
use crate::lifecycle::Lifecycle;
use crate::mcp::{Catalog, Refused, rate_limited};
use crate::proxy::{Proxy, ProxyError, Rewrite};

/// The session header.
const SESSION_ID: &str = "mcp-session-id";

/// What the proxy route needs.
#[derive(Clone)]
pub struct ProxyState {
    /// The upstream and how to reach it.
    pub proxy: Arc<Proxy>,
    /// Authentication, required scopes and rate limits.
    pub gate: Gate,
    /// The upstream's tools as the background listing sees them, for per-tool policy.
    pub catalog: Catalog,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Upstream sessions and their creators.
    pub sessions: Arc<Owned<UpstreamSession>>,
    /// `Retry-After` for an `initialize` past a session cap.
    pub session_retry_after: Duration,
    /// The drain (streams end) and shutdown (answers end).
    pub lifecycle: Lifecycle,
}

/// An upstream session as this process knows it: when it was last used, and whether a request
/// or stream on it is open (it does not expire while one is).
#[derive(Debug)]
pub struct UpstreamSession {
    last_used: Mutex<Instant>,
    open: AtomicUsize,
}

impl UpstreamSession {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            last_used: Mutex::new(Instant::now()),
            open: AtomicUsize::new(0),
        })
    }

    /// A request on the session starts; it is in use until the guard drops.
    fn used(self: &Arc<Self>) -> InUse {
        self.open.fetch_add(1, Ordering::AcqRel);
        InUse(Arc::clone(self))
    }
}

impl Held for UpstreamSession {
    fn idle_for(&self, idle: Duration, now: Instant) -> bool {
        let last = *self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        self.open.load(Ordering::Acquire) == 0 && now.saturating_duration_since(last) >= idle
    }

    /// The upstream ends its own sessions on its own schedule; only the binding goes.
    fn close(&self) {}
}

/// A request or stream open on an upstream session.
struct InUse(Arc<UpstreamSession>);

impl Drop for InUse {
    fn drop(&mut self) {
        *self.0.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The proxy route (see the module documentation).
pub async fn proxy_exchange(State(state): State<ProxyState>, mut request: Request) -> Response {
    let admission = match admit(&state.gate, &mut request, state.max_body_bytes).await {
        Ok(admission) => admission,
        Err(refusal) => return refusal,
    };
    let mut response = exchange(&state, &admission.principal, request).await;
    if let Some(decision) = admission.decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

/// What is read of a POST body to route and police it.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    id: Value,
    #[serde(borrow)]
    params: Option<PeekParams<'a>>,
}

#[derive(Deserialize)]
struct PeekParams<'a> {
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
}

/// What routing and policy need of a POST, kept past the body's borrow.
struct Peeked {
    initialize: bool,
    method: Option<String>,
    tool: Option<String>,
    id: Value,
}

async fn exchange(state: &ProxyState, principal: &Principal, request: Request) -> Response {
    let owner = SessionOwner::from(principal);
    let session = session_id(&request);
    let (head, body) = request.into_parts();
    let (body, peeked) = if head.method == Method::POST {
        let bytes = match read_body(body, state.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(refusal) => return refusal,
        };
        let checked = match jsonrpc::check(&bytes) {
            Ok(checked) => checked,
            Err(refused) => return refused.into_response(),
        };
        let Ok(peek) = serde_json::from_slice::<Peek<'_>>(&bytes) else {
            return jsonrpc::error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                "Invalid Request".to_owned(),
            );
        };
        let peeked = Peeked {
            initialize: checked.initialize,
            method: peek.method.map(Into::into),
            tool: peek.params.and_then(|p| p.name).map(Into::into),
            id: peek.id,
        };
        (bytes, Some(peeked))
    } else {
        (Bytes::new(), None)
    };
    let rpc_id = peeked.as_ref().map(|p| p.id.clone());
    // Someone else's session is unknown, whatever the request would have done on it.
    let in_use = match &session {
        Some(id) => match state.sessions.owned_by(id, &owner) {
            Some(bound) => Some(bound.used()),
            None => return session_not_found(rpc_id),
        },
        None => None,
    };
    let mut reservation = None;
    let mut rewrite: Option<Box<dyn Rewrite>> = None;
    if let Some(peeked) = &peeked {
        if let Some(refusal) = police(state, principal, peeked).await {
            return refusal;
        }
        if peeked.initialize && session.is_none() {
            match state.sessions.reserve(owner.clone()) {
                Ok(place) => reservation = Some(place),
                Err(full) => return sessions_full(full, state.session_retry_after),
            }
        }
        if peeked.method.as_deref() == Some("tools/list") && !peeked.id.is_null() {
            rewrite = Some(Box::new(ToolFilter {
                catalog: state.catalog.clone(),
                principal: principal.clone(),
                id: peeked.id.clone(),
            }));
        }
    }
    // An open-ended stream ends with the drain; an answer gets the in-flight grace.
    let end = if head.method == Method::GET {
        state.lifecycle.draining().clone()
    } else {
        state.lifecycle.shutdown().clone()
    };
    let response = match state
        .proxy
        .forward(&head, body, principal, end, rewrite)
        .await
    {
        Ok(response) => response,
        Err(e) => return upstream_failed(&e, rpc_id),
    };
    let status = response.status();
    if let Some(place) = reservation
        && status.is_success()
        && let Some(id) = response
            .headers()
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
    {
        place.bind(id.into(), UpstreamSession::new());
    }
    if let Some(id) = &session
        && ((head.method == Method::DELETE && status.is_success())
            || status == StatusCode::NOT_FOUND)
    {
        state.sessions.close(id);
    }
    match in_use {
        Some(in_use) => hold_while_streaming(response, in_use),
        None => response,
    }
}

/// A `tools/call` the catalog refuses for this caller, answered here (as a served call would
/// be): unknown, switched off and withheld alike look unknown; over the tool's rate names the
/// wait.
async fn police(state: &ProxyState, principal: &Principal, peek: &Peeked) -> Option<Response> {
    if peek.method.as_deref() != Some("tools/call") {
        return None;
    }
    let name = peek.tool.as_deref()?;
    let error = match state.catalog.authorize(principal, name).await {
        Ok(_) => return None,
        Err(Refused::Limited(decision)) => rate_limited(name, &decision),
        Err(Refused::Unknown | Refused::Disabled | Refused::Denied { .. }) => {
            rmcp::ErrorData::invalid_params(
                format!("Unknown tool: {name}"),
                Some(serde_json::json!({ "tool": name })),
            )
        }
    };
    tracing::info!(tool = name, reason = %error.message, "proxied tool call refused");
    Some(jsonrpc::error(
        StatusCode::OK,
        peek.id.clone(),
        i64::from(error.code.0),
        error.message.into_owned(),
    ))
}

/// The upstream could not answer: 504 past the timeout, 502 otherwise, as a JSON-RPC error
/// for a POST (with its id) and a JSON refusal for the rest.
fn upstream_failed(error: &ProxyError, rpc_id: Option<Value>) -> Response {
    tracing::warn!(error = %error, "proxied request failed");
    let status = match error {
        ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    let message = format!("upstream: {error}");
    match rpc_id {
        Some(id) => jsonrpc::error(status, id, jsonrpc::INTERNAL_ERROR, message),
        None => reject(status, "upstream_unavailable", message),
    }
}

/// A `tools/list` answer cut down to the tools the caller may use.
struct ToolFilter {
    catalog: Catalog,
    principal: Principal,
    /// The id of the request it answers (other messages on the stream pass untouched).
    id: Value,
}

impl Rewrite for ToolFilter {
    fn rewrite(&mut self, message: &mut Value) -> bool {
        if message.get("id") != Some(&self.id) {
            return false;
        }
        let Some(tools) = message
            .pointer_mut("/result/tools")
            .and_then(Value::as_array_mut)
        else {
            return false;
        };
        let before = tools.len();
        tools.retain(|tool| {
            tool.get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| self.catalog.offers(&self.principal, name))
        });
        tools.len() != before
    }
}

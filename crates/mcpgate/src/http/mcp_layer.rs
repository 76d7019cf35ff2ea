//! The MCP exchange: one middleware around the MCP endpoint (one function rather than a stack of
//! layers, for the same reason as the edge). In order:
//!
//! 1. the gate — the caller's principal goes into the request, or a 401/403 with a challenge,
//!    or a 429 over the caller's rate (allowed answers carry the `RateLimit-*` fields too);
//! 2. for a POST, the body is buffered (bounded by the body limit) and checked as JSON-RPC
//!    (see `jsonrpc`: -32700, -32600 or -32602 with HTTP 400 instead of rmcp's plain-text 415);
//!    an `initialize` reserves a place under the session caps first (503 past them);
//!    a plain modern `tools/call`, `resources/read` or `prompts/get` is served here, in the
//!    request's own task (`modern_calls`);
//! 3. the request runs as its caller (`sessions`), so a session answers only who created it; a
//!    DELETE of a session that is not the caller's is answered 404 here, before rmcp (graceful
//!    drain counts the request in flight at the edge, until its answer is sent);
//! 4. rmcp's plain-text refusals are answered as JSON; on a session a 404 or 500 (unknown,
//!    another caller's, or ended as the request arrived) is one JSON 404, so clients start a new
//!    session; a successful session DELETE is answered 204 (rmcp answers 202 Accepted, but the
//!    session is already gone when it returns, and clients and proxies expect 200/204).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::edge_layer::{body_for_gate, client_certificate, peer_ip, read_body, request_facts};
use super::jsonrpc;
use super::modern_calls::ModernCalls;
use super::sessions::{SessionCaller, SessionOwner, Sessions, SessionsFull};
use crate::edge::{Admission, Gate, Principal, Refusal, reject};
use crate::mcp::RequestSpan;

/// The session header.
const SESSION_ID: &str = "mcp-session-id";

/// What the MCP exchange needs.
#[derive(Clone)]
pub struct McpState {
    /// Authentication, required scopes and rate limits.
    pub gate: Gate,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Legacy sessions and their owners.
    pub sessions: Arc<Sessions>,
    /// `Retry-After` for an `initialize` past a session cap.
    pub session_retry_after: Duration,
    /// Plain modern tool calls, resource reads and prompts, served without rmcp's per-request
    /// service (`None` when JSON answers are switched off).
    pub calls: Option<Arc<ModernCalls>>,
}

/// The MCP exchange middleware (see the module documentation for its steps).
pub async fn mcp_exchange(
    State(mcp): State<McpState>,
    mut request: Request,
    next: Next,
) -> Response {
    let admission = match admit(&mcp.gate, &mut request, mcp.max_body_bytes).await {
        Ok(admission) => admission,
        Err(refusal) => return refusal,
    };
    let mut response = exchange(&mcp, &admission.principal, request, next).await;
    if let Some(decision) = admission.decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

/// The gate's step for any MCP request: the caller's principal goes into the request, or the
/// refusal to answer with.
pub(super) async fn admit(
    gate: &Gate,
    request: &mut Request,
    max_body_bytes: usize,
) -> Result<Admission, Response> {
    let body = body_for_gate(gate, request, max_body_bytes).await?;
    let admission = gate
        .admit(
            request.headers(),
            body.as_deref().map(|body| request_facts(request, body)),
            client_certificate(request),
            peer_ip(request),
            "mcp",
            // Ending a session frees state: a client over its rate may still say goodbye.
            request.method() != Method::DELETE,
        )
        .await
        .map_err(|refusal| refused(gate, &refusal))?;
    request.extensions_mut().insert(admission.principal.clone());
    if let Some(token) = &admission.token {
        request.extensions_mut().insert(token.clone());
    }
    Ok(admission)
}

/// A gate refusal as a JSON answer with the refusal's status and headers.
fn refused(gate: &Gate, refusal: &Refusal) -> Response {
    let mut response = reject(refusal.status(), refusal.code(), refusal.message());
    refusal.write_headers(gate.challenges(), response.headers_mut());
    response
}

/// The exchange proper, for an admitted request, run as its caller (see `sessions`).
async fn exchange(mcp: &McpState, principal: &Principal, request: Request, next: Next) -> Response {
    let owner = SessionOwner::from(principal);
    let session = session_id(&request);
    let method = request.method().clone();
    // A shared session held elsewhere is made here first: past a cap that is a 503, as for a
    // new session (not an unknown session, which would send the client to start over).
    if method != Method::DELETE
        && let Some(full) = session
            .as_deref()
            .and_then(|id| mcp.sessions.restore_refused(id, &owner))
    {
        return sessions_full(full, mcp.session_retry_after);
    }
    let (request, reservation, post) = match method {
        Method::POST => {
            let (mut parts, body) = request.into_parts();
            let bytes = match read_body(body, mcp.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(refusal) => return refusal,
            };
            // A modern tool call, resource read or prompt outside a session may be served
            // here: its params are read once, by `modern_calls`, and checked as usual only
            // when it goes on to rmcp.
            let calls = mcp.calls.as_deref().filter(|_| session.is_none());
            let checked = match calls {
                Some(_) => jsonrpc::check_but_served(&bytes, ModernCalls::METHODS),
                None => jsonrpc::check(&bytes),
            };
            let checked = match checked {
                Ok(checked) => checked,
                Err(refused) => return refused.into_response(),
            };
            if let Some(calls) = calls
                && checked.unread
            {
                if let Some(call) = calls.take(&parts.headers, &bytes) {
                    return calls.serve(call, parts).await;
                }
                if let Err(refused) = jsonrpc::check(&bytes) {
                    return refused.into_response();
                }
            }
            // An `initialize` outside a session makes one: hold its place first.
            let reservation = match (checked.initialize, &session) {
                (true, None) => match mcp.sessions.reserve(owner.clone()) {
                    Ok(reservation) => Some(reservation),
                    Err(full) => return sessions_full(full, mcp.session_retry_after),
                },
                _ => None,
            };
            let post = Post {
                json: jsonrpc::declares_json(&parts.headers),
                bytes: bytes.clone(),
            };
            if session.is_some() {
                // The session's service runs this request in a task of its own: the request's
                // span goes along, so what is logged there carries the request id.
                parts
                    .extensions
                    .insert(RequestSpan(tracing::Span::current()));
            }
            let request = Request::from_parts(parts, axum::body::Body::from(bytes));
            (request, reservation, Some(post))
        }
        // rmcp ends any session it is named, without asking whose it is.
        Method::DELETE => match session.as_deref() {
            Some(id) if !mcp.sessions.may_end(id, &owner).await => {
                return session_not_found(None);
            }
            _ => (request, None, None),
        },
        _ => (request, None, None),
    };
    let mut response = SessionCaller::new(owner, reservation)
        .scope(next.run(request))
        .await;
    if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = axum::body::Body::empty();
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    answer_as_json(response, session.as_deref(), post.as_ref())
}

/// The request's `Mcp-Session-Id`, if it has one (the edge refused a repeated one).
pub(super) fn session_id(request: &Request) -> Option<String> {
    request
        .headers()
        .get(SESSION_ID)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// rmcp's plain-text error answers as JSON. On a request naming a session, a 404 or a 500
/// means the session is unknown, another caller's, or ended while the request arrived (its
/// worker is gone): all are answered as an unknown session, so the client starts a new one.
/// A 415 for a body that passed our checks is diagnosed ([`jsonrpc::diagnose`]).
fn answer_as_json(response: Response, session: Option<&str>, post: Option<&Post>) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let id = || post.map_or(Value::Null, |p| jsonrpc::request_id(&p.bytes));
    match (status, session, post) {
        (StatusCode::NOT_FOUND | StatusCode::INTERNAL_SERVER_ERROR, Some(_), _) => {
            if status.is_server_error() {
                tracing::info!("a request arrived for a session that was ending; answered 404");
            }
            session_not_found(post.map(|_| id()))
        }
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, _, Some(post)) if post.json => {
            jsonrpc::diagnose(&post.bytes)
        }
        (status, _, Some(_)) if status.is_server_error() => jsonrpc::internal_error(status, id()),
        (status, _, Some(_)) => {
            jsonrpc::error(status, id(), jsonrpc::INVALID_REQUEST, reason(status))
        }
        (status, _, None) => reject(status, "refused", reason(status)),
    }
}

/// A POST's body, kept for diagnosing rmcp's refusals.
struct Post {
    bytes: axum::body::Bytes,
    /// Whether the request declared a JSON body (rmcp's 415 then means it could not read it).
    json: bool,
}

/// A short reason for an rmcp refusal's status.
fn reason(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_ACCEPTABLE => {
            "the client must accept both application/json and text/event-stream".to_owned()
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Content-Type must be application/json".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on the MCP endpoint".to_owned(),
        StatusCode::BAD_REQUEST => "bad request: a session id is required".to_owned(),
        status => status.canonical_reason().unwrap_or("refused").to_owned(),
    }
}

/// 404 for a session that does not exist for this caller: a JSON-RPC error carrying the
/// request id for a POST (`Some(id)`), a plain refusal otherwise.
pub(super) fn session_not_found(id: Option<Value>) -> Response {
    const MESSAGE: &str = "Session not found: start a new session with initialize";
    match id {
        Some(id) => jsonrpc::error(
            StatusCode::NOT_FOUND,
            id,
            SESSION_NOT_FOUND,
            MESSAGE.to_owned(),
        ),
        None => reject(StatusCode::NOT_FOUND, "session_not_found", MESSAGE),
    }
}

/// The JSON-RPC code MCP servers use for an unknown session.
const SESSION_NOT_FOUND: i64 = -32001;

/// 503 for an `initialize` past a session cap.
pub(super) fn sessions_full(full: SessionsFull, retry_after: Duration) -> Response {
    let message = match full {
        SessionsFull::Server => "the server holds as many sessions as it may; retry later",
        SessionsFull::Principal => {
            "this caller holds as many sessions as one caller may; end one (DELETE) or retry later"
        }
    };
    tracing::warn!(cap = ?full, "session cap reached: initialize refused");
    let mut response = reject(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_sessions",
        message,
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

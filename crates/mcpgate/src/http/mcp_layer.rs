//! The MCP exchange: one middleware around the MCP endpoint (one function rather than a stack of
//! layers, for the same reason as the edge). In order:
//!
//! 1. the gate — the caller's principal goes into the request, or a 401/403 with a challenge,
//!    or a 429 over the caller's rate (allowed answers carry the `RateLimit-*` fields too);
//! 2. for a POST, the body is buffered (bounded by the body limit) and its JSON-RPC envelope is
//!    checked: -32700 for a body that is not JSON, -32600 for JSON that is not a JSON-RPC
//!    message, instead of rmcp's plain-text 415;
//! 3. a POST counts as in flight until its response body has been sent, so graceful drain
//!    waits for answers to be delivered, not just computed (GET streams are open-ended and are
//!    closed by the drain itself); the edge's load-shedding permit is held the same way;
//! 4. a successful session DELETE is answered 204: rmcp answers 202 Accepted, but the session
//!    is already gone when it returns, and clients and proxies expect 200/204.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::task::TaskTracker;

use super::edge_layer::{hold_while_streaming, peer_ip, read_body};
use crate::edge::{Gate, Refusal, reject};

/// What the MCP exchange needs.
#[derive(Clone)]
pub struct McpState {
    /// Authentication, required scopes and rate limits.
    pub gate: Gate,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Counts in-flight MCP requests for graceful drain.
    pub tracker: TaskTracker,
}

/// The MCP exchange middleware (see the module documentation for its steps).
pub async fn mcp_exchange(
    State(mcp): State<McpState>,
    mut request: Request,
    next: Next,
) -> Response {
    let admission = match mcp
        .gate
        .admit(
            request.headers(),
            peer_ip(&request),
            "mcp",
            // Ending a session frees state: a client over its rate may still say goodbye.
            request.method() != Method::DELETE,
        )
        .await
    {
        Ok(admission) => admission,
        Err(refusal) => return refused(&mcp.gate, &refusal),
    };
    request.extensions_mut().insert(admission.principal);
    let mut response = exchange(&mcp, request, next).await;
    if let Some(decision) = admission.decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

/// A gate refusal as a JSON answer with the refusal's status and headers.
fn refused(gate: &Gate, refusal: &Refusal) -> Response {
    let mut response = reject(refusal.status(), refusal.code(), refusal.message());
    refusal.write_headers(gate.challenges(), response.headers_mut());
    response
}

/// The exchange proper, for an admitted request.
async fn exchange(mcp: &McpState, request: Request, next: Next) -> Response {
    match *request.method() {
        Method::POST => {
            let request = match checked_body(request, mcp.max_body_bytes).await {
                Ok(request) => request,
                Err(refusal) => return refusal,
            };
            let token = mcp.tracker.token();
            hold_while_streaming(next.run(request).await, token)
        }
        Method::DELETE => {
            let mut response = next.run(request).await;
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
                *response.body_mut() = axum::body::Body::empty();
                response.headers_mut().remove(header::CONTENT_LENGTH);
            }
            response
        }
        _ => next.run(request).await,
    }
}

/// Buffer a POST body and check its JSON-RPC envelope; the body is handed on unchanged.
async fn checked_body(request: Request, limit: usize) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let bytes = read_body(body, limit).await?;
    // Only the envelope is read, borrowed from the body (nothing of `params` is kept): rmcp
    // parses the whole message itself next.
    let envelope: Envelope<'_> = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) if e.is_data() => {
            let message = format!("Invalid Request: {e}");
            return Err(jsonrpc_refusal(serde_json::Value::Null, -32600, message));
        }
        Err(e) => {
            let message = format!("Parse error: {e}");
            return Err(jsonrpc_refusal(serde_json::Value::Null, -32700, message));
        }
    };
    if let Err(problem) = envelope.check() {
        let id = envelope
            .id
            .and_then(|id| serde_json::from_str(id.get()).ok())
            .unwrap_or_default();
        let message = format!("Invalid Request: {problem}");
        return Err(jsonrpc_refusal(id, -32600, message));
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// A 400 with a JSON-RPC error body.
fn jsonrpc_refusal(id: serde_json::Value, code: i64, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// The envelope of one JSON-RPC 2.0 message, borrowed from the body.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    method: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

impl Envelope<'_> {
    /// Whether this is one JSON-RPC 2.0 request, notification or response.
    fn check(&self) -> Result<(), &'static str> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err("\"jsonrpc\" must be \"2.0\"");
        }
        let id_ok = |id: &serde_json::value::RawValue| {
            let text = id.get();
            text.starts_with('"') || text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()
        };
        match (self.method, self.id) {
            (Some(m), _) if !m.get().starts_with('"') => Err("\"method\" must be a string"),
            (Some(_), None) => Ok(()),
            (Some(_), Some(id)) if id_ok(id) => Ok(()),
            (Some(_), Some(_)) => Err("\"id\" must be a string or an integer"),
            (None, Some(_)) if self.result.is_some() || self.error.is_some() => Ok(()),
            (None, _) => Err("a request needs a \"method\""),
        }
    }
}

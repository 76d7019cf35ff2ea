//! Small middleware of our own: HTTP metrics, request-body limits with JSON 413 answers, and
//! the request span that carries the request id into every log line.

use std::time::Instant;

use tokio_util::task::TaskTracker;
use tracing::Instrument;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::edge::reject;
use crate::telemetry::Metrics;

/// What the metrics middleware needs: the registry and the MCP path (to name routes).
#[derive(Clone)]
pub struct MetricsState {
    /// Registry.
    pub metrics: Metrics,
    /// The MCP endpoint's path.
    pub mcp_path: std::sync::Arc<str>,
}

/// A low-cardinality route label: the known routes, everything else `other`.
fn route_label(path: &str, mcp_path: &str) -> &'static str {
    match path {
        p if p == mcp_path => "mcp",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

/// Count every response, including the edge's own refusals, by route, method and status.
pub async fn record_http(
    State(state): State<MetricsState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route_label(request.uri().path(), &state.mcp_path);
    let method = request.method().clone();
    // The request span carries the request id, so every log line of the request has it.
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Only the id: every field is formatted when the span opens, on every request.
    let span = tracing::info_span!("http", request_id = %request_id);
    state.metrics.http_in_flight().inc();
    let response = next.run(request).instrument(span.clone()).await;
    state.metrics.http_in_flight().dec();
    let status = response.status();
    let elapsed = started.elapsed();
    state
        .metrics
        .http_request(route, &method, status.as_u16(), elapsed);
    if status.is_server_error() {
        span.in_scope(|| {
            tracing::warn!(
                %method,
                route,
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request failed"
            )
        });
    } else {
        span.in_scope(|| {
            tracing::debug!(
                %method,
                route,
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request answered"
            )
        });
    }
    response
}

/// Refuse bodies whose declared length is over the limit before reading them, and give any 413
/// (also from limits enforced while streaming) a JSON body that states the limit.
pub async fn limit_body(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(limit);
    }
    response
}

fn too_large(limit: usize) -> Response {
    let mut response = reject(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    );
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// A JSON-RPC error response without a usable request id.
fn jsonrpc_refusal(
    status: StatusCode,
    id: serde_json::Value,
    code: i64,
    message: String,
) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    });
    (status, axum::Json(body)).into_response()
}

/// Answer a POST body that is not JSON with a JSON-RPC parse error (-32700), and one that is
/// JSON but not a JSON-RPC message with invalid request (-32600), instead of rmcp's plain-text
/// 415. The body is buffered (it is bounded by the body limit) and handed on unchanged.
pub async fn check_jsonrpc_body(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit);
    };
    // Only the envelope is read, borrowed from the body (nothing of `params` is kept): rmcp
    // parses the whole message itself next.
    let envelope: Envelope<'_> = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) if e.is_data() => {
            let message = format!("Invalid Request: {e}");
            return jsonrpc_refusal(
                StatusCode::BAD_REQUEST,
                serde_json::Value::Null,
                -32600,
                message,
            );
        }
        Err(e) => {
            let message = format!("Parse error: {e}");
            return jsonrpc_refusal(
                StatusCode::BAD_REQUEST,
                serde_json::Value::Null,
                -32700,
                message,
            );
        }
    };
    if let Err(problem) = envelope.check() {
        let id = envelope
            .id
            .and_then(|id| serde_json::from_str(id.get()).ok())
            .unwrap_or_default();
        let message = format!("Invalid Request: {problem}");
        return jsonrpc_refusal(StatusCode::BAD_REQUEST, id, -32600, message);
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
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

/// Bookkeeping around each MCP exchange:
/// - a POST counts as in flight until its response body has been sent, so graceful drain waits
///   for answers to be delivered, not just computed (GET streams are open-ended and are closed
///   by the drain itself);
/// - a successful session DELETE is answered 204 No Content: rmcp answers 202 Accepted, but the
///   session is already gone when it returns, and clients and proxies expect 200/204.
pub async fn mcp_exchange(
    State(tracker): State<TaskTracker>,
    request: Request,
    next: Next,
) -> Response {
    match *request.method() {
        axum::http::Method::POST => {
            let token = tracker.token();
            let response = next.run(request).await;
            // A body of known size (a JSON answer) is complete already; only a stream (SSE)
            // is still being produced, and wrapping a complete body would make it chunked.
            if http_body::Body::size_hint(response.body())
                .exact()
                .is_some()
            {
                return response;
            }
            response.map(|inner| {
                axum::body::Body::new(TrackedBody {
                    inner,
                    _token: token,
                })
            })
        }
        axum::http::Method::DELETE => {
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

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether a caller-supplied request id is safe to carry into logs and responses: 1-128 of
/// `[A-Za-z0-9._:-]` (UUIDs, trace ids, ULIDs and the like).
fn acceptable_request_id(value: &axum::http::HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Keep the caller's `X-Request-Id` when it is acceptable; otherwise (absent, too long, odd
/// characters) replace it with a new UUID, so logs never carry caller-chosen junk.
pub async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let keep = request
        .headers()
        .get(REQUEST_ID)
        .is_some_and(acceptable_request_id);
    if !keep {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
            request.headers_mut().insert(REQUEST_ID, value);
        }
    }
    next.run(request).await
}

/// A response body that holds a drain-tracker token until it is dropped (fully sent, or the
/// client went away). Frames pass through untouched.
struct TrackedBody {
    inner: axum::body::Body,
    _token: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::acceptable_request_id;

    #[test]
    fn request_ids_are_short_plain_tokens() {
        for ok in [
            "abc-123",
            "0af7651916cd43dd8448eb211c80319c",
            "01HZX:span.1_a",
        ] {
            assert!(acceptable_request_id(&HeaderValue::from_static(ok)), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in ["", "has space", "quote\"", "new\\nline", long.as_str()] {
            let value = HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static("has space"));
            assert!(!acceptable_request_id(&value), "{bad}");
        }
    }
}

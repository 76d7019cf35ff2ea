//! Small middleware of our own: HTTP metrics, request-body limits with JSON 413 answers, and
//! the request span that carries the request id into every log line.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

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
fn route_label<'a>(path: &str, mcp_path: &'a str) -> &'a str {
    match path {
        p if p == mcp_path => mcp_path,
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
    let route = route_label(request.uri().path(), &state.mcp_path).to_owned();
    let method = request.method().as_str().to_owned();
    state.metrics.http_in_flight().inc();
    let response = next.run(request).await;
    state.metrics.http_in_flight().dec();
    state.metrics.http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
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

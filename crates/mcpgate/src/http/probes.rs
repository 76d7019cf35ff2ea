//! `/healthz` (the process is alive), `/readyz` (ready to serve: store reachable, migrations
//! applied, required upstreams ready, not draining) and `/metrics` (Prometheus text).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Alive: answers as long as the process serves HTTP.
pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Ready: accepting work, store reachable, migrations applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let accepting = state.lifecycle.is_ready();
    let store = match state.store.is_migrated().await {
        Ok(true) => "ok",
        Ok(false) => "migrations pending",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            "unreachable"
        }
    };
    // Only required upstreams hold readiness; the others are reported.
    let upstreams = state.upstreams.statuses().await;
    let upstreams_ready = upstreams
        .iter()
        .all(|u| !u.required || matches!(u.state.as_str(), "ready" | "degraded"));
    let ready = accepting && store == "ok" && upstreams_ready;
    let mut body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "accepting": accepting,
        "store": store,
    });
    if !upstreams.is_empty() {
        body["upstreams"] = upstreams
            .iter()
            .map(|u| (u.name.clone(), serde_json::Value::from(u.state.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

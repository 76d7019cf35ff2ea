//! The admin listener: `/metrics`, `/healthz`, `/readyz`, the status page and `POST /reload`, on
//! an address of its own (`MCPGATE_ADMIN_LISTEN`, loopback by default), so metrics and
//! operations stay off the public listener.
//!
//! Its guards, in order:
//! - a loopback admin listener answers only requests whose `Host` is a loopback name, so a web
//!   page that rebinds its DNS name to 127.0.0.1 cannot read it (a repeated `Host` or `Origin`
//!   is refused, as on the public listener);
//! - a request with an `Origin` (a browser's cross-site `fetch` or form) is answered only when
//!   it is the listener's own origin;
//! - with `MCPGATE_METRICS_TOKEN`, everything but the probes needs the token, as a bearer
//!   token (Prometheus' `authorization`) or as the password of HTTP Basic (a browser's prompt).

mod status;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::probes::{healthz, metrics, readyz};
use crate::config::Secret;
use crate::edge::{OriginRefusal, reject, repeated};
use crate::state::{AppState, ReloadError};

/// The admin router over the app's handles.
pub fn admin_router(state: &AppState) -> Router {
    let token = AdminToken(state.config.admin.metrics_token.clone());
    let loopback_only = state
        .config
        .admin
        .listen
        .is_some_and(|addr| addr.ip().is_loopback());
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status::page))
        .route("/reload", post(reload))
        .route("/", get(|| async { Redirect::to("/status") }))
        .route_layer(from_fn_with_state(token, require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .with_state(state.clone())
        .layer(from_fn_with_state(loopback_only, same_host_and_origin))
        .layer(from_fn(admin_headers))
}

/// `POST /reload`: read the configuration again and apply it (see `state::reload`).
async fn reload(State(state): State<AppState>) -> Response {
    match state.reload().await {
        Ok(report) => axum::Json(serde_json::json!({
            "status": "reloaded",
            "applied": report.applied,
            "needs_restart": report.needs_restart,
        }))
        .into_response(),
        Err(ReloadError::NoSource) => reject(
            StatusCode::CONFLICT,
            "no_configuration_source",
            ReloadError::NoSource.to_string(),
        ),
        Err(e) => reject(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload_refused",
            format!("{e}; the configuration in force stays"),
        ),
    }
}

/// The token `/metrics` needs (on either listener), when one is configured.
#[derive(Clone)]
pub struct AdminToken(pub Option<Secret>);

impl AdminToken {
    /// Whether `request` carries the token (or none is needed).
    fn admits(&self, request: &Request) -> bool {
        let Some(Secret(token)) = &self.0 else {
            return true;
        };
        let Some(value) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let presented = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim().to_owned(),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim())
                else {
                    return false;
                };
                let decoded = String::from_utf8_lossy(&decoded).into_owned();
                // Any user name; the token is the password.
                match decoded.split_once(':') {
                    Some((_, password)) => password.to_owned(),
                    None => return false,
                }
            }
            _ => return false,
        };
        bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// Refuse a request without the admin token (401 with both challenges).
pub async fn require_token(
    State(token): State<AdminToken>,
    request: Request,
    next: Next,
) -> Response {
    if token.admits(&request) {
        return next.run(request).await;
    }
    let mut response = reject(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this endpoint needs the metrics token (MCPGATE_METRICS_TOKEN) as a bearer token",
    );
    let headers = response.headers_mut();
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"mcpgate admin\", charset=\"UTF-8\""),
    );
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"mcpgate admin\""),
    );
    response
}

/// DNS rebinding and cross-site requests (see the module documentation).
async fn same_host_and_origin(
    State(loopback_only): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    // Two `Host`s (or `Origin`s) could pass the check with one and be read with the other.
    if repeated(headers, header::HOST) {
        return OriginRefusal::RepeatedHost.into_response();
    }
    if repeated(headers, header::ORIGIN) {
        return OriginRefusal::RepeatedOrigin.into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if loopback_only && !is_loopback_host(host) {
        return reject(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "the admin listener answers loopback host names only",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = [format!("http://{host}"), format!("https://{host}")];
        if !own.iter().any(|o| origin.as_bytes() == o.as_bytes()) {
            return reject(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                "the admin listener does not answer other origins' pages",
            );
        }
    }
    next.run(request).await
}

/// Whether a `Host` value names this machine's loopback (`localhost`, 127.0.0.0/8, `[::1]`).
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Every admin answer: a request id (as on the public listener), not cached, not framed, not
/// sniffed, no referrer.
async fn admin_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert(super::REQUEST_ID, id);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    super::edge_layer::frame_and_sniff_headers(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_are_loopback_hosts() {
        for host in [
            "localhost",
            "localhost:9090",
            "127.0.0.1:9090",
            "127.1.2.3",
            "[::1]:9090",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:9090",
            "10.0.0.1:9090",
            "localhost.evil.example",
            "[::2]:9090",
            "127.0.0.1.evil.example",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}

//! The request edge: one middleware that every request passes first. It is one function rather
//! than a stack of small layers because each layer costs a boxed future and moves of the large
//! futures below it, on every request (measured in BENCHMARKS.md). The steps, in order:
//!
//! 0. with `auth.query_key`, a `?key=` token moves into `Authorization` and out of the URI,
//!    before anything could log it;
//! 1. request id — the caller's `X-Request-Id` if it is a short plain token, else a new UUID —
//!    before anything can log or refuse the request;
//! 2. a span carrying the id, so every log line of the request has it;
//! 3. Host and Origin checks (DNS rebinding, cross-site requests) before any work is done, and
//!    no MCP transport header repeated (one value per header that decides anything);
//! 4. bodies whose declared length is over the limit are refused before they are read;
//! 5. load shedding: past `http.max_concurrent_requests` requests in progress, new ones are
//!    answered 503 with `Retry-After` at once (probes and metrics are never shed); a request
//!    with a body is first admitted as a reader (`http.max_body_readers`) and needs a work
//!    permit only once its body has arrived, under the pace of `paced_body`;
//! 6. the request runs, bounded by `http.request_timeout` until its response starts (504
//!    past it); any 413 (also from limits enforced while streaming) gets a JSON body;
//! 7. every response, refusals included, is counted, logged, and carries the request id and the
//!    browser-safety headers (no MIME sniffing, no framing, no referrer, HSTS when configured;
//!    MCP and API answers not stored by caches unless the handler chose a cache policy).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::paced_body::{BodyPace, BodyRefusal, PacedBody, WorkSlot, refusal};
use crate::edge::{OriginPolicy, reject, single_mcp_headers, take_query_key};
use crate::telemetry::Metrics;

pub use crate::edge::REQUEST_ID;

/// The W3C trace context header (looked up by a ready-made name: most requests have none).
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// What the edge needs.
#[derive(Clone)]
pub struct EdgeState {
    /// Metrics registry.
    pub metrics: Metrics,
    /// The MCP endpoint's path (to name routes in metrics).
    pub mcp_path: Arc<str>,
    /// Host and Origin allowlists.
    pub policy: OriginPolicy,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Move a `?key=` token into `Authorization` before anything else sees the request.
    pub query_key: bool,
    /// Requests in progress; when none is left, new requests are shed.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// Requests still receiving their body; when none is left, new ones are shed.
    pub readers: Arc<tokio::sync::Semaphore>,
    /// How fast a body must arrive.
    pub pace: BodyPace,
    /// Longest time until a response starts.
    pub request_timeout: Duration,
    /// `Strict-Transport-Security`, when configured.
    pub hsts: Option<HeaderValue>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Requests in progress, from the moment they enter the edge (before their body is read)
    /// until their answer is sent: graceful drain waits for these.
    pub in_flight: tokio_util::task::TaskTracker,
}

/// The client's address as the edge resolved it (through trusted proxies), for per-IP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The edge middleware (see the module documentation for its steps).
pub async fn edge(State(edge): State<EdgeState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let in_flight = edge.in_flight.token();
    if edge.query_key {
        take_query_key(&mut request);
    }
    let request_id = assign_request_id(&mut request);
    if let Some(ip) = client_ip(&request, &edge.trusted_proxies) {
        request.extensions_mut().insert(ClientIp(ip));
    }
    let route = route_label(request.uri().path(), &edge.mcp_path);
    let method = request.method().clone();
    // Only the id: span fields are formatted when the span opens, on every request.
    let span = tracing::info_span!(
        "http",
        request_id = %request_id.to_str().unwrap_or_default()
    );
    // A caller's W3C trace context makes this request part of its trace (exported spans only).
    let headers = request.headers();
    if headers.contains_key(&TRACEPARENT) {
        crate::telemetry::continue_trace(&span, &|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    }
    edge.metrics.http_in_flight().inc();
    let mut response = match refuse_head(&edge, &request) {
        Some(refusal) => refusal,
        None if declared_length(&request).is_some_and(|n| n > edge.max_body_bytes as u64) => {
            too_large(edge.max_body_bytes)
        }
        None => match admit_load(&edge, route, &mut request) {
            None => shed(route),
            Some(admitted) => {
                let run = next.run(request).instrument(span.clone());
                match tokio::time::timeout(edge.request_timeout, run).await {
                    Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        too_large(edge.max_body_bytes)
                    }
                    // A POST answered with a stream (a legacy session's SSE answer) is still
                    // working: it holds its permit until the answer is sent.
                    Ok(response) if method == Method::POST => {
                        hold_while_streaming(response, (admitted.into_permit(), in_flight))
                    }
                    Ok(response) => response,
                    Err(_) => timed_out(edge.request_timeout),
                }
            }
        },
    };
    edge.metrics.http_in_flight().dec();
    let status = response.status();
    let elapsed = started.elapsed();
    edge.metrics
        .http_request(route, &method, status.as_u16(), elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1e3;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(%method, route, status = status.as_u16(), elapsed_ms, "request failed");
        } else {
            tracing::debug!(%method, route, status = status.as_u16(), elapsed_ms, "request answered");
        }
    });
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, request_id);
    security_headers(headers, route);
    if let Some(hsts) = &edge.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    response
}

/// Step 3: the refusal of a request whose Host or Origin is not allowed or that repeats an MCP
/// transport header, if it is one.
fn refuse_head(edge: &EdgeState, request: &Request) -> Option<Response> {
    if let Err(refusal) = edge.policy.check(request) {
        return Some(refusal.into_response());
    }
    single_mcp_headers(request.headers())
        .err()
        .map(IntoResponse::into_response)
}

/// What a request was admitted with: a work permit, or (a request with a body) the slot its
/// work permit arrives in once the body is read.
enum Admitted {
    Free,
    Working(tokio::sync::OwnedSemaphorePermit),
    Reading(WorkSlot),
}

impl Admitted {
    /// The work permit the request holds now, to keep until its answer is sent.
    fn into_permit(self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match self {
            Self::Free => None,
            Self::Working(permit) => Some(permit),
            Self::Reading(slot) => slot.lock().expect("work slot lock").take(),
        }
    }
}

/// Admit a request, or `None` when the server is full. Probes and metrics need no permit: an
/// overloaded server must still say so. A request with a body is admitted as a reader, its
/// body paced; it takes a work permit when the body is complete.
fn admit_load(edge: &EdgeState, route: &str, request: &mut Request) -> Option<Admitted> {
    if matches!(route, "/healthz" | "/readyz" | "/metrics") {
        return Some(Admitted::Free);
    }
    if http_body::Body::is_end_stream(request.body()) {
        return Arc::clone(&edge.permits)
            .try_acquire_owned()
            .ok()
            .map(Admitted::Working);
    }
    let reading = Arc::clone(&edge.readers).try_acquire_owned().ok()?;
    let slot = WorkSlot::default();
    let body = std::mem::take(request.body_mut());
    *request.body_mut() = axum::body::Body::new(PacedBody::new(
        body,
        edge.pace,
        reading,
        Arc::clone(&edge.permits),
        Arc::clone(&slot),
    ));
    Some(Admitted::Reading(slot))
}

/// 503 for a request shed because the server is handling as many as it may.
fn shed(route: &str) -> Response {
    tracing::warn!(route, "overloaded: request shed");
    let mut response = reject(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "the server is handling as many requests as it may; retry shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `response` with `guard` kept alive until its body has been sent (or the client went away),
/// when the body is a stream still being produced. A body of known size is complete already,
/// and wrapping it would make it chunked, so it is returned as it is (and `guard` dropped).
pub fn hold_while_streaming<G: Send + Unpin + 'static>(response: Response, guard: G) -> Response {
    if http_body::Body::size_hint(response.body())
        .exact()
        .is_some()
    {
        return response;
    }
    response.map(|inner| {
        axum::body::Body::new(Holding {
            inner,
            _guard: guard,
        })
    })
}

/// A response body that holds a guard (a drain-tracker token, a load-shedding permit) until it
/// is dropped. Frames pass through untouched.
struct Holding<G> {
    inner: axum::body::Body,
    _guard: G,
}

impl<G: Unpin> http_body::Body for Holding<G> {
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

/// 504 for a request whose response did not start within the request timeout.
fn timed_out(limit: Duration) -> Response {
    tracing::warn!(limit_s = limit.as_secs_f64(), "request timed out");
    reject(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        format!(
            "the request took longer than the limit of {} s",
            limit.as_secs_f64()
        ),
    )
}

/// The client's IP address as the edge resolved it, when the server recorded the peer.
pub fn peer_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip)
}

/// The connection's peer, or, when the peer is a trusted proxy, the client its
/// `X-Forwarded-For` names: the rightmost address that is not itself a trusted proxy (the
/// entries left of it could have been written by anyone).
fn client_ip(request: &Request, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for value in request.headers().get_all("x-forwarded-for").iter().rev() {
        let Ok(text) = value.to_str() else {
            return Some(client);
        };
        for entry in text.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                return Some(client);
            };
            client = ip.to_canonical();
            if !is_trusted(&client) {
                return Some(client);
            }
        }
    }
    Some(client)
}

/// Headers every response carries, so a browser never sniffs, frames or leaks a referrer from
/// this origin. MCP and REST answers hold callers' data: caches must not keep them. Every MCP
/// answer is `no-store`, event streams included (rmcp and axum mark those `no-cache`, which
/// lets a cache keep them); a REST answer is unless its handler set its own policy (records use
/// `private, no-cache` with ETags).
fn security_headers(headers: &mut axum::http::HeaderMap, route: &str) {
    frame_and_sniff_headers(headers);
    if matches!(route, "mcp" | "/sse")
        || (route == "/api/v1" && !headers.contains_key(header::CACHE_CONTROL))
    {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Not sniffed, not framed, no referrer: every answer of either listener.
pub(super) fn frame_and_sniff_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Keep the caller's `X-Request-Id` when it is acceptable; otherwise (absent, too long, odd
/// characters) replace it with a new UUID, so logs never carry caller-chosen junk.
fn assign_request_id(request: &mut Request) -> HeaderValue {
    if let Some(id) = request
        .headers()
        .get(REQUEST_ID)
        .filter(|v| acceptable_request_id(v))
    {
        return id.clone();
    }
    let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// Whether a caller-supplied request id is safe to carry into logs and responses: 1-128 of
/// `[A-Za-z0-9._:-]` (UUIDs, trace ids, ULIDs and the like).
fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A low-cardinality route label: the known routes, everything else `other`.
fn route_label(path: &str, mcp_path: &str) -> &'static str {
    match path {
        p if p == mcp_path => "mcp",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/sse" | "/messages" => "/sse",
        "/openapi.json" => "/openapi.json",
        p if p.starts_with("/api/v1/") => "/api/v1",
        p if p == "/docs" || p.starts_with("/docs/") => "/docs",
        p if p.starts_with("/.well-known/") => "/.well-known",
        _ => "other",
    }
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Read a request body of at most `limit` bytes: 413 over the limit, 408 when it arrives too
/// slowly (see `paced_body`), 503 when it is read but the server is full, 400 when the client
/// stopped sending it (so a dropped connection is not counted as an oversized body).
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if over {
            return too_large(limit);
        }
        match refusal(&e) {
            Some(BodyRefusal::Overloaded) => shed("body"),
            Some(slow) => {
                tracing::warn!(reason = %slow, "request body cut off");
                let mut response = reject(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    slow.to_string(),
                );
                // The rest of the body may still be on its way: the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }
            None => reject(
                StatusCode::BAD_REQUEST,
                "incomplete_body",
                "the request body could not be read to its end",
            ),
        }
    })
}

/// For a gate that checks the whole request (auth `signed`): the body read (bounded, with the
/// same refusals as [`read_body`]) and put back for what runs next; `None` when the gate needs
/// only the headers.
pub async fn body_for_gate(
    gate: &crate::edge::Gate,
    request: &mut Request,
    limit: usize,
) -> Result<Option<axum::body::Bytes>, Response> {
    if !gate.needs_request() {
        return Ok(None);
    }
    let body = std::mem::take(request.body_mut());
    let bytes = read_body(body, limit).await?;
    *request.body_mut() = axum::body::Body::from(bytes.clone());
    Ok(Some(bytes))
}

/// What a gate that checks the whole request needs of it, given its body.
pub fn request_facts<'a>(request: &'a Request, body: &'a [u8]) -> crate::edge::RequestFacts<'a> {
    crate::edge::RequestFacts {
        method: request.method().as_str(),
        // As the client sent it: a nested router sees its path without the prefix.
        target: request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or(request.uri(), |original| &original.0)
            .path_and_query()
            .map_or("/", |p| p.as_str()),
        body,
    }
}

/// The verified client certificate of the request's TLS connection, if it presented one.
pub fn client_certificate(request: &Request) -> Option<&crate::edge::ClientCertificate> {
    request
        .extensions()
        .get::<Arc<crate::edge::ClientCertificate>>()
        .map(AsRef::as_ref)
}

/// 413 with a JSON body that states the limit.
pub fn too_large(limit: usize) -> Response {
    let mut response = reject(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for bad in ["", "has space", "quote\"", long.as_str()] {
            let value = HeaderValue::from_str(bad).expect("visible ASCII");
            assert!(!acceptable_request_id(&value), "{bad}");
        }
    }

    #[test]
    fn forwarded_clients_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let request = |peer: &str, forwarded: &[&str]| {
            let mut builder = Request::builder().uri("/mcp");
            for value in forwarded {
                builder = builder.header("x-forwarded-for", *value);
            }
            let mut request = builder.body(axum::body::Body::empty()).expect("request");
            let peer: SocketAddr = peer.parse().expect("addr");
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        };
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        // Not from a proxy: the peer, whatever the header says.
        let direct = request("203.0.113.9:5000", &["198.51.100.1"]);
        assert_eq!(client_ip(&direct, &trusted), Some(ip("203.0.113.9")));
        // Through two trusted hops: the rightmost untrusted entry, not the spoofable leftmost.
        let proxied = request("10.0.0.2:5000", &["6.6.6.6, 198.51.100.7", "10.0.0.1"]);
        assert_eq!(client_ip(&proxied, &trusted), Some(ip("198.51.100.7")));
        // A proxy that sends nothing usable: the proxy itself.
        let bare = request("10.0.0.2:5000", &[]);
        assert_eq!(client_ip(&bare, &trusted), Some(ip("10.0.0.2")));
        let junk = request("10.0.0.2:5000", &["not-an-ip"]);
        assert_eq!(client_ip(&junk, &trusted), Some(ip("10.0.0.2")));
        // No trusted proxies configured: never the header.
        assert_eq!(client_ip(&proxied, &[]), Some(ip("10.0.0.2")));
    }

    #[test]
    fn routes_are_a_fixed_set() {
        assert_eq!(route_label("/rpc", "/rpc"), "mcp");
        assert_eq!(route_label("/readyz", "/mcp"), "/readyz");
        assert_eq!(route_label("/anything/else", "/mcp"), "other");
    }
}

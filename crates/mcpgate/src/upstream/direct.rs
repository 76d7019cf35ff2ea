//! Requests to a stateless (2026-07-28) HTTP upstream, sent straight over HTTP.
//!
//! A modern upstream keeps nothing between requests, so a forwarded call needs no client
//! session: one POST carries it, with the `_meta` keys and `Mcp-*` headers the era requires,
//! and its answer — JSON, or an SSE stream of the call's progress and log messages that ends
//! with the answer — is read in the caller's own task, so what the upstream said before the
//! answer reaches the caller before it. Going through rmcp's client service instead costs
//! several task hand-offs per call (peer channel → service loop → transport worker →
//! connection task, and back), which measured as most of the gateway's hop cost. rmcp's client
//! still opens the session (`server/discover`), lists, listens and pings; calls, reads and
//! prompts take this path. Dropping the request (a timeout, a caller who went away) closes
//! its stream, which is how the era cancels a request.
//!
//! The requests go out through hyper-util's pooled client rather than reqwest: reqwest's
//! per-request layers (a redirect policy that parses the URL again even when redirects are
//! off, `Url` to `Uri` conversions, header copies) measured as ~16,000 instructions of a
//! forwarded call's ~320,000 (BENCHMARKS.md). Redirects are never followed: a 3xx is an
//! answer without a JSON-RPC message, and the upstream's credential goes nowhere else.

#![allow(deprecated)] // Logging is deprecated in 2026-07-28 but still relayed to callers that ask.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CancelTaskParams, GetPromptRequestParams, GetTaskParams,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    ReadResourceRequestParams, RequestMetaObject, UpdateTaskParams,
};
use rmcp::service::ServiceError;
use rmcp::transport::DynamicTransportError;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::credential::Attempt;
use crate::mcp::CallContext;
use crate::telemetry::error_chain;

/// The largest single message (a JSON body, or one SSE event) read from an upstream.
const MAX_MESSAGE: usize = 16 << 20;

/// The era these requests speak.
const PROTOCOL: &str = "2026-07-28";

/// The direct path's HTTP client: pooled keep-alive connections (shared by an upstream's
/// sessions), small writes sent at once, no redirects followed.
pub(super) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for one upstream's direct path, over `tls` for an `https://` upstream.
pub(super) fn client(tls: Option<&super::UpstreamTls>) -> HttpClient {
    let connector = match tls {
        Some(tls) => super::tls::connector(tls, None),
        None => super::tls::connector(&super::tls::unused(), None),
    };
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .build(connector)
}

/// One modern HTTP upstream's direct path.
pub(super) struct Direct {
    http: HttpClient,
    url: http::Uri,
    /// `url` as configured (what a DPoP proof names).
    href: String,
    /// The operator's headers for this upstream and the era's fixed ones.
    headers: HeaderMap,
    /// What mcpgate presents as itself.
    credential: super::Credential,
    /// Signs each request for its caller (`sign_tenant_headers`).
    signer: Option<super::TenantSigner>,
    /// The gateway's `clientInfo`, serialised once.
    client_info: Value,
    next_id: AtomicU64,
}

/// A request's params: each carries its own `_meta` and names what it is about.
pub(super) trait Params: serde::Serialize {
    fn meta_mut(&mut self) -> &mut Option<RequestMetaObject>;
    /// The `Mcp-Name` value: the tool or prompt name, or the resource URI.
    fn subject(&self) -> &str;
}

impl Params for CallToolRequestParams {
    fn meta_mut(&mut self) -> &mut Option<RequestMetaObject> {
        &mut self.meta
    }
    fn subject(&self) -> &str {
        &self.name
    }
}

impl Params for ReadResourceRequestParams {
    fn meta_mut(&mut self) -> &mut Option<RequestMetaObject> {
        &mut self.meta
    }
    fn subject(&self) -> &str {
        &self.uri
    }
}

impl Params for GetPromptRequestParams {
    fn meta_mut(&mut self) -> &mut Option<RequestMetaObject> {
        &mut self.meta
    }
    fn subject(&self) -> &str {
        &self.name
    }
}

/// The task methods of the tasks extension: each is about one task, named by its id.
macro_rules! task_params {
    ($($params:ty),*) => {$(
        impl Params for $params {
            fn meta_mut(&mut self) -> &mut Option<RequestMetaObject> {
                &mut self.meta
            }
            fn subject(&self) -> &str {
                &self.task_id
            }
        }
    )*};
}

task_params!(GetTaskParams, UpdateTaskParams, CancelTaskParams);

/// What a request carries besides its params.
pub(super) struct Outgoing<'a> {
    /// The JSON-RPC method.
    pub method: &'static str,
    /// The gateway's request id (`X-Request-Id`).
    pub request_id: &'a str,
    /// The `_meta` relayed for the caller (its capabilities and log level).
    pub capabilities: &'a RequestMetaObject,
    /// `Mcp-Param-*` headers of a tool call.
    pub param_headers: Vec<(HeaderName, HeaderValue)>,
}

impl<'a> Outgoing<'a> {
    /// A request without `Mcp-Param-*` headers.
    pub fn new(
        method: &'static str,
        request_id: &'a str,
        capabilities: &'a RequestMetaObject,
    ) -> Self {
        Self {
            method,
            request_id,
            capabilities,
            param_headers: Vec::new(),
        }
    }
}

/// The envelope of a message from the upstream; its parts are parsed when needed.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<ErrorData>,
}

impl Direct {
    /// The direct path to `url`, with the upstream's HTTP client, the operator's `headers` and
    /// the upstream's `credential`.
    pub fn new(
        http: HttpClient,
        url: &str,
        headers: &std::collections::BTreeMap<String, String>,
        credential: super::Credential,
        signer: Option<super::TenantSigner>,
        info: &rmcp::model::ClientConfig,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let url: http::Uri = url
            .parse()
            .with_context(|| format!("upstream url {url:?}"))?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::try_from(name.as_str()).with_context(|| format!("header {name:?}"))?,
                HeaderValue::try_from(value.as_str())
                    .with_context(|| format!("the value of header {name}"))?,
            );
        }
        map.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        map.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        map.insert(
            HeaderName::from_static("mcp-protocol-version"),
            HeaderValue::from_static(PROTOCOL),
        );
        Ok(Self {
            http,
            href: url.to_string(),
            url,
            headers: map,
            credential,
            signer,
            client_info: serde_json::to_value(&info.client_info)?,
            next_id: AtomicU64::new(1),
        })
    }

    /// Whether a session with `url` that negotiated `version` can use the direct path: a
    /// 2026-07-28 upstream over HTTP or HTTPS.
    pub fn applies(url: &str, version: Option<&ProtocolVersion>) -> bool {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        scheme.is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
            && version.is_some_and(|v| *v == ProtocolVersion::V_2026_07_28)
    }

    /// Send `params` as `out.method` for the caller `cx`; the result, once the upstream
    /// answered. The caller's progress and log messages sent before the answer are relayed
    /// to it first (log messages only at the level it asked for).
    pub async fn request<P: Params>(
        &self,
        out: Outgoing<'_>,
        mut params: P,
        cx: &CallContext,
    ) -> Result<Box<RawValue>, ServiceError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let wants_progress = cx.request.meta.get_progress_token().is_some();
        self.stamp(
            params.meta_mut().get_or_insert_default(),
            &out,
            id,
            wants_progress,
        );
        let body = serde_json::to_vec(&Envelope {
            jsonrpc: "2.0",
            id,
            method: out.method,
            params: &params,
        })
        .map_err(|e| transport(format!("could not encode the request: {e}")))?;
        let mut headers = self.headers.clone();
        headers.insert(
            HeaderName::from_static("mcp-method"),
            HeaderValue::from_static(out.method),
        );
        if let Ok(value) = HeaderValue::try_from(encode_header_value(params.subject())) {
            headers.insert(HeaderName::from_static("mcp-name"), value);
        }
        if let Ok(value) = HeaderValue::try_from(out.request_id) {
            headers.insert(crate::edge::REQUEST_ID, value);
        }
        for (name, value) in out.param_headers {
            headers.insert(name, value);
        }
        let body = Bytes::from(body);
        let mut headers = Some(headers);
        let renews = self.credential.renews();
        let response = self
            .credential
            .send(
                caller_token(cx),
                ("POST", &self.href),
                |presented| {
                    // A copy only when the request may be sent again.
                    let headers = if renews {
                        headers.clone()
                    } else {
                        headers.take()
                    }
                    .unwrap_or_default();
                    let body = &body;
                    async move {
                        let response = self.send(body, headers, presented, cx).await?;
                        Ok(Attempt::answered(response))
                    }
                },
                |e| transport(format!("the upstream credential: {e:#}")),
            )
            .await?;
        let status = response.status();
        let event_stream = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if status.is_success() && event_stream {
            return self.read_stream(response.into_body(), id, cx).await;
        }
        let body = read_bounded(response).await?;
        match answer_of(&body, id) {
            Some(answer) => answer,
            None if status.is_success() => Err(transport(format!(
                "the upstream answered HTTP {status} without a JSON-RPC answer"
            ))),
            None => Err(transport(format!("the upstream answered HTTP {status}"))),
        }
    }

    /// POST `body` with `headers`, presenting the credential's `presented` and signed for the
    /// caller of `cx`.
    async fn send(
        &self,
        body: &Bytes,
        mut headers: HeaderMap,
        presented: Option<super::Presented>,
        cx: &CallContext,
    ) -> Result<http::Response<hyper::body::Incoming>, ServiceError> {
        if let Some(presented) = presented {
            presented.apply(&mut headers);
        }
        if let Some(signer) = &self.signer {
            let target = self.url.path_and_query().map_or("/", |p| p.as_str());
            let caller = (&*cx.principal.org, &*cx.principal.subject);
            let signed = signer
                .headers("POST", target, caller, body)
                .map_err(|e| transport(format!("cannot sign the request: {e:#}")))?;
            headers.extend(signed);
        }
        let mut request = http::Request::new(Full::new(body.clone()));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.url.clone();
        *request.headers_mut() = headers;
        self.http
            .request(request)
            .await
            .map_err(|e| transport(format!("request failed: {}", error_chain(&e))))
    }

    /// The era's `_meta` for request `id`: protocol version, client details, what is relayed
    /// for the caller (its capabilities and log level), and a progress token of the gateway's
    /// when the caller asked for progress.
    fn stamp(
        &self,
        meta: &mut RequestMetaObject,
        out: &Outgoing<'_>,
        id: u64,
        wants_progress: bool,
    ) {
        meta.insert(
            "io.modelcontextprotocol/protocolVersion".to_owned(),
            Value::String(PROTOCOL.to_owned()),
        );
        meta.insert(
            "io.modelcontextprotocol/clientInfo".to_owned(),
            self.client_info.clone(),
        );
        meta.extend(out.capabilities.clone());
        if wants_progress {
            meta.insert("progressToken".to_owned(), Value::from(id));
        }
    }

    /// Read an SSE answer: the call's progress and log messages go to the caller as they
    /// come, and the stream ends with the answer.
    async fn read_stream(
        &self,
        mut body: hyper::body::Incoming,
        id: u64,
        cx: &CallContext,
    ) -> Result<Box<RawValue>, ServiceError> {
        let mut events = SseReader::default();
        loop {
            while let Some(data) = events.next_event()? {
                if let Some(answer) = answer_of(&data, id) {
                    return answer;
                }
                relay(&data, id, cx).await;
            }
            match next_chunk(&mut body).await {
                Ok(Some(chunk)) => events.push(&chunk),
                Ok(None) => {
                    return Err(transport(
                        "the upstream ended its event stream without answering".to_owned(),
                    ));
                }
                Err(e) => {
                    return Err(transport(format!(
                        "the upstream's event stream broke: {}",
                        error_chain(&e)
                    )));
                }
            }
        }
    }
}

#[derive(serde::Serialize)]
struct Envelope<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: &'a P,
}

/// The answer to request `id` in `message`, if that is what it is: the result, or the
/// upstream's JSON-RPC error.
fn answer_of(message: &[u8], id: u64) -> Option<Result<Box<RawValue>, ServiceError>> {
    let incoming: Incoming<'_> = serde_json::from_slice(message).ok()?;
    if incoming.method.is_some() || incoming.id.is_none_or(|raw| raw.get() != id.to_string()) {
        return None;
    }
    match (incoming.result, incoming.error) {
        (Some(result), _) => Some(Ok(result)),
        (None, Some(error)) => Some(Err(ServiceError::McpError(error))),
        (None, None) => None,
    }
}

/// Pass a notification from the upstream on to the caller: progress of this request (under
/// the caller's own token), and log messages. Anything else is not the caller's.
async fn relay(message: &[u8], id: u64, cx: &CallContext) {
    let Ok(incoming) = serde_json::from_slice::<Incoming<'_>>(message) else {
        tracing::debug!("an upstream event that is not JSON-RPC was skipped");
        return;
    };
    let Some(params) = incoming.params else {
        return;
    };
    match incoming.method {
        Some("notifications/progress") => {
            if let Ok(p) = serde_json::from_str::<ProgressNotificationParam>(params.get())
                && p.progress_token.0 == rmcp::model::NumberOrString::Number(id as i64)
            {
                cx.progress(p.progress, p.total, p.message).await;
            }
        }
        Some("notifications/message") => {
            if let Ok(p) = serde_json::from_str::<LoggingMessageNotificationParam>(params.get()) {
                let logger = p.logger.as_deref().unwrap_or("upstream");
                cx.log(p.level, logger, p.data).await;
            }
        }
        _ => {}
    }
}

/// A response body, at most [`MAX_MESSAGE`] bytes of it.
async fn read_bounded(
    response: http::Response<hyper::body::Incoming>,
) -> Result<Bytes, ServiceError> {
    let too_large = || {
        transport(format!(
            "the upstream's answer is larger than {} MiB",
            MAX_MESSAGE >> 20
        ))
    };
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MESSAGE as u64) {
        return Err(too_large());
    }
    let mut body = response.into_body();
    let mut whole = BytesMut::new();
    while let Some(chunk) = next_chunk(&mut body)
        .await
        .map_err(|e| transport(format!("reading the answer failed: {}", error_chain(&e))))?
    {
        if whole.len() + chunk.len() > MAX_MESSAGE {
            return Err(too_large());
        }
        whole.extend_from_slice(&chunk);
    }
    Ok(whole.freeze())
}

/// The next piece of data of a response body (trailers are skipped); `None` at its end.
async fn next_chunk(body: &mut hyper::body::Incoming) -> Result<Option<Bytes>, hyper::Error> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// The `data` of server-sent events, one event at a time, from the bytes as they arrive.
/// Written here rather than taken from `sse-stream` because each event must be bounded: an
/// upstream that never ends an event must not make the gateway buffer without limit.
#[derive(Default)]
struct SseReader {
    buffer: BytesMut,
    /// Where to look for the next line end.
    scanned: usize,
    data: Vec<u8>,
    has_data: bool,
}

impl SseReader {
    fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete event's data, if one has arrived.
    fn next_event(&mut self) -> Result<Option<Vec<u8>>, ServiceError> {
        loop {
            let Some(end) = self.buffer[self.scanned..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|at| self.scanned + at)
            else {
                self.scanned = self.buffer.len();
                if self.buffer.len() + self.data.len() > MAX_MESSAGE {
                    return Err(transport(format!(
                        "an upstream event is larger than {} MiB",
                        MAX_MESSAGE >> 20
                    )));
                }
                return Ok(None);
            };
            let line = self.buffer.split_to(end + 1);
            self.scanned = 0;
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                if std::mem::take(&mut self.has_data) {
                    return Ok(Some(std::mem::take(&mut self.data)));
                }
                continue;
            }
            let (field, value) = match line.iter().position(|b| *b == b':') {
                Some(0) => continue, // a comment (keep-alive)
                Some(at) => {
                    let value = &line[at + 1..];
                    (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            if field == b"data" {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                if self.data.len() > MAX_MESSAGE {
                    return Err(transport(format!(
                        "an upstream event is larger than {} MiB",
                        MAX_MESSAGE >> 20
                    )));
                }
            }
        }
    }
}

/// A header value as the era sends it: as is when it can travel bare, otherwise
/// `=?base64?…?=` (leading or trailing blanks, control or non-ASCII characters, or a value that
/// already looks wrapped).
pub(super) fn encode_header_value(value: &str) -> String {
    use base64::Engine;
    let wrapped = value.starts_with("=?base64?") && value.ends_with("?=");
    let bare = !wrapped
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t'])
        && value.chars().all(|c| matches!(c as u32, 0x20..=0x7E));
    if bare {
        value.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// `Mcp-Param-*` headers for a call's `arguments`: one for each `x-mcp-header` property of the
/// upstream's schema (found along `properties` chains) whose argument is a primitive.
pub(super) fn param_headers(
    annotated: &[(Vec<String>, String)],
    arguments: Option<&serde_json::Map<String, Value>>,
) -> Vec<(HeaderName, HeaderValue)> {
    let Some(arguments) = arguments else {
        return Vec::new();
    };
    annotated
        .iter()
        .filter_map(|(path, header)| {
            let (first, rest) = path.split_first()?;
            let value = rest
                .iter()
                .try_fold(arguments.get(first)?, |v, key| v.get(key))?;
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let name = HeaderName::try_from(format!("mcp-param-{header}")).ok()?;
            let value = HeaderValue::try_from(encode_header_value(&text)).ok()?;
            Some((name, value))
        })
        .collect()
}

/// The `x-mcp-header` annotations of a tool's input schema, as (property path, header name).
pub fn annotated_headers(schema: &serde_json::Map<String, Value>) -> Vec<(Vec<String>, String)> {
    fn walk(
        properties: Option<&Value>,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, String)>,
    ) {
        let Some(Value::Object(properties)) = properties else {
            return;
        };
        for (name, schema) in properties {
            path.push(name.clone());
            if let Some(Value::String(header)) = schema.get("x-mcp-header")
                && !header.is_empty()
            {
                out.push((path.clone(), header.clone()));
            }
            walk(schema.get("properties"), path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(schema.get("properties"), &mut Vec::new(), &mut out);
    out
}

/// What kind of result an answer is (`resultType`; absent means complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Complete,
    InputRequired,
    Task,
}

/// The kind of the result `raw`.
fn kind(raw: &RawValue) -> Kind {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(rename = "resultType", borrow, default)]
        result_type: Option<std::borrow::Cow<'a, str>>,
    }
    match serde_json::from_str::<Peek<'_>>(raw.get())
        .ok()
        .and_then(|p| p.result_type)
        .as_deref()
    {
        Some("input_required") => Kind::InputRequired,
        Some("task") => Kind::Task,
        _ => Kind::Complete,
    }
}

/// A result that says which kind it is (`resultType`; absent means complete).
pub(super) trait Kinded: serde::de::DeserializeOwned {
    fn result_type(&self) -> Option<&rmcp::model::ResultType>;
}

macro_rules! kinded {
    ($($result:ty),*) => {$(
        impl Kinded for $result {
            fn result_type(&self) -> Option<&rmcp::model::ResultType> {
                self.result_type.as_ref()
            }
        }
    )*};
}

kinded!(
    rmcp::model::CallToolResult,
    rmcp::model::ReadResourceResult,
    rmcp::model::GetPromptResult
);

/// The result `raw` as a complete `T`, read in one parse, when that is what it is (most
/// answers are); otherwise its kind, to be read as that ([`decode`]). A complete result that
/// does not read as a `T` comes back as [`Kind::Complete`], for `decode` to report.
pub(super) fn complete<T: Kinded>(raw: &RawValue) -> Result<T, Kind> {
    match serde_json::from_str::<T>(raw.get()) {
        Ok(result)
            if result
                .result_type()
                .is_none_or(|t| *t == rmcp::model::ResultType::COMPLETE) =>
        {
            Ok(result)
        }
        _ => Err(kind(raw)),
    }
}

/// The result `raw` as a `T`; an answer that is not one is the upstream's failure.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    raw: &RawValue,
    what: &str,
) -> Result<T, ServiceError> {
    serde_json::from_str(raw.get()).map_err(|e| {
        ServiceError::McpError(ErrorData::internal_error(
            format!("the upstream's answer is not a valid {what}: {e}"),
            None,
        ))
    })
}

/// A failure on the way (nothing the upstream said), as rmcp's client would report it.
/// The token the caller of `cx` was verified by, if the edge kept one (auth `jwt`).
fn caller_token(cx: &CallContext) -> Option<&str> {
    cx.request
        .extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<crate::edge::CallerToken>()
        .map(|t| &*t.0)
}

fn transport(message: String) -> ServiceError {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct DirectError(String);
    ServiceError::TransportSend(DynamicTransportError::from_parts(
        "http",
        std::any::TypeId::of::<DirectError>(),
        Box::new(DirectError(message)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<String> {
        let mut reader = SseReader::default();
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk.as_bytes());
            while let Some(data) = reader.next_event().expect("event") {
                out.push(String::from_utf8(data).expect("utf-8"));
            }
        }
        out
    }

    #[test]
    fn events_are_read_across_chunk_boundaries_with_comments_ids_and_crlf() {
        assert_eq!(
            events(&[
                ": keep-alive\n\nid: 1\nda",
                "ta: {\"a\":1}\n",
                "\r\nevent: message\r\ndata:{\"b\":",
                "2}\r\n\r\n",
                "data: x\ndata: y\n\n"
            ]),
            vec!["{\"a\":1}", "{\"b\":2}", "x\ny"]
        );
    }

    #[test]
    fn an_event_that_never_ends_is_refused_at_the_bound() {
        let mut reader = SseReader::default();
        reader.push(b"data: ");
        let big = vec![b'x'; 1 << 20];
        let mut failed = false;
        for _ in 0..20 {
            reader.push(&big);
            if reader.next_event().is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "an event over the bound is an error");
    }

    #[test]
    fn only_the_answer_to_this_request_is_taken() {
        assert!(answer_of(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#, 7).is_some());
        assert!(answer_of(br#"{"jsonrpc":"2.0","id":8,"result":{}}"#, 7).is_none());
        assert!(answer_of(br#"{"jsonrpc":"2.0","id":"7","result":{}}"#, 7).is_none());
        assert!(
            answer_of(
                br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
                7
            )
            .is_none()
        );
        let error = answer_of(
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no"}}"#,
            7,
        );
        assert!(matches!(error, Some(Err(ServiceError::McpError(e))) if e.message == "no"));
    }

    #[test]
    fn only_plain_http_modern_upstreams_take_the_direct_path() {
        let modern = ProtocolVersion::V_2026_07_28;
        assert!(Direct::applies("http://127.0.0.1:1/mcp", Some(&modern)));
        assert!(Direct::applies("HTTP://example.test/mcp", Some(&modern)));
        assert!(Direct::applies("https://example.test/mcp", Some(&modern)));
        assert!(!Direct::applies("ftp://example.test/mcp", Some(&modern)));
        let legacy = ProtocolVersion::V_2025_06_18;
        assert!(!Direct::applies("http://127.0.0.1:1/mcp", Some(&legacy)));
        assert!(!Direct::applies("http://127.0.0.1:1/mcp", None));
    }

    #[test]
    fn header_values_that_cannot_travel_bare_are_wrapped() {
        assert_eq!(encode_header_value("get_weather"), "get_weather");
        assert_eq!(encode_header_value("a b"), "a b");
        assert_eq!(encode_header_value(" x"), "=?base64?IHg=?=");
        assert_eq!(encode_header_value("é"), "=?base64?w6k=?=");
        assert_eq!(
            encode_header_value("=?base64?eA==?="),
            "=?base64?PT9iYXNlNjQ/ZUE9PT89?="
        );
    }

    #[test]
    fn annotated_arguments_become_param_headers() {
        let Value::Object(schema) = serde_json::json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {"tier": {"type": "integer", "x-mcp-header": "Tier"}}},
            "plain": {"type": "string"}
        }}) else {
            unreachable!()
        };
        let annotated = annotated_headers(&schema);
        let Value::Object(arguments) =
            serde_json::json!({"region": "eu west", "opts": {"tier": 2}, "plain": "x"})
        else {
            unreachable!()
        };
        let headers = param_headers(&annotated, Some(&arguments));
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("mcp-param-tier".to_owned(), "2".to_owned()),
                ("mcp-param-region".to_owned(), "eu west".to_owned()),
            ]
        );
    }
}

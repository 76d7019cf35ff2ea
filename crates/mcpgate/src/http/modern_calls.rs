//! A 2026-07-28 `tools/call`, `resources/read` or `prompts/get` served in its HTTP request's
//! own task.
//!
//! rmcp serves every stateless request through a one-shot service of its own: the body is read
//! into a `ClientJsonRpcMessage` through serde's buffered `Content` (the message is an untagged
//! enum with flattened params), written again into a `Value` to compare with the `Mcp-*`
//! headers, and run by a service task that spawns a handler task and answers through a
//! channel. For the commonest modern requests — a tool call, a resource read, a prompt — that
//! is most of what serving them costs beyond the work itself (BENCHMARKS.md: the native row
//! over the floor, and the same again inside every forwarded call). Such a request is served
//! here instead: its params are read once, its headers compared with them, and it goes to the
//! same handler through rmcp's own `Service::handle_request`, so the era's rules — supported
//! version, required `_meta`, task results, cache hints, error codes — stay rmcp's, and the
//! answer has the HTTP status rmcp gives it (`status`).
//!
//! Only what this path checks completely is taken; everything else goes on to rmcp as before:
//! another method or era, a session, JSON answers switched off (`http.json_response`), an
//! `Accept` with parameters, an `Mcp-Name` in its base64 form (or one a name could be mistaken
//! for), any `Mcp-Param-*` header or a tool whose schema asks for one, and a progress token or
//! log level (their notifications need an event stream, which rmcp opens).
//!
//! A handler is given a peer to reach its client through. A request served here has none to
//! reach: notifications are not asked for (above), and the 2026-07-28 era forbids requests to
//! the client (a handler returns `input_required` instead, which rmcp's peer enforces from the
//! version it was made with). So every request here shares one peer whose messages go nowhere
//! — as rmcp's own `server/discover` does before a lifecycle exists.

use std::sync::OnceLock;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientRequest, ErrorCode, GetPromptRequestParams,
    Implementation, InitializeRequestParams, ProtocolVersion, ReadResourceRequestParams, Request,
    RequestId, RequestMetaObject as Meta, ServerJsonRpcMessage,
};
use rmcp::service::{Peer, RequestContext, RoleServer, RunningService, Service as _};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

use crate::mcp::Handler;

/// The era served here.
const MODERN: &str = "2026-07-28";

/// The log level a caller asks its request's messages at (they need an event stream).
const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

/// What a header value starts and ends with when it is base64 (`=?base64?…?=`).
const BASE64_WRAP: (&str, &str) = ("=?base64?", "?=");

/// Modern requests, served by `handler` (see the module documentation).
pub struct ModernCalls {
    handler: Handler,
    /// The peer of every request served here, made on first use (inside the runtime).
    detached: OnceLock<RunningService<RoleServer, Handler>>,
}

/// A request this path serves: its id, its `_meta` and the request its params make.
pub struct Call {
    id: RequestId,
    meta: Meta,
    request: ClientRequest,
}

/// A JSON-RPC request as read here (the envelope was checked before: `jsonrpc::check`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a, P> {
    #[allow(dead_code)]
    jsonrpc: IgnoredAny,
    id: RequestId,
    method: &'a str,
    params: P,
}

/// The params of a method served here.
trait Served: DeserializeOwned {
    /// The method.
    const METHOD: &'static str;
    /// Its `_meta`, taken out (it goes to the request's context).
    fn meta(&mut self) -> Option<Meta>;
    /// What `Mcp-Name` must say: the tool or prompt name, or the resource URI.
    fn subject(&self) -> &str;
    /// The request to hand to the handler.
    fn request(self) -> ClientRequest;
}

/// Each method served here: its params, the method, the field `Mcp-Name` names, and the request.
macro_rules! served {
    ($($params:ty => $method:literal, $subject:ident, $request:ident;)*) => {$(
        impl Served for $params {
            const METHOD: &'static str = $method;
            fn meta(&mut self) -> Option<Meta> {
                self.meta.take()
            }
            fn subject(&self) -> &str {
                &self.$subject
            }
            fn request(self) -> ClientRequest {
                ClientRequest::$request(Request::new(self))
            }
        }
    )*};
}

served! {
    CallToolRequestParams => "tools/call", name, CallToolRequest;
    ReadResourceRequestParams => "resources/read", uri, ReadResourceRequest;
    GetPromptRequestParams => "prompts/get", name, GetPromptRequest;
}

impl ModernCalls {
    /// The methods this path may serve (their params are left to it by `jsonrpc`).
    pub const METHODS: &'static [&'static str] = &[
        CallToolRequestParams::METHOD,
        ReadResourceRequestParams::METHOD,
        GetPromptRequestParams::METHOD,
    ];

    /// Modern requests served by `handler`.
    pub fn new(handler: &Handler) -> Self {
        Self {
            handler: handler.for_new_session(),
            detached: OnceLock::new(),
        }
    }

    /// The request in a POST without a session, if this path serves it (`None`: rmcp does).
    pub fn take(&self, headers: &HeaderMap, body: &[u8]) -> Option<Call> {
        let call = read(headers, body)?;
        if let ClientRequest::CallToolRequest(request) = &call.request {
            let snapshot = self.handler.catalog().snapshot();
            let tool = snapshot.tool(&request.params.name)?;
            if asks_for_headers(tool.input_schema.get("properties")) {
                return None;
            }
        }
        Some(call)
    }

    /// Serve `call`, made by the request of `parts` (its caller is in their extensions).
    pub async fn serve(&self, call: Call, parts: axum::http::request::Parts) -> Response {
        let Call { id, meta, request } = call;
        let mut context = RequestContext::new(id.clone(), self.peer());
        // A caller who goes away drops this future: the request is cancelled as rmcp cancels
        // it, and it is cancelled once answered too, as rmcp does, so nothing runs on
        // unobserved.
        let _cancel = context.ct.clone().drop_guard();
        context.meta = meta;
        context.extensions.insert(parts);
        let handler = self.handler.for_new_session();
        let message = match handler.handle_request(request, context).await {
            Ok(result) => ServerJsonRpcMessage::response(result, id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        let status = status(&message);
        match serde_json::to_vec(&message) {
            Ok(body) => {
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "a modern request's answer could not be written as JSON");
                super::jsonrpc::internal_error(StatusCode::INTERNAL_SERVER_ERROR, Value::Null)
            }
        }
    }

    /// The peer requests served here are given.
    fn peer(&self) -> Peer<RoleServer> {
        self.detached
            .get_or_init(|| {
                let nowhere = (
                    futures::sink::drain(),
                    futures::stream::pending::<rmcp::service::RxJsonRpcMessage<RoleServer>>(),
                );
                let info = InitializeRequestParams::new(
                    ClientCapabilities::default(),
                    Implementation::new("detached", "0"),
                )
                .with_protocol_version(ProtocolVersion::V_2026_07_28);
                rmcp::service::serve_directly(self.handler.for_new_session(), nowhere, Some(info))
            })
            .peer()
            .clone()
    }
}

/// The request in a POST, if its headers and body are all this path checks and they agree:
/// the modern era named alike in the header and `_meta` (with every key the era requires), a
/// method served here in `Mcp-Method` and the body, the params' name or URI in `Mcp-Name`
/// as it is (not base64), each header once and in visible ASCII as rmcp reads them, and
/// nothing that asks for an event stream or an `Mcp-Param-*` check.
fn read(headers: &HeaderMap, body: &[u8]) -> Option<Call> {
    if one(headers, "mcp-protocol-version")? != MODERN
        || !accepts_json_and_events(headers)
        || !super::jsonrpc::declares_json(headers)
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
    {
        return None;
    }
    match one(headers, "mcp-method")? {
        CallToolRequestParams::METHOD => read_as::<CallToolRequestParams>(headers, body),
        ReadResourceRequestParams::METHOD => read_as::<ReadResourceRequestParams>(headers, body),
        GetPromptRequestParams::METHOD => read_as::<GetPromptRequestParams>(headers, body),
        _ => None,
    }
}

/// [`read`], for the method of `P`.
fn read_as<P: Served>(headers: &HeaderMap, body: &[u8]) -> Option<Call> {
    let message: Message<'_, P> = serde_json::from_slice(body).ok()?;
    let mut params = message.params;
    let name = one(headers, "mcp-name")?;
    if message.method != P::METHOD
        || name != params.subject()
        || (name.starts_with(BASE64_WRAP.0) && name.ends_with(BASE64_WRAP.1))
    {
        return None;
    }
    let meta = params.meta()?;
    let modern = ProtocolVersion::V_2026_07_28;
    if meta.protocol_version()? != modern
        || !meta.missing_required_keys(&modern).is_empty()
        || meta.contains_key("progressToken")
        || meta.contains_key(LOG_LEVEL)
    {
        return None;
    }
    Some(Call {
        id: message.id,
        meta,
        request: params.request(),
    })
}

/// The only value of header `name`, as rmcp reads it (visible ASCII): `None` when it is
/// absent, repeated or not readable.
fn one<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(())?;
    value.to_str().ok()
}

/// Whether `Accept` lists both JSON and event streams, without parameters (weights are left to
/// rmcp, which reads them).
fn accepts_json_and_events(headers: &HeaderMap) -> bool {
    let (mut json, mut events) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains([';', '"']) {
            return false;
        }
        for range in value.split(',').map(str::trim) {
            json |= range.eq_ignore_ascii_case("application/json");
            events |= range.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && events
}

/// Whether a schema's `properties` (or theirs, at any depth) ask for an `Mcp-Param-*` header.
fn asks_for_headers(properties: Option<&Value>) -> bool {
    let Some(Value::Object(properties)) = properties else {
        return false;
    };
    properties.values().any(|schema| {
        schema.get("x-mcp-header").is_some() || asks_for_headers(schema.get("properties"))
    })
}

/// The HTTP status of a modern answer, as rmcp gives it: the era's errors about the request
/// itself are 400, an unknown method 404, anything else (results, tool errors) 200.
fn status(message: &ServerJsonRpcMessage) -> StatusCode {
    let ServerJsonRpcMessage::Error(error) = message else {
        return StatusCode::OK;
    };
    match error.error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        headers
    }

    /// The headers of a plain modern call of `tool`.
    fn plain(tool: &str) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".into()),
            ("accept", "application/json, text/event-stream".into()),
            ("mcp-protocol-version", MODERN.into()),
            ("mcp-method", "tools/call".into()),
            ("mcp-name", tool.into()),
        ]
    }

    fn meta() -> Value {
        json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        })
    }

    fn body(tool: &str, meta: Value) -> Vec<u8> {
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
               "params": {"name": tool, "arguments": {"a": 1}, "_meta": meta}})
        .to_string()
        .into_bytes()
    }

    fn taken(pairs: &[(&'static str, String)], body: &[u8]) -> bool {
        let pairs: Vec<_> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        read(&headers(&pairs), body).is_some()
    }

    /// `plain(tool)` with `name` set to `value` (`None`: removed).
    fn with(tool: &str, name: &'static str, value: Option<&str>) -> Vec<(&'static str, String)> {
        let mut pairs: Vec<_> = plain(tool)
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect();
        if let Some(value) = value {
            pairs.push((name, value.into()));
        }
        pairs
    }

    #[test]
    fn a_plain_call_is_read_with_its_id_params_and_meta() {
        let call = read(
            &headers(
                &plain("health")
                    .iter()
                    .map(|(n, v)| (*n, v.as_str()))
                    .collect::<Vec<_>>(),
            ),
            &body("health", meta()),
        )
        .expect("taken");
        assert_eq!(call.id, RequestId::Number(7));
        let ClientRequest::CallToolRequest(request) = call.request else {
            panic!("a tool call");
        };
        assert_eq!(request.params.name, "health");
        assert_eq!(
            request.params.arguments,
            json!({"a": 1}).as_object().cloned()
        );
        assert!(
            request.params.meta.is_none(),
            "the meta goes to the context"
        );
        assert_eq!(
            call.meta.protocol_version(),
            Some(ProtocolVersion::V_2026_07_28)
        );
    }

    /// A resource read is named by its URI, a prompt by its name; each is read as what its
    /// method says, and a header naming anything else leaves it to rmcp.
    #[test]
    fn resource_reads_and_prompts_are_read_by_their_uri_and_name() {
        let request = |method: &str, params: Value| {
            json!({"jsonrpc": "2.0", "id": "r", "method": method, "params": params})
                .to_string()
                .into_bytes()
        };
        let named = |method: &str, name: &str| {
            let mut pairs = with("x", "mcp-method", Some(method));
            pairs.retain(|(n, _)| *n != "mcp-name");
            pairs.push(("mcp-name", name.to_owned()));
            pairs
        };
        let uri = "demo://resource/static";
        let read_body = request("resources/read", json!({"uri": uri, "_meta": meta()}));
        let pairs: Vec<_> = named("resources/read", uri);
        let pairs: Vec<_> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let call = read(&headers(&pairs), &read_body).expect("taken");
        assert!(
            matches!(call.request, ClientRequest::ReadResourceRequest(r) if r.params.uri == uri)
        );
        let prompt_body = request(
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "x"}, "_meta": meta()}),
        );
        assert!(taken(&named("prompts/get", "greet"), &prompt_body));
        // The header must name what the body does, under the body's method.
        assert!(!taken(&named("resources/read", "demo://other"), &read_body));
        assert!(
            !taken(&named("prompts/get", uri), &read_body),
            "method differs"
        );
        assert!(!taken(&named("prompts/get", "other"), &prompt_body));
        let tool_as_prompt = request("prompts/get", json!({"name": "health", "_meta": meta()}));
        assert!(
            !taken(&plain("health"), &tool_as_prompt),
            "Mcp-Method tools/call"
        );
        // Methods not served here.
        let list = request("resources/subscribe", json!({"uri": uri, "_meta": meta()}));
        assert!(!taken(&named("resources/subscribe", uri), &list));
    }

    /// What rmcp would not read as the name: a value outside visible ASCII (even when its bytes
    /// are the name's), and a name that looks base64-wrapped (rmcp decodes it first).
    #[test]
    fn names_rmcp_reads_otherwise_go_to_rmcp() {
        let mut raw = HeaderMap::new();
        for (name, value) in plain("café") {
            if name != "mcp-name" {
                raw.append(name, HeaderValue::from_str(&value).expect("value"));
            }
        }
        raw.append(
            "mcp-name",
            HeaderValue::from_bytes("café".as_bytes()).expect("bytes"),
        );
        assert!(read(&raw, &body("café", meta())).is_none());
        let wrapped = "=?base64?aGVhbHRo?=";
        assert!(!taken(&plain(wrapped), &body(wrapped, meta())));
    }

    /// Every way a request's headers could disagree with its body, or ask for what this path
    /// does not do, leaves it to rmcp, which checks it in full.
    #[test]
    fn anything_not_checked_here_goes_to_rmcp() {
        let good = body("health", meta());
        assert!(taken(&plain("health"), &good));
        // Headers that disagree with the body, or are missing or repeated.
        assert!(
            !taken(&plain("delete_everything"), &good),
            "Mcp-Name of another tool"
        );
        for (name, value) in [
            ("mcp-name", None),
            ("mcp-name", Some("=?base64?aGVhbHRo?=")),
            ("mcp-method", Some("tools/list")),
            ("mcp-method", None),
            ("mcp-protocol-version", Some("2025-11-25")),
            ("mcp-protocol-version", None),
            // What only rmcp reads: weights, another media type.
            ("accept", Some("application/json;q=0, text/event-stream")),
            ("accept", Some("application/json")),
            ("accept", Some("text/event-stream")),
            ("accept", Some("*/*")),
            ("content-type", Some("text/plain")),
        ] {
            assert!(
                !taken(&with("health", name, value), &good),
                "{name}: {value:?}"
            );
        }
        let mut twice = plain("health");
        twice.push(("mcp-name", "health".into()));
        assert!(!taken(&twice, &good), "a repeated Mcp-Name");
        let mut param = plain("health");
        param.push(("mcp-param-region", "eu".into()));
        assert!(!taken(&param, &good), "an Mcp-Param-* header");
        // Bodies: another method, another era in `_meta`, a required key missing, progress or
        // logging asked for, fields this path does not know.
        let other_method = String::from_utf8(good.clone())
            .expect("utf-8")
            .replace("\"tools/call\"", "\"tools/list\"");
        assert!(!taken(&plain("health"), other_method.as_bytes()));
        let mut older = meta();
        older["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
        assert!(!taken(&plain("health"), &body("health", older)));
        let mut no_capabilities = meta();
        no_capabilities
            .as_object_mut()
            .expect("object")
            .remove("io.modelcontextprotocol/clientCapabilities");
        assert!(!taken(&plain("health"), &body("health", no_capabilities)));
        for (key, value) in [
            ("progressToken", json!(1)),
            ("io.modelcontextprotocol/logLevel", json!("debug")),
        ] {
            let mut asks = meta();
            asks[key] = value;
            assert!(!taken(&plain("health"), &body("health", asks)), "{key}");
        }
        let extra = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "extra": true,
                           "params": {"name": "health", "_meta": meta()}});
        assert!(!taken(&plain("health"), extra.to_string().as_bytes()));
        assert!(!taken(&plain("health"), b"{not json"));
    }

    #[test]
    fn a_schema_asking_for_a_header_at_any_depth_is_found() {
        let flat = json!({"region": {"type": "string", "x-mcp-header": "Region"}});
        let deep = json!({"opts": {"type": "object", "properties": {
            "tier": {"type": "integer", "x-mcp-header": "Tier"}}}});
        let none = json!({"region": {"type": "string"}});
        assert!(asks_for_headers(Some(&flat)));
        assert!(asks_for_headers(Some(&deep)));
        assert!(!asks_for_headers(Some(&none)));
        assert!(!asks_for_headers(None));
    }

    #[test]
    fn statuses_are_those_rmcp_gives_modern_answers() {
        let error = |code: ErrorCode| {
            ServerJsonRpcMessage::error(
                rmcp::ErrorData::new(code, "x", None),
                Some(RequestId::Number(1)),
            )
        };
        for (code, expected) in [
            (ErrorCode::HEADER_MISMATCH, StatusCode::BAD_REQUEST),
            (
                ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
                StatusCode::BAD_REQUEST,
            ),
            (
                ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
                StatusCode::BAD_REQUEST,
            ),
            (ErrorCode::METHOD_NOT_FOUND, StatusCode::NOT_FOUND),
            (ErrorCode::INVALID_PARAMS, StatusCode::OK),
            (ErrorCode::INTERNAL_ERROR, StatusCode::OK),
        ] {
            assert_eq!(status(&error(code)), expected, "{code:?}");
        }
    }
}

//! A 2026-07-28 `tools/call` served in its HTTP request's own task.
//!
//! rmcp serves every stateless request through a one-shot service of its own: the body is read
//! into a `ClientJsonRpcMessage` through serde's buffered `Content` (the message is an untagged
//! enum with flattened params), written again into a `Value` to compare with the `Mcp-*`
//! headers, and run by a service task that spawns a handler task and answers through a
//! channel. For the commonest modern request, a plain tool call, that is most of what serving
//! it costs beyond the tool itself (BENCHMARKS.md: the native row over the floor, and the same
//! again inside every forwarded call). Such a call is served here instead: its params are read
//! once, its headers compared with them, and it goes to the same handler through rmcp's own
//! `Service::handle_request`, so the era's rules — supported version, required `_meta`, task
//! results, cache hints, error codes — stay rmcp's, and the answer has the HTTP status rmcp
//! gives it (`status`).
//!
//! Only what this path checks completely is taken; everything else goes on to rmcp as before:
//! another method or era, a session, JSON answers switched off (`http.json_response`), an
//! `Accept` with parameters, an `Mcp-Name` in its base64 form, any `Mcp-Param-*` header or a
//! tool whose schema asks for one, and a progress token or log level (their notifications need
//! an event stream, which rmcp opens).
//!
//! A handler is given a peer to reach its client through. A call served here has none to
//! reach: notifications are not asked for (above), and the 2026-07-28 era forbids requests to
//! the client (a handler returns `input_required` instead, which rmcp's peer enforces from the
//! version it was made with). So every call here shares one peer whose messages go nowhere —
//! as rmcp's own `server/discover` does before a lifecycle exists.

use std::sync::OnceLock;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientRequest, ErrorCode, Implementation,
    InitializeRequestParams, ProtocolVersion, Request, RequestId, ServerJsonRpcMessage,
};
use rmcp::service::{Peer, RequestContext, RoleServer, RunningService, Service as _};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::mcp::Handler;

/// The era served here.
const MODERN: &str = "2026-07-28";

/// The log level a caller asks its request's messages at (they need an event stream).
const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

/// Modern tool calls, served by `handler` (see the module documentation).
pub struct ModernCalls {
    handler: Handler,
    /// The peer of every call served here, made on first use (inside the runtime).
    detached: OnceLock<RunningService<RoleServer, Handler>>,
}

/// A call this path serves: its id and params, read from the body.
pub struct Call {
    id: RequestId,
    params: CallToolRequestParams,
}

/// A JSON-RPC request as read here (the envelope was checked before: `jsonrpc::check`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    #[allow(dead_code)]
    jsonrpc: IgnoredAny,
    id: RequestId,
    method: &'a str,
    params: CallToolRequestParams,
}

impl ModernCalls {
    /// Modern calls served by `handler`.
    pub fn new(handler: &Handler) -> Self {
        Self {
            handler: handler.for_new_session(),
            detached: OnceLock::new(),
        }
    }

    /// The call in a POST without a session, if this path serves it (`None`: rmcp does).
    pub fn take(&self, headers: &HeaderMap, body: &[u8]) -> Option<Call> {
        let call = read(headers, body)?;
        let snapshot = self.handler.catalog().snapshot();
        let tool = snapshot.tool(&call.params.name)?;
        (!asks_for_headers(tool.input_schema.get("properties"))).then_some(call)
    }

    /// Serve `call`, made by the request of `parts` (its caller is in their extensions).
    pub async fn serve(&self, call: Call, parts: axum::http::request::Parts) -> Response {
        let Call { id, mut params } = call;
        let mut context = RequestContext::new(id.clone(), self.peer());
        // A caller who goes away drops this future: the call is cancelled as rmcp cancels it,
        // and it is cancelled once answered too, as rmcp does, so nothing runs on unobserved.
        let _cancel = context.ct.clone().drop_guard();
        context.meta = params.meta.take().unwrap_or_default();
        context.extensions.insert(parts);
        let request = ClientRequest::CallToolRequest(Request::new(params));
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
                tracing::error!(error = %e, "a tool call's answer could not be written as JSON");
                super::jsonrpc::internal_error(StatusCode::INTERNAL_SERVER_ERROR, Value::Null)
            }
        }
    }

    /// The peer calls served here are given.
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

/// The call in a request, if its headers and body are all this path checks and they agree:
/// the modern era named alike in the header and `_meta` (with every key the era requires),
/// `tools/call` in `Mcp-Method` and the body, the tool's plain name in `Mcp-Name`, each header
/// once, and nothing that asks for an event stream or an `Mcp-Param-*` check.
fn read(headers: &HeaderMap, body: &[u8]) -> Option<Call> {
    if one(headers, "mcp-protocol-version")? != MODERN.as_bytes()
        || one(headers, "mcp-method")? != b"tools/call"
        || !accepts_json_and_events(headers)
        || !super::jsonrpc::declares_json(headers)
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
    {
        return None;
    }
    let message: Message<'_> = serde_json::from_slice(body).ok()?;
    let params = message.params;
    let meta = params.meta.as_ref()?;
    let modern = ProtocolVersion::V_2026_07_28;
    if message.method != "tools/call"
        || meta.protocol_version()? != modern
        || !meta.missing_required_keys(&modern).is_empty()
        || meta.contains_key("progressToken")
        || meta.contains_key(LOG_LEVEL)
        || one(headers, "mcp-name")? != params.name.as_bytes()
    {
        return None;
    }
    Some(Call {
        id: message.id,
        params,
    })
}

/// The only value of header `name`: `None` when it is absent or repeated.
fn one<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(value.as_bytes())
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
        assert_eq!(call.params.name, "health");
        assert_eq!(call.params.arguments, json!({"a": 1}).as_object().cloned());
        assert!(call.params.meta.is_some());
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

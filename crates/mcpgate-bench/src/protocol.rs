//! MCP Streamable HTTP wire details for both protocol eras.
//!
//! The generator builds each request once and then only splices a fresh JSON-RPC id into a
//! pre-serialised body, so the cost of producing load stays small next to the cost of serving
//! it. Modern (2026-07-28) requests are self-describing: `_meta` in the body and the
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers. Legacy (2025-11-25) requests
//! rely on a session negotiated by `initialize`; see [`crate::client`].

use base64::{Engine, prelude::BASE64_STANDARD};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::scenario::ToolCall;

/// The stateless protocol revision.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The last protocol revision with `initialize` and sessions.
pub const LEGACY_VERSION: &str = "2025-11-25";
/// Protocol version header, sent on every request after `initialize`.
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// Legacy session header, minted by the server on the `initialize` response.
pub const HEADER_SESSION_ID: &str = "mcp-session-id";
/// Modern header naming the JSON-RPC method.
pub const HEADER_METHOD: &str = "mcp-method";
/// Modern header naming the tool, prompt or resource addressed.
pub const HEADER_NAME: &str = "mcp-name";

/// Which protocol era the generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Era {
    /// 2026-07-28: stateless, `_meta` on every request, no `initialize`.
    Modern,
    /// 2025-11-25: `initialize`, `Mcp-Session-Id` on every request, `DELETE` at the end.
    Legacy,
}

impl Era {
    /// The lowercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Modern => "modern",
            Era::Legacy => "legacy",
        }
    }
}

/// The `clientInfo` object the generator introduces itself with.
pub fn client_info() -> Value {
    json!({ "name": "mcpgate-bench", "version": env!("CARGO_PKG_VERSION") })
}

/// The per-request `_meta` a modern client must send.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": client_info(),
    })
}

/// Headers every POST carries regardless of era: content negotiation, auth and extras.
///
/// `authorization` is the whole header value, e.g. `Bearer <token>`.
pub fn base_headers(
    authorization: Option<&HeaderValue>,
    extra: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, value.clone());
    }
    for (name, value) in extra {
        headers.append(name.clone(), value.clone());
    }
    headers
}

/// Encodes a value for an `Mcp-*` header, wrapping it as `=?base64?…?=` when it could not
/// travel as a bare header value (leading or trailing blanks, control or non-ASCII bytes).
pub fn mcp_header_value(value: &str) -> HeaderValue {
    let bytes = value.as_bytes();
    let needs_wrap = matches!(bytes.first(), Some(b' ' | b'\t'))
        || matches!(bytes.last(), Some(b' ' | b'\t'))
        || bytes.iter().any(|&b| !(0x20..=0x7e).contains(&b))
        || (value.starts_with("=?base64?") && value.ends_with("?="));
    let text = if needs_wrap {
        format!("=?base64?{}?=", BASE64_STANDARD.encode(value))
    } else {
        value.to_owned()
    };
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// One JSON-RPC request, ready to send many times with different ids.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// Every header the request needs.
    pub headers: HeaderMap,
    prefix: String,
    suffix: String,
}

impl PreparedRequest {
    /// A request for `method` with `params`, sent with `headers`.
    pub fn new(method: &str, params: &Value, headers: HeaderMap) -> Self {
        let prefix = r#"{"jsonrpc":"2.0","id":"#.to_owned();
        let suffix = format!(r#","method":{},"params":{}}}"#, Value::from(method), params);
        Self {
            headers,
            prefix,
            suffix,
        }
    }

    /// A modern `tools/call` (or the call's other method) with `_meta` and the
    /// `Mcp-Method`/`Mcp-Name` headers.
    pub fn modern_tool_call(call: &ToolCall, base: &HeaderMap) -> Self {
        let method = call.method.as_str();
        let mut params = call.method.params(call);
        params.insert("_meta".into(), modern_meta());
        let mut headers = modern_headers(base, method);
        headers.insert(HEADER_NAME, mcp_header_value(&call.name));
        Self::new(method, &Value::Object(params), headers)
    }

    /// A modern `server/discover`.
    pub fn modern_discover(base: &HeaderMap) -> Self {
        let params = json!({ "_meta": modern_meta() });
        Self::new(
            "server/discover",
            &params,
            modern_headers(base, "server/discover"),
        )
    }

    /// A legacy `tools/call` (or the call's other method); the session headers come from
    /// [`session_headers`].
    pub fn legacy_tool_call(call: &ToolCall, session: &HeaderMap) -> Self {
        let params = Value::Object(call.method.params(call));
        Self::new(call.method.as_str(), &params, session.clone())
    }

    /// The body for request `id`.
    pub fn body(&self, id: u64) -> String {
        let mut body = String::with_capacity(self.prefix.len() + self.suffix.len() + 20);
        body.push_str(&self.prefix);
        body.push_str(&id.to_string());
        body.push_str(&self.suffix);
        body
    }
}

fn modern_headers(base: &HeaderMap, method: &'static str) -> HeaderMap {
    let mut headers = base.clone();
    headers.insert(
        HEADER_PROTOCOL_VERSION,
        HeaderValue::from_static(MODERN_VERSION),
    );
    headers.insert(HEADER_METHOD, HeaderValue::from_static(method));
    headers
}

/// The base headers plus a legacy session's id and negotiated protocol version.
pub fn session_headers(base: &HeaderMap, session_id: &HeaderValue, version: &str) -> HeaderMap {
    let mut headers = base.clone();
    headers.insert(HEADER_SESSION_ID, session_id.clone());
    headers.insert(HEADER_PROTOCOL_VERSION, mcp_header_value(version));
    headers
}

/// The legacy `initialize` request body (id 0).
pub fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY_VERSION,
            "capabilities": {},
            "clientInfo": client_info(),
        },
    })
    .to_string()
}

/// The legacy `notifications/initialized` body.
pub fn initialized_body() -> String {
    json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Method;

    #[test]
    fn body_is_valid_json_rpc_with_the_given_id() {
        let call = ToolCall::new("health", json!({"x": 1}));
        let request = PreparedRequest::modern_tool_call(&call, &base_headers(None, &[]));
        let body: Value = serde_json::from_str(&request.body(42)).expect("body is JSON");
        assert_eq!(body["id"], 42);
        assert_eq!(body["method"], "tools/call");
        assert_eq!(body["params"]["name"], "health");
        assert_eq!(body["params"]["arguments"]["x"], 1);
        assert_eq!(
            body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            MODERN_VERSION
        );
        assert_eq!(request.headers[HEADER_NAME], "health");
        assert_eq!(request.headers[HEADER_METHOD], "tools/call");
    }

    #[test]
    fn reads_and_prompts_name_their_uri_and_prompt() {
        let read =
            ToolCall::new("test://static-text", json!({})).with_method(Method::ResourcesRead);
        let request = PreparedRequest::modern_tool_call(&read, &base_headers(None, &[]));
        let body: Value = serde_json::from_str(&request.body(1)).expect("body is JSON");
        assert_eq!(body["method"], "resources/read");
        assert_eq!(body["params"]["uri"], "test://static-text");
        assert!(body["params"].get("arguments").is_none());
        assert_eq!(request.headers[HEADER_NAME], "test://static-text");
        assert_eq!(request.headers[HEADER_METHOD], "resources/read");
        let prompt = ToolCall::new("greet", json!({"who": "x"})).with_method(Method::PromptsGet);
        let session = base_headers(None, &[]);
        let body: Value =
            serde_json::from_str(&PreparedRequest::legacy_tool_call(&prompt, &session).body(2))
                .expect("body is JSON");
        assert_eq!(body["method"], "prompts/get");
        assert_eq!(body["params"]["name"], "greet");
        assert_eq!(body["params"]["arguments"]["who"], "x");
    }

    #[test]
    fn unsafe_header_values_are_base64_wrapped() {
        assert_eq!(mcp_header_value("get_weather"), "get_weather");
        assert_eq!(mcp_header_value("météo"), "=?base64?bcOpdMOpbw==?=");
        assert_eq!(mcp_header_value(" x"), "=?base64?IHg=?=");
    }
}

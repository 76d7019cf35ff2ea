//! The JSON-RPC checks made on an MCP POST body before rmcp reads it, and the JSON-RPC error
//! answers for what fails them.
//!
//! rmcp answers a body it cannot read as a whole message with a plain-text 415, and reads a
//! standard method whose `params` have the wrong shape as an unknown custom method (404,
//! -32601). Clients act on JSON-RPC codes, so the body is checked here first, and refused with
//! HTTP 400 and the code that says what is wrong, carrying the request id when one can be read:
//!
//! - -32700 (parse error): not UTF-8, not JSON, lone surrogate escapes, nesting past serde's
//!   limit of 128 (inside `params` too);
//! - -32600 (invalid request): JSON that is not one JSON-RPC 2.0 message;
//! - -32602 (invalid params): `params` that is not an object, or a standard MCP method whose
//!   params do not read as that method's params (a `tools/call` whose `name` is not a string).
//!
//! The envelope is read borrowed from the body (nothing is copied); only the params of the
//! standard methods listed in [`typed_params`] are parsed in full — a second parse of a few
//! hundred bytes, well under one per cent of a call. What gets past these checks and still
//! fails rmcp's own parse (a custom method's params with a lone surrogate) is diagnosed after
//! rmcp's 415 by [`diagnose`].

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

pub use crate::mcp::params::{INVALID_PARAMS, PARSE_ERROR};
/// JSON-RPC: JSON that is not a valid request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: the server failed.
pub const INTERNAL_ERROR: i64 = -32603;

/// What the MCP layer needs to know of a checked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Whether the message is an `initialize` request (it creates a legacy session).
    pub initialize: bool,
    /// Whether it is a request whose params were left unread ([`check_but_served`]).
    pub unread: bool,
}

/// Why a body was refused: the JSON-RPC error to answer with (HTTP 400).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    id: Value,
    code: i64,
    message: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.id, self.code, self.message)
    }
}

/// Whether `Content-Type` is `application/json` (parameters aside).
pub fn declares_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Check one JSON-RPC message body: `Ok` when rmcp may read it, else why not.
pub fn check(bytes: &[u8]) -> Result<Checked, Refused> {
    check_message(bytes, &[])
}

/// [`check`], but the params of a request of one of `served` methods are left to the caller,
/// which reads them in full anyway (`modern_calls`) and calls [`check`] if it does not.
pub fn check_but_served(bytes: &[u8], served: &[&str]) -> Result<Checked, Refused> {
    check_message(bytes, served)
}

fn check_message(bytes: &[u8], served: &[&str]) -> Result<Checked, Refused> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        refused(
            Value::Null,
            PARSE_ERROR,
            format!("Parse error: the body is not UTF-8 ({e})"),
        )
    })?;
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            refused(
                Value::Null,
                INVALID_REQUEST,
                format!("Invalid Request: {e}"),
            )
        } else {
            refused(Value::Null, PARSE_ERROR, format!("Parse error: {e}"))
        }
    })?;
    let id = || envelope.id();
    envelope
        .check()
        .map_err(|problem| refused(id(), INVALID_REQUEST, format!("Invalid Request: {problem}")))?;
    let method = envelope
        .method
        .and_then(|m| serde_json::from_str::<&str>(m.get()).ok());
    let params = envelope.params.filter(|p| p.get() != "null");
    if let Some(params) = params
        && !params.get().starts_with('{')
    {
        return Err(refused(
            id(),
            INVALID_PARAMS,
            "Invalid params: \"params\" must be an object".to_owned(),
        ));
    }
    let unread = method.is_some_and(|m| served.contains(&m));
    if let Some(method) = method
        && !unread
        && let Some((code, problem)) = crate::mcp::params::typed_params(method, params)
    {
        return Err(refused(
            id(),
            code,
            format!("Invalid params for {method}: {problem}"),
        ));
    }
    Ok(Checked {
        initialize: method == Some("initialize"),
        unread,
    })
}

/// The refusal for a body rmcp could not read as a message (its 415) although it passed
/// [`check`]: a parse error somewhere the envelope check does not look (a custom method's
/// params), or a message rmcp does not accept.
pub fn diagnose(bytes: &[u8]) -> Response {
    let id = request_id(bytes);
    // Read in full (strings decoded, so bad escapes are found), then dropped.
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) => refused(id, PARSE_ERROR, format!("Parse error: {e}")),
        Ok(_) => refused(
            id,
            INVALID_REQUEST,
            "Invalid Request: not a message this server reads".to_owned(),
        ),
    }
    .into_response()
}

/// A refusal with a JSON-RPC error.
fn refused(id: Value, code: i64, message: String) -> Refused {
    Refused { id, code, message }
}

/// `status` with a JSON-RPC error body.
pub fn error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    });
    (status, axum::Json(body)).into_response()
}

/// The server failed the request `id` (HTTP `status`): the details are in the log only.
pub fn internal_error(status: StatusCode, id: Value) -> Response {
    error(
        status,
        id,
        INTERNAL_ERROR,
        "Internal error; the request id in X-Request-Id finds it in the log".to_owned(),
    )
}

/// The request id of a POST body, when one can be read (`null` otherwise).
pub fn request_id(bytes: &[u8]) -> Value {
    serde_json::from_slice::<Envelope<'_>>(bytes)
        .map(|envelope| envelope.id())
        .unwrap_or_default()
}

/// The envelope of one JSON-RPC 2.0 message, borrowed from the body.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    /// Kept raw even when `null` (serde would read a `null` option as absent): a request whose
    /// id is `null` is not a notification, it is invalid.
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

impl Envelope<'_> {
    /// The id, when it is one a response may carry (`null` otherwise).
    fn id(&self) -> Value {
        self.id
            .filter(|id| id_ok(id))
            .and_then(|id| serde_json::from_str(id.get()).ok())
            .unwrap_or_default()
    }

    /// Whether this is one JSON-RPC 2.0 request, notification or response.
    fn check(&self) -> Result<(), &'static str> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err("\"jsonrpc\" must be \"2.0\"");
        }
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

/// A member that is present, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Whether `id` is a string or an integer.
fn id_ok(id: &RawValue) -> bool {
    let text = id.get();
    text.starts_with('"') || text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refused(body: &[u8]) -> (i64, Value) {
        let response = check(body).expect_err("refused").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("JSON body");
        (v["error"]["code"].as_i64().expect("code"), v["id"].clone())
    }

    #[tokio::test]
    async fn each_kind_of_bad_body_gets_its_code_and_the_id() {
        assert_eq!(
            refused(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"\xff\"}")
                .await
                .0,
            PARSE_ERROR
        );
        assert_eq!(refused(b"{").await.0, PARSE_ERROR);
        assert_eq!(refused(b"[1,2]").await.0, INVALID_REQUEST);
        assert_eq!(
            refused(br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#).await,
            (INVALID_REQUEST, Value::from(1))
        );
        // A null id makes an invalid request, not a notification (found by the property test).
        let null_id = br#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#;
        assert_eq!(refused(null_id).await, (INVALID_REQUEST, Value::Null));
        let array = br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":[1]}"#;
        assert_eq!(refused(array).await, (INVALID_PARAMS, Value::from(7)));
        let name = br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":5}}"#;
        assert_eq!(refused(name).await, (INVALID_PARAMS, Value::from("a")));
        let args = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":[]}}"#;
        assert_eq!(refused(args).await, (INVALID_PARAMS, Value::from(2)));
        let surrogate =
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"\ud800"}}"#;
        assert_eq!(refused(surrogate).await, (PARSE_ERROR, Value::from(3)));
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"x","arguments":{{"a":{}1{}}}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(
            refused(deep.as_bytes()).await,
            (PARSE_ERROR, Value::from(4))
        );
    }

    #[test]
    fn good_messages_pass() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"health","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"custom/thing","params":{"any":[1,2]}}"#,
        ] {
            assert!(check(ok.as_bytes()).is_ok(), "{ok}");
        }
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
        assert_eq!(
            check(init.as_bytes()).ok(),
            Some(Checked {
                initialize: true,
                unread: false
            })
        );
    }

    /// A tool call's params are read by `check`, and left to its caller by
    /// `check_but_served` naming its method, which says so; other methods' params are read by
    /// both, and the envelope always.
    #[test]
    fn params_are_left_only_when_asked() {
        let served = ["tools/call"];
        let bad = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#;
        assert_eq!(
            check(bad.as_bytes()).err().map(|r| r.code),
            Some(INVALID_PARAMS)
        );
        let left = check_but_served(bad.as_bytes(), &served).expect("left unread");
        assert!(left.unread);
        let read = r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":7}}"#;
        assert!(check_but_served(read.as_bytes(), &served).is_err());
        let envelope = r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert!(check_but_served(envelope.as_bytes(), &served).is_err());
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::props::{config, json_value, jsonish_bytes};

    /// A refusal is always a 400 whose body is one JSON-RPC error with a known code.
    fn assert_refusal(refused: Refused) -> Result<(), TestCaseError> {
        prop_assert!([PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS].contains(&refused.code));
        prop_assert!(
            refused.id.is_null()
                || refused.id.is_string()
                || refused.id.is_i64()
                || refused.id.is_u64()
        );
        let response = refused.into_response();
        prop_assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_are_answered_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Err(refused) = check(&bytes) {
                assert_refusal(refused)?;
            }
            prop_assert_eq!(diagnose(&bytes).status(), StatusCode::BAD_REQUEST);
            let _ = request_id(&bytes);
        }

        #[test]
        fn jsonish_bytes_are_answered_without_panic(bytes in jsonish_bytes()) {
            if let Err(refused) = check(&bytes) {
                assert_refusal(refused)?;
            }
        }

        #[test]
        fn any_message_shape_is_checked_without_panic(
            method in prop_oneof![
                Just(json!("tools/call")), Just(json!("tools/list")), Just(json!("resources/read")),
                Just(json!("prompts/get")), Just(json!("completion/complete")),
                Just(json!("initialize")), json_value(),
            ],
            id in json_value(),
            params in json_value(),
            with_params in any::<bool>(),
        ) {
            let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
            if with_params {
                message["params"] = params;
            }
            let bytes = serde_json::to_vec(&message).expect("serializable");
            match check(&bytes) {
                Err(refused) => assert_refusal(refused)?,
                // What passes has a string method and a usable id, as rmcp expects.
                Ok(_) => {
                    prop_assert!(message["method"].is_string());
                    let id = &message["id"];
                    prop_assert!(id.is_string() || id.is_i64() || id.is_u64());
                }
            }
        }

        #[test]
        fn deep_nesting_is_refused_not_a_stack_overflow(depth in 100usize..5000) {
            let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"a":{deep}}}}}}}"#);
            let outcome = check(body.as_bytes());
            if depth >= 128 {
                prop_assert!(outcome.is_err(), "nesting of {} passed", depth);
            }
            let _ = diagnose(body.as_bytes());
        }
    }
}

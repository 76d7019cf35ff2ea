//! Reading one JSON-RPC reply from a Streamable HTTP response, in JSON or SSE form.
//!
//! A server may answer a request with `application/json` or with a request-scoped
//! `text/event-stream` that carries priming events, keep-alive comments and notifications
//! before the response. Either way the call succeeds only if the message with our id is a
//! JSON-RPC `result` whose `isError` is not `true`; every other outcome is a [`CallError`]
//! with a stable kind for the report.

use std::time::Duration;

use reqwest::{Response, StatusCode, header::CONTENT_TYPE};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::sse::{DEFAULT_MAX_EVENT_BYTES, SseParser};

/// Largest JSON body the generator will buffer: 16 MiB.
const MAX_JSON_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long to wait for a server to end an SSE stream after the response arrived, so the
/// connection can be reused. Past this the connection is dropped.
const DRAIN_LIMIT: Duration = Duration::from_millis(100);

/// Why a call did not succeed.
#[derive(Debug, Error)]
pub enum CallError {
    /// The server answered with a non-2xx status.
    #[error("HTTP status {0}")]
    Status(StatusCode),
    /// The server answered with a JSON-RPC error.
    #[error("JSON-RPC error {code}: {message}")]
    JsonRpc {
        /// The JSON-RPC error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// The tool ran and reported failure (`isError: true`).
    #[error("tool result has isError: true")]
    ToolError,
    /// The request or the body read took longer than the timeout.
    #[error("timed out")]
    Timeout(#[source] reqwest::Error),
    /// The connection could not be made.
    #[error("connect failed")]
    Connect(#[source] reqwest::Error),
    /// The connection failed after it was made.
    #[error("transport failed")]
    Transport(#[source] reqwest::Error),
    /// The server answered with something that is not a valid MCP reply.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl CallError {
    /// A stable name for counting errors by kind: `http_503`, `jsonrpc_-32602`, `tool_error`,
    /// `timeout`, `connect`, `transport` or `protocol`.
    pub fn kind(&self) -> String {
        match self {
            CallError::Status(status) => format!("http_{}", status.as_u16()),
            CallError::JsonRpc { code, .. } => format!("jsonrpc_{code}"),
            CallError::ToolError => "tool_error".to_owned(),
            CallError::Timeout(_) => "timeout".to_owned(),
            CallError::Connect(_) => "connect".to_owned(),
            CallError::Transport(_) => "transport".to_owned(),
            CallError::Protocol(_) => "protocol".to_owned(),
        }
    }
}

impl CallError {
    /// The message with its chain of causes; reqwest's own message omits the cause
    /// ("connection refused"), which is usually the part worth reading.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

impl From<reqwest::Error> for CallError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            CallError::Timeout(error)
        } else if error.is_connect() {
            CallError::Connect(error)
        } else {
            CallError::Transport(error)
        }
    }
}

/// The parts of a JSON-RPC message the generator looks at.
#[derive(Debug, Deserialize)]
struct Message<T> {
    #[serde(default)]
    id: Value,
    result: Option<T>,
    error: Option<ErrorHead>,
}

/// The part of a `tools/call` result that says whether the tool failed.
#[derive(Debug, Deserialize)]
pub struct ToolResultHead {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

impl ToolResultHead {
    /// A failed tool (`isError: true`) as [`CallError::ToolError`].
    pub fn check(self) -> Result<(), CallError> {
        match self.is_error {
            Some(true) => Err(CallError::ToolError),
            _ => Ok(()),
        }
    }
}

/// A `tools/call` result for scenarios that read what the tool returned: its
/// `structuredContent` as `S` (only the fields `S` names are kept) and, when the tool failed,
/// the text it gave.
#[derive(Debug, Deserialize)]
pub struct ToolReply<S> {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
    /// The structured result; absent when the tool failed.
    #[serde(rename = "structuredContent")]
    pub structured: Option<S>,
    /// The content blocks, left unparsed: only a failure's text is ever read.
    #[serde(default)]
    content: Option<Box<RawValue>>,
}

/// The part of a content block a failure is explained by.
#[derive(Debug, Deserialize)]
struct TextBlock {
    #[serde(default)]
    text: Option<String>,
}

impl<S> ToolReply<S> {
    /// Whether the tool reported failure (`isError: true`).
    pub fn is_error(&self) -> bool {
        self.is_error == Some(true)
    }

    /// The text of the content blocks, joined by newlines (empty if there is none).
    pub fn text(&self) -> String {
        let blocks: Vec<TextBlock> = self
            .content
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default();
        blocks
            .into_iter()
            .filter_map(|block| block.text)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Deserialize)]
struct ErrorHead {
    code: i64,
    #[serde(default)]
    message: String,
}

/// Reads the reply to `tools/call` request `id` from `response` and classifies it.
///
/// For an event stream this returns as soon as the matching event arrives; call
/// [`drain`] afterwards (outside any latency measurement) so the connection can be reused.
pub async fn read_tool_reply(response: &mut Response, id: u64) -> Result<(), CallError> {
    read_result::<ToolResultHead>(response, id).await?.check()
}

/// Reads the `result` of request `id` from `response`, as JSON or from an event stream.
pub async fn read_result<T: DeserializeOwned>(
    response: &mut Response,
    id: u64,
) -> Result<T, CallError> {
    let status = response.status();
    if !status.is_success() {
        return Err(CallError::Status(status));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => {
            let body = read_body(response).await?;
            reply_to(&body, id)?.ok_or_else(|| {
                CallError::Protocol(format!("JSON body is not the reply to id {id}"))
            })
        }
        "text/event-stream" => read_event_stream(response, id).await,
        other => Err(CallError::Protocol(format!(
            "unexpected content type {other:?} with status {status}"
        ))),
    }
}

/// Reads what is left of a response so the connection returns to the pool, giving up (and
/// dropping the connection) if the server keeps the stream open. True if the body ended.
pub async fn drain(response: &mut Response) -> bool {
    let read_to_end = async { while let Ok(Some(_)) = response.chunk().await {} };
    tokio::time::timeout(DRAIN_LIMIT, read_to_end).await.is_ok()
}

/// Reads a whole (bounded) body.
pub async fn read_body(response: &mut Response) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_JSON_BODY_BYTES {
            return Err(CallError::Protocol(format!(
                "body larger than {MAX_JSON_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_event_stream<T: DeserializeOwned>(
    response: &mut Response,
    id: u64,
) -> Result<T, CallError> {
    let mut parser = SseParser::new(DEFAULT_MAX_EVENT_BYTES);
    while let Some(chunk) = response.chunk().await? {
        parser
            .push(&chunk)
            .map_err(|error| CallError::Protocol(error.to_string()))?;
        while let Some(event) = parser.next_event() {
            // Priming events carry no data; notifications and requests carry other ids.
            if event.data.is_empty() {
                continue;
            }
            if let Some(result) = reply_to(event.data.as_bytes(), id)? {
                return Ok(result);
            }
        }
    }
    Err(CallError::Protocol(format!(
        "event stream ended before the reply to id {id}"
    )))
}

/// The `result` if `message` is a successful reply to `id`, `None` if it is some other
/// message, an error if it is a failed reply or not JSON-RPC at all.
fn reply_to<T: DeserializeOwned>(message: &[u8], id: u64) -> Result<Option<T>, CallError> {
    let message: Message<T> = serde_json::from_slice(message)
        .map_err(|error| CallError::Protocol(format!("unparseable JSON-RPC message: {error}")))?;
    // An error the server could not tie to a request carries a null id; it is ours too.
    let ours = message.id.as_u64() == Some(id) || (message.id.is_null() && message.error.is_some());
    if !ours {
        return Ok(None);
    }
    if let Some(error) = message.error {
        return Err(CallError::JsonRpc {
            code: error.code,
            message: error.message,
        });
    }
    match message.result {
        Some(result) => Ok(Some(result)),
        None => Err(CallError::Protocol(format!(
            "reply to id {id} has neither result nor error"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_outcome(message: &[u8], id: u64) -> Result<Option<bool>, CallError> {
        Ok(reply_to::<ToolResultHead>(message, id)?.map(|head| head.is_error == Some(true)))
    }

    #[test]
    fn only_the_reply_with_our_id_counts() {
        let ok = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#;
        assert!(matches!(tool_outcome(ok, 3), Ok(Some(false))));
        assert!(matches!(tool_outcome(ok, 4), Ok(None)));
        let note = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        assert!(matches!(tool_outcome(note, 3), Ok(None)));
        let untied = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#;
        assert!(matches!(
            tool_outcome(untied, 3),
            Err(CallError::JsonRpc { code: -32700, .. })
        ));
        let failed = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#;
        assert!(matches!(tool_outcome(failed, 1), Ok(Some(true))));
    }

    #[test]
    fn tool_replies_keep_the_structured_result_and_the_failure_text() {
        #[derive(Debug, Deserialize)]
        struct Id {
            id: String,
        }
        let ok = br#"{"content":[{"type":"text","text":"{}"}],"structuredContent":{"id":"a","x":[1]},"isError":false}"#;
        let reply: ToolReply<Id> = serde_json::from_slice(ok).expect("valid");
        assert!(!reply.is_error());
        assert_eq!(reply.structured.map(|s| s.id).as_deref(), Some("a"));
        let failed =
            br#"{"content":[{"type":"text","text":"version conflict: \"x\""}],"isError":true}"#;
        let reply: ToolReply<Id> = serde_json::from_slice(failed).expect("valid");
        assert!(reply.is_error());
        assert!(reply.structured.is_none());
        assert_eq!(reply.text(), r#"version conflict: "x""#);
    }

    #[test]
    fn failures_are_counted_by_kind() {
        let rpc = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}"#;
        let empty = br#"{"jsonrpc":"2.0","id":1}"#;
        let kinds: Vec<String> = [&rpc[..], &empty[..], b"not json"]
            .iter()
            .map(|body| tool_outcome(body, 1).expect_err("each is a failure").kind())
            .collect();
        assert_eq!(kinds, ["jsonrpc_-32602", "protocol", "protocol"]);
        assert_eq!(CallError::ToolError.kind(), "tool_error");
    }
}

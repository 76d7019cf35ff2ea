//! One value per header that decides anything. A header sent twice can be read one way by a
//! proxy, a browser or a log and the other way here (the first copy checked, the second acted
//! on, or the reverse), so a repeated deciding header is refused rather than resolved.
//!
//! `Host` and `Origin` are checked with the [`OriginPolicy`](super::OriginPolicy) and
//! `Authorization` by the [`Authenticator`](super::Authenticator), each answered the way that
//! check answers (400, 403, 401); this module holds the shared test and the check of the MCP
//! transport headers, which the edge answers with 400.

use axum::http::header::AsHeaderName;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::reject;

/// The MCP transport headers that pick a protocol version, a session, a method or a stream
/// position: each may appear once.
const MCP_HEADERS: [&str; 5] = [
    "mcp-protocol-version",
    "mcp-session-id",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

/// Whether `headers` hold `name` more than once.
pub(crate) fn repeated<K: AsHeaderName>(headers: &HeaderMap, name: K) -> bool {
    headers.get_all(name).iter().nth(1).is_some()
}

/// An MCP transport header sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request carries more than one {0} header")]
pub struct RepeatedHeader(&'static str);

impl RepeatedHeader {
    /// The repeated header's name (lower case).
    pub fn name(&self) -> &'static str {
        self.0
    }
}

impl IntoResponse for RepeatedHeader {
    fn into_response(self) -> Response {
        reject(StatusCode::BAD_REQUEST, "repeated_header", self.to_string())
    }
}

/// Refuse a request that repeats one of the MCP transport headers.
pub fn single_mcp_headers(headers: &HeaderMap) -> Result<(), RepeatedHeader> {
    match MCP_HEADERS
        .into_iter()
        .find(|name| repeated(headers, *name))
    {
        Some(name) => Err(RepeatedHeader(name)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_second_copy_of_a_deciding_header_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2026-07-28"),
        );
        headers.insert("x-other", HeaderValue::from_static("a"));
        headers.append("x-other", HeaderValue::from_static("b"));
        assert_eq!(single_mcp_headers(&headers), Ok(()));
        assert!(repeated(&headers, "x-other"));
        assert!(!repeated(&headers, "mcp-protocol-version"));
        headers.append(
            "mcp-protocol-version",
            HeaderValue::from_static("2025-11-25"),
        );
        let refusal = single_mcp_headers(&headers).expect_err("two protocol versions");
        assert_eq!(refusal.name(), "mcp-protocol-version");
        assert_eq!(refusal.into_response().status(), StatusCode::BAD_REQUEST);
    }
}

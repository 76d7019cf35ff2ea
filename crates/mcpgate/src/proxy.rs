//! Proxy mode, its outbound half: every MCP request the edge admits is sent on to one upstream
//! Streamable HTTP server, and its answer is relayed back as it arrives.
//!
//! - **Headers by allowlist.** Only what MCP needs crosses ([`FORWARDED`]: content type and
//!   accept, the session and protocol headers, `Last-Event-ID`, the 2026-07-28 `Mcp-Method`,
//!   `Mcp-Name` and `Mcp-Param-*` headers, trace context) plus the request id and the
//!   upstream's own credential. The caller's `Authorization`, cookies and everything else stay
//!   here by construction, not by a list of what to strip that could miss one. The query
//!   passes without the parameters that carry credentials (`key`, `api_key`, `access_token`,
//!   `token`). Answers lose their hop-by-hop headers, cookies and challenges.
//! - **The upstream's credential** is the operator's: static headers and a bearer token from
//!   an environment variable or a file (re-read at most once a second, so a rotated file is
//!   used at once). A 401 or 403 from the upstream is a fault of that credential, not the
//!   caller's: it is answered 502, never passed on as a challenge the client would act on.
//! - **Answers stream** ([`relay`]): each body frame is handed on as the upstream sends it,
//!   and read from the upstream only as fast as the client takes it (backpressure through
//!   hyper on both sides, nothing buffered beyond a frame). The timeout bounds the wait for
//!   the answer's head, never a live stream; an idle event stream gets a comment every
//!   `http.sse_keep_alive`, between events only.
//! - Redirects are never followed; an `https://` upstream is reached with the entry's TLS
//!   settings (`crate::upstream::client_config`).

mod relay;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio_util::sync::CancellationToken;

pub use relay::{Relay, Rewrite};

use crate::edge::Principal;
use crate::telemetry::error_chain;
use crate::upstream::{Attempt, Credential, TenantSigner, UpstreamConfig, UpstreamTransport};

/// Request headers that cross to the upstream (besides `Mcp-Param-*`), lower case.
pub const FORWARDED: &[&str] = &[
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
    "traceparent",
    "tracestate",
    "x-request-id",
];

/// Answer headers that never come back from the upstream, besides hop-by-hop ones.
const WITHHELD_ANSWER: &[HeaderName] = &[
    header::SET_COOKIE,
    header::WWW_AUTHENTICATE,
    header::CONTENT_LENGTH,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TRAILER,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::STRICT_TRANSPORT_SECURITY,
];

/// Why a request could not be relayed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No answer head within the timeout.
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// Connecting or exchanging failed.
    #[error("the upstream cannot be reached: {0}")]
    Unreachable(String),
    /// The upstream refused mcpgate's own credential.
    #[error("the upstream refused mcpgate's credential (HTTP {0})")]
    CredentialRefused(u16),
    /// The credential could not be read.
    #[error("the upstream credential cannot be read: {0}")]
    Credential(String),
}

/// The one upstream of proxy mode, and how to reach it.
pub struct Proxy {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The upstream's MCP endpoint.
    url: Uri,
    /// `url` as configured (what a DPoP proof names).
    href: String,
    /// The operator's static headers.
    headers: HeaderMap,
    /// What mcpgate presents as itself.
    credential: Credential,
    /// Signs each request for its caller (`sign_tenant_headers`).
    signer: Option<TenantSigner>,
    /// Longest wait for an answer's head.
    timeout: Duration,
    /// How often an idle event stream gets a comment.
    keep_alive: Duration,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// The proxy for `upstream` (an HTTP entry; the configuration checked its URL and
    /// headers), keeping idle event streams alive every `keep_alive`.
    pub fn new(upstream: &UpstreamConfig, keep_alive: Duration) -> anyhow::Result<Self> {
        let UpstreamTransport::Http {
            url,
            headers,
            signing,
            tls,
            ..
        } = &upstream.transport
        else {
            anyhow::bail!("the proxy's upstream must be an HTTP server");
        };
        let url: Uri = url.parse()?;
        let mut static_headers = HeaderMap::new();
        for (name, value) in headers {
            let mut value = HeaderValue::try_from(value.as_str())?;
            value.set_sensitive(true);
            static_headers.insert(HeaderName::try_from(name.as_str())?, value);
        }
        let connector = match tls {
            Some(tls) => crate::upstream::connector(tls, Some(upstream.timeout)),
            None => {
                crate::upstream::connector(&crate::upstream::unused_tls(), Some(upstream.timeout))
            }
        };
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            client,
            href: url.to_string(),
            url,
            headers: static_headers,
            credential: Credential::of(upstream)?,
            signer: signing.clone().map(TenantSigner::new),
            timeout: upstream.timeout,
            keep_alive,
        })
    }

    /// Send the request `head` + `body` of `caller` on to the upstream (its query kept, the
    /// path replaced by the upstream's) and return the answer's head with its body to relay.
    /// `end` ends a relayed stream (the drain); `rewrite` changes JSON-RPC answers on their way.
    pub async fn forward(
        &self,
        head: &http::request::Parts,
        body: Bytes,
        caller: &Principal,
        end: CancellationToken,
        rewrite: Option<Box<dyn Rewrite>>,
    ) -> Result<Response<Body>, ProxyError> {
        let caller_token = head
            .extensions
            .get::<crate::edge::CallerToken>()
            .map(|t| &*t.0);
        let answer = self
            .credential
            .send(
                caller_token,
                (head.method.as_str(), &self.href),
                |presented| {
                    let request = self.outbound(head, body.clone(), caller, presented);
                    async move {
                        let answer =
                            tokio::time::timeout(self.timeout, self.client.request(request?))
                                .await
                                .map_err(|_| ProxyError::Timeout(self.timeout))?
                                .map_err(|e| ProxyError::Unreachable(error_chain(&e)))?;
                        Ok(Attempt::answered(answer))
                    }
                },
                |e| ProxyError::Credential(format!("{e:#}")),
            )
            .await?;
        // The upstream refused mcpgate's own credential (and it could not be renewed): answered
        // here, as the caller's own credential is not the one that is wrong.
        if matches!(
            answer.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(ProxyError::CredentialRefused(answer.status().as_u16()));
        }
        let (mut parts, incoming) = answer.into_parts();
        strip_answer_headers(&mut parts.headers);
        let events = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let keep_alive = events.then_some(self.keep_alive);
        let relay = Relay::new(incoming, events, keep_alive, end, rewrite);
        Ok(Response::from_parts(parts, Body::new(relay)))
    }

    /// The request as the upstream gets it.
    fn outbound(
        &self,
        head: &http::request::Parts,
        body: Bytes,
        caller: &Principal,
        presented: Option<crate::upstream::Presented>,
    ) -> Result<Request<Full<Bytes>>, ProxyError> {
        let uri = match head.uri.query().map(without_credentials) {
            Some(query) if !query.is_empty() => {
                let path = self.url.path_and_query().map_or("/", |p| p.path());
                let mut parts = self.url.clone().into_parts();
                parts.path_and_query = format!("{path}?{query}").parse().ok();
                Uri::from_parts(parts).unwrap_or_else(|_| self.url.clone())
            }
            _ => self.url.clone(),
        };
        let signed = match &self.signer {
            Some(signer) => signer
                .headers(
                    head.method.as_str(),
                    uri.path_and_query().map_or("/", |p| p.as_str()),
                    (&caller.org, &caller.subject),
                    &body,
                )
                .map_err(|e| ProxyError::Credential(format!("{e:#}")))?,
            None => Vec::new(),
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = head.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        for (name, value) in &head.headers {
            let name_text = name.as_str();
            if FORWARDED.contains(&name_text) || name_text.starts_with("mcp-param-") {
                headers.append(name.clone(), value.clone());
            }
        }
        // With spans exported, the upstream continues the trace under this request's span
        // (otherwise the caller's own context crossed above, unchanged).
        if let Some((traceparent, tracestate)) = crate::telemetry::current_trace_context()
            && let Ok(traceparent) = HeaderValue::from_str(&traceparent)
        {
            headers.insert("traceparent", traceparent);
            headers.remove("tracestate");
            if let Some(state) = tracestate.and_then(|s| HeaderValue::from_str(&s).ok()) {
                headers.insert("tracestate", state);
            }
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(presented) = presented {
            presented.apply(headers);
        }
        if head.method == Method::GET {
            headers.remove(header::CONTENT_TYPE);
        }
        request.headers_mut().extend(signed);
        Ok(request)
    }
}

/// Query parameters that carry a caller's credential; they never cross.
const CREDENTIAL_PARAMS: &[&str] = &["key", "api_key", "access_token", "token"];

/// `query` without the parameters that carry a caller's credential.
fn without_credentials(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !pair.is_empty()
                && !CREDENTIAL_PARAMS
                    .iter()
                    .any(|param| param.eq_ignore_ascii_case(name))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Hop-by-hop and withheld headers out of an answer (and whatever `Connection` names).
fn strip_answer_headers(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in WITHHELD_ANSWER.iter().chain(&named) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    headers.remove(crate::edge::REQUEST_ID);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> Proxy {
        let env = std::collections::HashMap::from([("MCPGATE_PROXY", "http://127.0.0.1:9/mcp")]);
        let config = crate::config::resolve(&env, &crate::config::Overrides::default())
            .expect("configuration");
        Proxy::new(
            config.proxy.as_ref().expect("proxy mode"),
            Duration::from_secs(15),
        )
        .expect("proxy")
    }

    fn caller() -> Principal {
        Principal::new("alice", "acme", "admin", crate::edge::AuthVia::DevToken)
    }

    #[test]
    fn only_the_allowlisted_headers_cross_and_the_caller_credential_never_does() {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/mcp?key=caller-key&x=1&access_token=t&Token=u")
            .header("authorization", "Bearer caller-secret")
            .header("cookie", "session=caller")
            .header("x-api-key", "caller-key")
            .header("forwarded", "for=1.2.3.4")
            .header("content-type", "application/json")
            .header("mcp-session-id", "abc")
            .header("mcp-param-region", "eu")
            .header("x-request-id", "req-1")
            .body(())
            .expect("request");
        let (head, ()) = request.into_parts();
        let out = proxy()
            .outbound(&head, Bytes::new(), &caller(), None)
            .expect("outbound");
        let names: Vec<&str> = out.headers().keys().map(|n| n.as_str()).collect();
        assert!(!names.contains(&"authorization"), "{names:?}");
        assert!(!names.contains(&"cookie"), "{names:?}");
        assert!(!names.contains(&"x-api-key"), "{names:?}");
        assert!(!names.contains(&"forwarded"), "{names:?}");
        for kept in [
            "content-type",
            "mcp-session-id",
            "mcp-param-region",
            "x-request-id",
        ] {
            assert!(names.contains(&kept), "{kept} missing from {names:?}");
        }
        assert_eq!(out.uri().to_string(), "http://127.0.0.1:9/mcp?x=1");
        let (head, ()) = Request::get("/mcp?key=k")
            .body(())
            .expect("request")
            .into_parts();
        let out = proxy()
            .outbound(
                &head,
                Bytes::new(),
                &caller(),
                crate::upstream::Presented::bearer("upstream-token".into()).ok(),
            )
            .expect("outbound");
        assert_eq!(out.uri().to_string(), "http://127.0.0.1:9/mcp");
        // mcpgate's own token, not the caller's.
        assert_eq!(out.headers()["authorization"], "Bearer upstream-token");
    }

    #[test]
    fn answers_lose_cookies_challenges_and_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("set-cookie", "a=b"),
            ("www-authenticate", "Bearer"),
            ("connection", "x-private, close"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("x-request-id", "upstream-id"),
            ("content-type", "text/event-stream"),
            ("mcp-session-id", "s1"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        strip_answer_headers(&mut headers);
        let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "mcp-session-id"]);
    }
}

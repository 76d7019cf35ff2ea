//! The HTTP client of an upstream's client sessions: reqwest's, with the gateway's request id
//! of each forwarded request also sent as `X-Request-Id`, so the upstream's access log and the
//! gateway's carry the same id. (rmcp's transport takes only fixed headers; the id travels in
//! the request's `_meta`, from where it is read here.) Each request carries the upstream's
//! credential as it is at that moment, and one the upstream refuses is renewed and the request
//! sent again, where the credential can renew.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

use super::tools::REQUEST_ID_META;
use super::{Attempt, Credential, Presented, Refusal, TenantSigner};

/// reqwest's client, adding `X-Request-Id` to forwarded requests, and signed tenant headers
/// (for the gateway itself: no caller is behind what goes this way to a signing upstream)
/// when the upstream asks for them.
#[derive(Clone)]
pub(super) struct Correlated {
    pub client: reqwest::Client,
    pub signer: Option<TenantSigner>,
    pub credential: Credential,
}

/// The upstream's refusal of a credential in rmcp's errors: its status and challenge (rmcp
/// keeps no other header; a DPoP nonce is asked for again, see [`super::oauth::OAuth`]).
fn refusal(error: &StreamableHttpError<reqwest::Error>) -> Option<Refusal> {
    let (status, challenge) = match error {
        StreamableHttpError::AuthRequired(e) => (401, &e.www_authenticate_header),
        StreamableHttpError::InsufficientScope(e) => (403, &e.www_authenticate_header),
        _ => return None,
    };
    Some(Refusal {
        status,
        challenge: Some(challenge.clone()),
    })
}

/// `headers` with what the credential presents, or rmcp's `auth` token as a bearer token
/// (through rmcp) when it presents nothing.
fn presenting(
    presented: Option<Presented>,
    auth: &Option<String>,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> (Option<String>, HashMap<HeaderName, HeaderValue>) {
    match presented {
        Some(presented) => {
            headers.extend(presented.headers());
            (None, headers)
        }
        None => (auth.clone(), headers),
    }
}

impl Correlated {
    /// `send` (a `method` request to `uri`) with what the credential presents, sent again while
    /// the upstream refuses it and the credential has a new token or nonce.
    async fn authorized<T, F, Fut>(
        &self,
        (method, uri): (&str, &str),
        mut send: F,
    ) -> Result<T, StreamableHttpError<reqwest::Error>>
    where
        F: FnMut(Option<Presented>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        self.credential
            .send(
                None,
                (method, uri),
                |presented| {
                    let sent = send(presented);
                    async move {
                        let result = sent.await;
                        let refusal = result.as_ref().err().and_then(refusal);
                        // rmcp's client shows no headers of an answer it reads.
                        Ok(Attempt {
                            answer: result,
                            refusal,
                            nonce: None,
                        })
                    }
                },
                |e| {
                    StreamableHttpError::Io(std::io::Error::other(format!(
                        "the upstream credential: {e:#}"
                    )))
                },
            )
            .await?
    }

    /// `headers` with the signed tenant headers of `method uri` with `body`, when signing.
    fn signed(
        &self,
        method: &str,
        uri: &str,
        body: &[u8],
        mut headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<HashMap<HeaderName, HeaderValue>, StreamableHttpError<reqwest::Error>> {
        let Some(signer) = &self.signer else {
            return Ok(headers);
        };
        let target = uri
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()))
            .unwrap_or_else(|| "/".to_owned());
        let signed = signer
            .headers(method, &target, TenantSigner::GATEWAY, body)
            .map_err(|e| {
                StreamableHttpError::Io(std::io::Error::other(format!(
                    "cannot sign the request: {e:#}"
                )))
            })?;
        headers.extend(signed);
        Ok(headers)
    }

    /// `headers` of a POST of `message`, signed over the bytes reqwest will send (it encodes
    /// the message with `serde_json::to_vec`, as here).
    fn signed_post(
        &self,
        uri: &str,
        message: &ClientJsonRpcMessage,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<HashMap<HeaderName, HeaderValue>, StreamableHttpError<reqwest::Error>> {
        if self.signer.is_none() {
            return Ok(headers);
        }
        let body = serde_json::to_vec(message).map_err(StreamableHttpError::Deserialize)?;
        self.signed("POST", uri, &body, headers)
    }
}

/// What `slot` holds: a copy when it is `kept` for another attempt, else the value itself
/// (there is no other attempt).
fn reuse<T: Clone>(slot: &mut Option<T>, kept: bool) -> T {
    let value = if kept { slot.clone() } else { slot.take() };
    value.expect("taken only by the one attempt there is")
}

/// `headers`, with `X-Request-Id` when `message` is a request that carries the gateway's id.
fn with_request_id(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return headers;
    };
    // A tool call carries the id in its params' `_meta`; rmcp's own `_meta` of a request
    // lives beside the params.
    let params_meta = match &request.request {
        ClientRequest::CallToolRequest(call) => call.params.meta.as_ref(),
        _ => None,
    };
    let id = params_meta
        .and_then(|meta| meta.get(REQUEST_ID_META))
        .or_else(|| request.request.get_meta().get(REQUEST_ID_META));
    if let Some(serde_json::Value::String(id)) = id
        && let Ok(value) = HeaderValue::try_from(id.as_str())
    {
        headers.insert(HeaderName::from_static(crate::edge::REQUEST_ID), value);
    }
    headers
}

impl Correlated {
    /// POST `message` through reqwest's client (with rmcp's SSE event size limit when given),
    /// with the request id, the credential's token and signed headers of each attempt.
    async fn post(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: Option<usize>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let headers = with_request_id(&message, custom_headers);
        let keep = self.credential.renews();
        let (mut message, mut headers) = (Some(message), Some(headers));
        self.authorized(("POST", &uri), |presented| {
            let (message, headers) = (reuse(&mut message, keep), reuse(&mut headers, keep));
            let (auth, headers) = presenting(presented, &auth_header, headers);
            let headers = self.signed_post(&uri, &message, headers);
            let (uri, session_id) = (uri.clone(), session_id.clone());
            async move {
                let headers = headers?;
                match max_sse_event_size {
                    Some(max) => {
                        self.client
                            .post_message_with_max_sse_event_size(
                                uri, message, session_id, auth, headers, max,
                            )
                            .await
                    }
                    None => {
                        self.client
                            .post_message(uri, message, session_id, auth, headers)
                            .await
                    }
                }
            }
        })
        .await
    }

    /// Open a GET stream through reqwest's client (with rmcp's SSE event size limit when
    /// given), with the credential's token and signed headers of each attempt.
    async fn get(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: Option<usize>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>
    {
        self.authorized(("GET", &uri), |presented| {
            let (auth, headers) = presenting(presented, &auth_header, custom_headers.clone());
            let headers = self.signed("GET", &uri, b"", headers);
            let (uri, session_id, last) = (uri.clone(), session_id.clone(), last_event_id.clone());
            async move {
                let headers = headers?;
                match max_sse_event_size {
                    Some(max) => {
                        self.client
                            .get_stream_with_max_sse_event_size(
                                uri, session_id, last, auth, headers, max,
                            )
                            .await
                    }
                    None => {
                        self.client
                            .get_stream(uri, session_id, last, auth, headers)
                            .await
                    }
                }
            }
        })
        .await
    }
}

impl StreamableHttpClient for Correlated {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post(uri, message, session_id, auth_header, custom_headers, None)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let max = Some(max_sse_event_size);
        self.post(uri, message, session_id, auth_header, custom_headers, max)
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.authorized(("DELETE", &uri), |presented| {
            let (auth, headers) = presenting(presented, &auth_header, custom_headers.clone());
            let headers = self.signed("DELETE", &uri, b"", headers);
            let (uri, session_id) = (uri.clone(), session_id.clone());
            async move {
                self.client
                    .delete_session(uri, session_id, auth, headers?)
                    .await
            }
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.get(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            None,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let max = Some(max_sse_event_size);
        self.get(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max,
        )
        .await
    }
}

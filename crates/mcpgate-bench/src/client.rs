//! One virtual MCP client: its own connections, its own session (legacy era), its own ids.
//!
//! Each virtual client owns a `reqwest::Client`, so clients never share connections, as
//! separate MCP clients would not. Legacy clients run the `initialize` →
//! `notifications/initialized` handshake before the first call, re-run it if the server
//! forgets the session (404), and `DELETE` the session when done.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url, header::HeaderMap};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::protocol::{
    Era, HEADER_SESSION_ID, PreparedRequest, initialize_body, initialized_body, session_headers,
};
use crate::reply::{CallError, ToolReply, ToolResultHead, drain, read_result};
use crate::scenario::{Scenario, ToolCall};

/// Idle keep-alive connections one virtual client may hold.
///
/// hyper hands a connection back to its pool from a background task once a streamed (SSE)
/// body has ended, and the client's next request usually races that hand-back. With room for
/// one idle connection the loser was closed, so legacy runs opened a new connection every few
/// dozen calls; with a little room each client settles on two connections and opens no more.
const IDLE_CONNECTIONS_PER_CLIENT: usize = 4;

/// Where and how to reach the server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub url: Url,
    /// The protocol era to speak.
    pub era: Era,
    /// Headers every request carries: content negotiation, auth and extras.
    pub base_headers: HeaderMap,
    /// Limit on one request, from send to the last byte read.
    pub timeout: Duration,
}

impl Target {
    /// An HTTP client tuned for latency measurement: no proxy, `TCP_NODELAY`, keep-alive.
    pub fn http_client(&self, max_idle: usize) -> Result<reqwest::Client, reqwest::Error> {
        // Built alongside mcpgate, reqwest has rustls without a provider of its own: plain
        // HTTP needs none, but the client refuses to build without one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(max_idle)
            .timeout(self.timeout)
            .build()
    }
}

/// The part of an `InitializeResult` the client needs.
#[derive(Debug, Deserialize)]
struct InitializeHead {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
}

/// A virtual client that sends the calls of a [`Scenario`], one at a time.
#[derive(Debug)]
pub struct VirtualClient {
    http: reqwest::Client,
    target: Arc<Target>,
    scenario: Arc<Scenario>,
    /// One prepared request per scenario call; empty until a legacy session is open.
    requests: Vec<PreparedRequest>,
    /// The legacy session's request headers (base + session id + version), when open.
    session: Option<HeaderMap>,
    next_id: u64,
    streams_left_open: u64,
}

impl VirtualClient {
    /// A client for `target` that will send the calls of `scenario`.
    pub fn new(target: Arc<Target>, scenario: Arc<Scenario>) -> Result<Self, CallError> {
        let http = target.http_client(IDLE_CONNECTIONS_PER_CLIENT)?;
        let requests = match target.era {
            Era::Modern => scenario
                .calls()
                .iter()
                .map(|call| PreparedRequest::modern_tool_call(call, &target.base_headers))
                .collect(),
            Era::Legacy => Vec::new(),
        };
        Ok(Self {
            http,
            target,
            scenario,
            requests,
            session: None,
            next_id: 1,
            streams_left_open: 0,
        })
    }

    /// How many event streams the server kept open after their response (each one cost a
    /// connection, since the generator dropped it).
    pub fn streams_left_open(&self) -> u64 {
        self.streams_left_open
    }

    /// Opens a legacy session (`initialize`, then `notifications/initialized`). Does nothing
    /// in the modern era, which has no handshake.
    pub async fn open(&mut self) -> Result<(), CallError> {
        if self.target.era == Era::Modern {
            return Ok(());
        }
        let mut response = self
            .http
            .post(self.target.url.clone())
            .headers(self.target.base_headers.clone())
            .body(initialize_body())
            .send()
            .await?;
        let session_id = response.headers().get(HEADER_SESSION_ID).cloned();
        let head: InitializeHead = read_result(&mut response, 0).await?;
        drain(&mut response).await;
        let session_id = session_id.ok_or_else(|| {
            CallError::Protocol("initialize response has no Mcp-Session-Id".to_owned())
        })?;
        let headers = session_headers(
            &self.target.base_headers,
            &session_id,
            &head.protocol_version,
        );

        let mut response = self
            .http
            .post(self.target.url.clone())
            .headers(headers.clone())
            .body(initialized_body())
            .send()
            .await?;
        let status = response.status();
        drain(&mut response).await;
        if status != StatusCode::ACCEPTED {
            return Err(CallError::Protocol(format!(
                "notifications/initialized answered {status}, expected 202"
            )));
        }

        self.requests = self
            .scenario
            .calls()
            .iter()
            .map(|call| PreparedRequest::legacy_tool_call(call, &headers))
            .collect();
        self.session = Some(headers);
        Ok(())
    }

    /// Sends scenario call `index` and waits for its reply; the latency on success.
    ///
    /// A legacy client whose session was lost re-opens it first, outside the measured time.
    pub async fn call(&mut self, index: usize) -> Result<Duration, CallError> {
        if self.target.era == Era::Legacy && self.session.is_none() {
            self.open().await?;
        }
        let target = Arc::clone(&self.target);
        self.call_at(&target.url, index).await
    }

    /// Sends scenario call `index` to `url`: the target's, or another replica of the same
    /// server for a legacy session open on the target; the latency on success.
    pub async fn call_at(&mut self, url: &Url, index: usize) -> Result<Duration, CallError> {
        let request = self
            .requests
            .get(index)
            .ok_or_else(|| CallError::Protocol(format!("scenario has no call number {index}")))?;
        let id = self.next_id;
        self.next_id += 1;
        let exchange = exchange::<ToolResultHead>(&self.http, url, request, id).await;
        self.settle(&exchange);
        exchange
            .outcome
            .and_then(ToolResultHead::check)
            .map(|()| exchange.elapsed)
    }

    /// Sends a one-off `tools/call` built for this call only (arguments that change from call
    /// to call), and returns the latency and the tool's result, failed or not, with its
    /// `structuredContent` read as `S`.
    ///
    /// A legacy client opens (or re-opens) its session first, outside the measured time.
    pub async fn call_tool<S: DeserializeOwned>(
        &mut self,
        call: &ToolCall,
    ) -> Result<(Duration, ToolReply<S>), CallError> {
        let request = match self.target.era {
            Era::Modern => PreparedRequest::modern_tool_call(call, &self.target.base_headers),
            Era::Legacy => {
                if self.session.is_none() {
                    self.open().await?;
                }
                let session = self.session.as_ref().ok_or_else(|| {
                    CallError::Protocol("the legacy session did not open".to_owned())
                })?;
                PreparedRequest::legacy_tool_call(call, session)
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let exchange = exchange::<ToolReply<S>>(&self.http, &self.target.url, &request, id).await;
        self.settle(&exchange);
        exchange.outcome.map(|reply| (exchange.elapsed, reply))
    }

    /// Bookkeeping after an exchange: count a stream the server kept open, and forget a
    /// legacy session the server no longer knows (a real client re-initializes).
    fn settle<T>(&mut self, exchange: &Exchange<T>) {
        if !exchange.drained {
            self.streams_left_open += 1;
        }
        if self.target.era == Era::Legacy
            && matches!(
                exchange.outcome,
                Err(CallError::Status(StatusCode::NOT_FOUND))
            )
        {
            self.session = None;
        }
    }

    /// Ends a legacy session with `DELETE`. A server that does not allow clients to end
    /// sessions (405) is not an error.
    pub async fn close(&mut self) -> Result<(), CallError> {
        let Some(headers) = self.session.take() else {
            return Ok(());
        };
        let mut response = self
            .http
            .request(Method::DELETE, self.target.url.clone())
            .headers(headers)
            .send()
            .await?;
        let status = response.status();
        drain(&mut response).await;
        if status.is_success() || status == StatusCode::METHOD_NOT_ALLOWED {
            Ok(())
        } else {
            Err(CallError::Status(status))
        }
    }
}

/// One request and its reply.
struct Exchange<T> {
    /// From send to the reply (the rest of an event stream is not included).
    elapsed: Duration,
    outcome: Result<T, CallError>,
    /// Whether the body ended, so the connection could go back to the pool.
    drained: bool,
}

/// Sends `request` as request `id` and reads the `result` of the reply as `T`.
async fn exchange<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
    request: &PreparedRequest,
    id: u64,
) -> Exchange<T> {
    let started = Instant::now();
    let sent = http
        .post(url.clone())
        .headers(request.headers.clone())
        .body(request.body(id))
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => {
            return Exchange {
                elapsed: started.elapsed(),
                outcome: Err(error.into()),
                drained: true,
            };
        }
    };
    let outcome = read_result::<T>(&mut response, id).await;
    let elapsed = started.elapsed();
    let drained = drain(&mut response).await;
    Exchange {
        elapsed,
        outcome,
        drained,
    }
}

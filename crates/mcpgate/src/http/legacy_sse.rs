//! The legacy HTTP+SSE transport (protocol 2024-11-05), for clients that predate Streamable
//! HTTP; off unless `MCPGATE_LEGACY_SSE=true`.
//!
//! `GET /sse` opens a session: its event stream first names the endpoint to post to
//! (`event: endpoint`, `/messages?sessionId=…`), then carries every message of the server's
//! (`event: message`). `POST /messages?sessionId=…` delivers one client message into the
//! session and is answered 202; the answer comes on the stream.
//!
//! Both routes are behind the same edge as `/mcp` (Host/Origin, body limit, request ids) and
//! the same gate (auth, rate limits). A session is bound to the caller who opened it, in the
//! same owner table and under the same caps as Streamable HTTP sessions: a POST from anyone
//! else naming its id is answered exactly like one naming no session (404), and nothing
//! reaches it. Each delivered message carries the request it came in (and so its caller) to
//! the handler, as rmcp's own transports do. The session ends when its stream does (the
//! client went away, or the server drains).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt as _, StreamExt as _};
use rmcp::ServiceExt as _;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions as _};
use tokio_util::sync::CancellationToken;

use super::edge_layer::read_body;
use super::jsonrpc;
use super::mcp_layer::{admit, session_not_found, sessions_full};
use super::sessions::{Held, Owned, SessionOwner};
use crate::edge::{Gate, reject};
use crate::lifecycle::Lifecycle;
use crate::mcp::Handler;

/// Where clients post.
const MESSAGES: &str = "/messages";
/// Messages waiting for the session (or for the client) before senders wait.
const QUEUE: usize = 64;

/// What the two routes share.
#[derive(Clone)]
pub struct LegacySse {
    pub gate: Gate,
    pub handler: Handler,
    pub sessions: Arc<Owned<SseSession>>,
    pub max_body_bytes: usize,
    pub keep_alive: Duration,
    pub session_retry_after: Duration,
    pub lifecycle: Lifecycle,
}

/// One open session: where its client's messages go, and how it is ended.
pub struct SseSession {
    inbound: futures::channel::mpsc::Sender<ClientJsonRpcMessage>,
    ended: CancellationToken,
}

impl Held for SseSession {
    fn idle_for(&self, _: Duration, _: std::time::Instant) -> bool {
        // Alive exactly as long as its stream.
        false
    }

    fn close(&self) {
        self.ended.cancel();
    }
}

/// `GET /sse` and `POST /messages`.
pub fn routes(state: LegacySse) -> Router {
    Router::new()
        .route("/sse", get(open))
        .route(MESSAGES, post(deliver))
        .with_state(state)
}

/// Ends the session when the stream is dropped (the client went away, or the stream ended).
struct EndOnDrop {
    sessions: Arc<Owned<SseSession>>,
    id: Arc<str>,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.sessions.close(&self.id);
    }
}

async fn open(State(sse): State<LegacySse>, mut request: Request) -> Response {
    let admission = match admit(&sse.gate, &mut request, sse.max_body_bytes).await {
        Ok(admission) => admission,
        Err(refusal) => return refusal,
    };
    let owner = SessionOwner::from(&admission.principal);
    let reservation = match sse.sessions.reserve(owner) {
        Ok(reservation) => reservation,
        Err(full) => return sessions_full(full, sse.session_retry_after),
    };
    let id: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
    let (inbound, from_client) = futures::channel::mpsc::channel(QUEUE);
    let (to_client, outbound) = futures::channel::mpsc::channel(QUEUE);
    let ended = sse.lifecycle.shutdown().child_token();
    reservation.bind(
        id.clone(),
        Arc::new(SseSession {
            inbound,
            ended: ended.clone(),
        }),
    );
    let handler = sse.handler.for_new_session();
    let service_ended = ended.clone();
    let sessions = Arc::clone(&sse.sessions);
    let service_id = id.clone();
    tokio::spawn(async move {
        match handler
            .serve_with_ct((to_client, from_client), service_ended.clone())
            .await
        {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!(error = %e, "legacy SSE session did not initialize"),
        }
        sessions.close(&service_id);
    });
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES}?sessionId={id}"));
    let guard = EndOnDrop {
        sessions: Arc::clone(&sse.sessions),
        id,
    };
    let messages = outbound.map(move |message| {
        let _held = &guard;
        Event::default()
            .event("message")
            .json_data(&message)
            .map_err(axum::Error::new)
    });
    let stop = {
        let draining = sse.lifecycle.draining().clone();
        async move {
            tokio::select! {
                () = draining.cancelled() => {}
                () = ended.cancelled() => {}
            }
        }
    };
    let stream = futures::stream::once(async { Ok(endpoint) })
        .chain(messages)
        .take_until(stop);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(sse.keep_alive))
        .into_response()
}

async fn deliver(State(sse): State<LegacySse>, mut request: Request) -> Response {
    let admission = match admit(&sse.gate, &mut request, sse.max_body_bytes).await {
        Ok(admission) => admission,
        Err(refusal) => return refusal,
    };
    let owner = SessionOwner::from(&admission.principal);
    let id = request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "sessionId")
            .map(|(_, v)| v.into_owned())
    });
    let Some(id) = id else {
        return reject(
            StatusCode::BAD_REQUEST,
            "missing_session",
            "name the session: POST /messages?sessionId=…",
        );
    };
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, sse.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    if let Err(refused) = jsonrpc::check(&bytes) {
        return refused.into_response();
    }
    // Another caller's session is answered as no session at all.
    let Some(session) = sse.sessions.owned_by(&id, &owner) else {
        return session_not_found(None);
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("not an MCP message: {e}"),
            );
        }
    };
    // The handler reads the caller from the request, as over Streamable HTTP.
    if let ClientJsonRpcMessage::Request(request) = &mut message {
        request.request.extensions_mut().insert(parts);
    }
    let mut inbound = session.inbound.clone();
    if inbound.send(message).await.is_err() {
        return session_not_found(None);
    }
    StatusCode::ACCEPTED.into_response()
}

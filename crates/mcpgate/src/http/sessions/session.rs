//! One legacy session: what the client sends in, and which of its SSE streams each message of
//! the server goes out on.
//!
//! rmcp runs the MCP service of a session over a [`Transport`]; ours is [`SessionTransport`].
//! The session is plain state behind a lock, with no task of its own: a message from the
//! client is queued for the service (boxed, so an idle queue holds a few hundred bytes), and a
//! message from the service is routed under the lock, in the order the service sent it:
//!
//! - the answer to a request, its progress notifications and (SEP-2260) the requests the
//!   server makes while handling it go on the stream of the POST that carried the request; the
//!   answer ends that stream;
//! - everything else goes on the standalone (GET) stream, cached until one is open.
//!
//! A stream keeps its last events so a client that lost it can resume with `Last-Event-ID`;
//! a finished POST stream is kept for [`FINISHED_KEPT`] for a late resume (the last
//! [`FINISHED_MAX`] of them).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, GetExtensions, GetMeta, ProgressToken, RequestId,
    ServerJsonRpcMessage, ServerNotification,
};
use rmcp::service::OriginatingRequestId;
use rmcp::transport::Transport;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use tokio::sync::{mpsc, oneshot};

use super::events::{EventId, EventLog, Origin, StreamNo};

/// How long a finished POST stream stays resumable.
const FINISHED_KEPT: Duration = Duration::from_secs(60);

/// Finished POST streams a session keeps at most (the most recent): without a bound a busy
/// session would hold a minute of its answers, ~1 KB each (60 MB at 1,000 calls/s).
const FINISHED_MAX: usize = 256;

/// Client messages waiting for the service: a client that outruns it waits.
const INBOUND: usize = 16;

/// Standalone streams opened while one is already read: kept open (keep-alives only) so
/// competing reconnects do not take the live stream from each other, up to this many.
const MAX_SHADOWS: usize = 32;

/// The session is closed (deleted, expired, or the server is stopping).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the session is closed")]
pub struct SessionClosed;

/// Why a `Last-Event-ID` cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Closed(#[from] SessionClosed),
    /// The id names a stream this session does not have (never had, or forgotten).
    #[error("no stream of this session has that event id")]
    UnknownStream,
}

/// What a message of the server belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Tie {
    Request(RequestId),
    Progress(ProgressToken),
}

/// The stream of one POST that carried a request.
#[derive(Debug)]
struct PostStream {
    log: EventLog,
    /// The request and its progress token, while the request is in flight.
    ties: Vec<Tie>,
    /// The request was answered or cancelled: the stream has ended and nobody reads it (a
    /// resume replays it and ends at once).
    finished: bool,
}

#[derive(Debug)]
struct State {
    /// `None` once the session is closed: the service then reads the end of its input.
    inbound: Option<mpsc::Sender<Box<ClientJsonRpcMessage>>>,
    last_active: Instant,
    next_stream: StreamNo,
    /// POST streams in flight and finished ones kept for a resume.
    posts: HashMap<StreamNo, PostStream>,
    /// The finished ones among `posts`, oldest first, with when each finished. All are kept
    /// equally long, so they are forgotten in this order, and a request never walks the rest
    /// (walking them all on each request cost ~125,000 instructions a call at 2,000 kept).
    finished: VecDeque<(Instant, StreamNo)>,
    ties: HashMap<Tie, StreamNo>,
    standalone: EventLog,
    shadows: Vec<mpsc::Sender<ServerSseMessage>>,
    /// The `initialize` request's id and who waits for its answer.
    initializing: Option<(RequestId, oneshot::Sender<ServerJsonRpcMessage>)>,
}

/// One legacy session (see the module docs).
#[derive(Debug)]
pub struct Session {
    state: Mutex<State>,
    /// The `retry` of the priming event that opens each POST stream.
    sse_retry: Option<Duration>,
    /// This replica's name in event ids, when the session is shared by replicas.
    replica: Option<Arc<str>>,
}

impl Session {
    /// A new session and the transport its MCP service runs over.
    #[cfg(test)]
    pub(super) fn new(sse_retry: Option<Duration>) -> (Arc<Self>, SessionTransport) {
        Self::on_replica(sse_retry, None)
    }

    /// A new session and the transport its MCP service runs over; its event ids name
    /// `replica` when given (a shared session).
    pub(super) fn on_replica(
        sse_retry: Option<Duration>,
        replica: Option<Arc<str>>,
    ) -> (Arc<Self>, SessionTransport) {
        let (tx, rx) = mpsc::channel(INBOUND);
        let session = Arc::new(Self {
            state: Mutex::new(State {
                inbound: Some(tx),
                last_active: Instant::now(),
                next_stream: 0,
                posts: HashMap::new(),
                finished: VecDeque::new(),
                ties: HashMap::new(),
                // Index 0 is the priming event rmcp puts before a standalone stream.
                standalone: EventLog::with_suffix(
                    None,
                    1,
                    replica.as_deref().map(|r| Origin::suffix(r, None)),
                ),
                shadows: Vec::new(),
                initializing: None,
            }),
            sse_retry,
            replica,
        });
        let transport = SessionTransport {
            session: Arc::clone(&session),
            inbound: rx,
        };
        (session, transport)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `message` for the service, outside the lock (a full queue waits).
    async fn send_in(
        &self,
        inbound: mpsc::Sender<Box<ClientJsonRpcMessage>>,
        message: ClientJsonRpcMessage,
    ) -> Result<(), SessionClosed> {
        inbound
            .send(Box::new(message))
            .await
            .map_err(|_| SessionClosed)
    }

    /// Pass the `initialize` request to the service and wait for its answer.
    pub(super) async fn initialize(
        &self,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, SessionClosed> {
        let (tx, rx) = oneshot::channel();
        let inbound = {
            let mut state = self.lock();
            let inbound = state.inbound.clone().ok_or(SessionClosed)?;
            if let ClientJsonRpcMessage::Request(request) = &message {
                state.initializing = Some((request.id.clone(), tx));
            }
            inbound
        };
        self.send_in(inbound, message).await?;
        rx.await.map_err(|_| SessionClosed)
    }

    /// Open the stream of a POST carrying `message` (a request), then pass the request on.
    pub(super) async fn post(
        &self,
        message: ClientJsonRpcMessage,
    ) -> Result<mpsc::Receiver<ServerSseMessage>, SessionClosed> {
        let (inbound, reader) = {
            let mut state = self.lock();
            let inbound = state.inbound.clone().ok_or(SessionClosed)?;
            state.touch();
            state.forget_finished();
            let no = state.next_stream;
            state.next_stream += 1;
            let request = match &message {
                ClientJsonRpcMessage::Request(request) => Some(&request.id),
                _ => None,
            };
            let suffix = self
                .replica
                .as_deref()
                .map(|replica| Origin::suffix(replica, request));
            let mut log = EventLog::with_suffix(Some(no), 0, suffix);
            let reader = log.attach(None);
            if let Some(retry) = self.sse_retry {
                log.push(ServerSseMessage::retry(retry));
            }
            let mut ties = Vec::new();
            if let ClientJsonRpcMessage::Request(request) = &message {
                ties.push(Tie::Request(request.id.clone()));
                if let Some(token) = request.request.get_meta().get_progress_token() {
                    ties.push(Tie::Progress(token));
                }
            }
            for tie in &ties {
                state.ties.insert(tie.clone(), no);
            }
            state.posts.insert(
                no,
                PostStream {
                    log,
                    ties,
                    finished: false,
                },
            );
            (inbound, reader)
        };
        self.send_in(inbound, message).await?;
        Ok(reader)
    }

    /// Pass on a notification, or an answer to a request of the server.
    pub(super) async fn accept(&self, message: ClientJsonRpcMessage) -> Result<(), SessionClosed> {
        let inbound = {
            let mut state = self.lock();
            let inbound = state.inbound.clone().ok_or(SessionClosed)?;
            state.touch();
            if let ClientJsonRpcMessage::Notification(notification) = &message
                && let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                && let Some(id) = &cancelled.params.request_id
            {
                // The client gave up on the request: its stream ends.
                if let Some(no) = state.ties.get(&Tie::Request(id.clone())).copied() {
                    state.finish(no);
                }
            }
            inbound
        };
        self.send_in(inbound, message).await
    }

    /// Open the standalone stream (GET), with the events that waited for it.
    pub(super) fn standalone(&self) -> Result<mpsc::Receiver<ServerSseMessage>, SessionClosed> {
        let mut state = self.lock();
        state.inbound.as_ref().ok_or(SessionClosed)?;
        state.touch();
        Ok(state.standalone_reader(None))
    }

    /// Reopen the stream `last` came from, with the events after it.
    pub(super) fn resume(
        &self,
        last: EventId,
    ) -> Result<mpsc::Receiver<ServerSseMessage>, ResumeError> {
        let mut state = self.lock();
        state.inbound.as_ref().ok_or(SessionClosed)?;
        state.touch();
        state.forget_finished();
        let Some(no) = last.stream else {
            return Ok(state.standalone_reader(Some(last.index)));
        };
        let post = state.posts.get_mut(&no).ok_or(ResumeError::UnknownStream)?;
        let reader = post.log.attach(Some(last.index));
        if post.finished {
            // Replayed to the end: the stream closes after it.
            post.log.detach();
        }
        Ok(reader)
    }

    /// The standalone stream's cached events after `last`, without reading the stream (for
    /// a replica that relays them to a client now reading its own).
    pub(super) fn replay_standalone(&self, after: u64) -> Vec<ServerSseMessage> {
        self.lock().standalone.cached_after(after)
    }

    /// Route a message of the service (see the module docs). Never waits.
    fn deliver(&self, message: ServerJsonRpcMessage) {
        let mut state = self.lock();
        if state.inbound.is_none() {
            tracing::trace!("a message for a closed session is dropped");
            return;
        }
        state.touch();
        let (tie, last) = tie_of(&message);
        // The answer to `initialize` (a result or an error) goes back to who waits for it.
        if let Some(Tie::Request(id)) = &tie
            && last
            && state
                .initializing
                .as_ref()
                .is_some_and(|(waited, _)| waited == id)
            && let Some((_, waiter)) = state.initializing.take()
        {
            let _ = waiter.send(message);
            return;
        }
        let post = tie.and_then(|tie| state.ties.get(&tie).copied());
        let event = ServerSseMessage::from_message(message);
        match post {
            Some(no) => {
                if let Some(post) = state.posts.get_mut(&no) {
                    post.log.push(event);
                }
                if last {
                    state.finish(no);
                }
            }
            None => state.standalone.push(event),
        }
    }

    /// Close the session: the service reads the end of its input, every stream ends.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.inbound = None;
        state.initializing = None;
        state.posts.clear();
        state.finished.clear();
        state.ties.clear();
        state.standalone.detach();
        state.shadows.clear();
    }

    /// Whether the session has been idle for `idle`: no request in flight, no stream read, and
    /// nothing sent either way. (A finished POST stream is never read, so only the streams in
    /// flight count, and they are those not finished.)
    pub(super) fn idle_for(&self, idle: Duration, now: Instant) -> bool {
        let state = self.lock();
        let busy = state.posts.len() > state.finished.len()
            || state.standalone.is_read()
            || state.shadows.iter().any(|tx| !tx.is_closed());
        !busy && now.saturating_duration_since(state.last_active) >= idle
    }
}

impl State {
    fn touch(&mut self) {
        self.last_active = Instant::now();
    }

    /// The request of POST stream `no` is answered or cancelled: its stream ends, and stays
    /// resumable for [`FINISHED_KEPT`] (while it is among the last [`FINISHED_MAX`]).
    fn finish(&mut self, no: StreamNo) {
        let Some(post) = self.posts.get_mut(&no).filter(|post| !post.finished) else {
            return;
        };
        post.log.detach();
        post.finished = true;
        for tie in post.ties.drain(..) {
            self.ties.remove(&tie);
        }
        self.finished.push_back((Instant::now(), no));
        if self.finished.len() > FINISHED_MAX
            && let Some((_, oldest)) = self.finished.pop_front()
        {
            self.posts.remove(&oldest);
        }
    }

    /// Forget the finished POST streams kept for [`FINISHED_KEPT`]: the oldest first, so only
    /// those that go are looked at.
    fn forget_finished(&mut self) {
        let now = Instant::now();
        while let Some(&(at, no)) = self.finished.front()
            && now.saturating_duration_since(at) >= FINISHED_KEPT
        {
            self.finished.pop_front();
            self.posts.remove(&no);
        }
    }

    /// A reader of the standalone stream: the stream itself when nobody reads it, else a
    /// shadow that only carries keep-alives.
    fn standalone_reader(&mut self, after: Option<u64>) -> mpsc::Receiver<ServerSseMessage> {
        if !self.standalone.is_read() {
            return self.standalone.attach(after);
        }
        self.shadows.retain(|tx| !tx.is_closed());
        if self.shadows.len() >= MAX_SHADOWS {
            self.shadows.remove(0);
        }
        let (tx, rx) = mpsc::channel(1);
        self.shadows.push(tx);
        rx
    }
}

/// The request a message of the server belongs to, and whether it is the request's answer.
fn tie_of(message: &ServerJsonRpcMessage) -> (Option<Tie>, bool) {
    match message {
        ServerJsonRpcMessage::Response(response) => (Some(Tie::Request(response.id.clone())), true),
        ServerJsonRpcMessage::Error(error) => (error.id.clone().map(Tie::Request), true),
        ServerJsonRpcMessage::Request(request) => (
            request
                .request
                .extensions()
                .get::<OriginatingRequestId>()
                .map(|origin| Tie::Request(origin.0.clone())),
            false,
        ),
        ServerJsonRpcMessage::Notification(notification) => {
            let tie = match &notification.notification {
                ServerNotification::ProgressNotification(progress) => {
                    Some(Tie::Progress(progress.params.progress_token.clone()))
                }
                ServerNotification::CancelledNotification(cancelled) => {
                    cancelled.params.request_id.clone().map(Tie::Request)
                }
                _ => None,
            };
            (tie, false)
        }
    }
}

/// The transport a session's MCP service runs over: it reads what clients sent and hands
/// what it sends to [`Session`] for routing.
#[derive(Debug)]
pub struct SessionTransport {
    session: Arc<Session>,
    inbound: mpsc::Receiver<Box<ClientJsonRpcMessage>>,
}

impl Transport<RoleServer> for SessionTransport {
    type Error = SessionClosed;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), SessionClosed>> + Send + 'static {
        // Routed now, not when the future runs: rmcp may run sends concurrently, and the
        // order of a stream's events is the order the service sent them in.
        self.session.deliver(item);
        std::future::ready(Ok(()))
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.inbound.recv().await.map(|message| *message)
    }

    async fn close(&mut self) -> Result<(), SessionClosed> {
        self.session.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests;

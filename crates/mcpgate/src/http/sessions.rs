//! Legacy sessions, bound to the caller who created them and capped in number.
//!
//! rmcp's session manager finds a session by its id alone, so anyone who learned an id could
//! post on it, end it, or resume its stream (and take its answers). Here every session records
//! who created it — auth mode, org, subject and, for a JWT, the issuer — and a request from
//! anyone else on that id is answered exactly like a request on an unknown id: 404, nothing
//! touched, no stream moved. The id is a handle, never a credential.
//!
//! [`Sessions`] is our own implementation of rmcp's session manager (rmcp's local one keeps a
//! worker task and seven channel blocks per session, ~107 KB idle; a [`Session`] here is state
//! behind a lock). rmcp's calls into a session manager carry no request, so the MCP layer runs each request inside [`SessionCaller::scope`], a task-local
//! naming the caller (and, for an `initialize`, the place it reserved): `create_session` binds
//! the new id to that caller and `has_session` answers yes only to it. rmcp asks `has_session`
//! before it routes a POST or a GET (stream or resume) into a session; a DELETE it does not ask
//! about, so the MCP layer checks [`Sessions::is_owned_by`] itself before one.
//!
//! Live sessions are capped in all and per authenticated principal (the default principal of
//! auth `none` is everyone's, so only the total bounds it): an `initialize` past either cap is
//! refused before rmcp makes anything, and the place is reserved atomically, so concurrent
//! `initialize` calls cannot overshoot. A session nobody has used for the idle timeout (no
//! request in flight, no stream open) is closed by a sweeper.

mod events;
mod relay;
mod session;
mod shared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, ServerSseMessage, SessionId,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use prometheus_client::metrics::gauge::Gauge;

use crate::edge::{AuthVia, Principal};
use crate::lifecycle::Lifecycle;

pub use events::BadEventId;
use futures::StreamExt as _;
pub use session::Session;
pub use session::{ResumeError, SessionClosed, SessionTransport};
pub use shared::SharedSessions;

/// Who created a session: what must match for a request to use it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOwner {
    via: AuthVia,
    org: Arc<str>,
    subject: Arc<str>,
    issuer: Option<Arc<str>>,
}

impl From<&Principal> for SessionOwner {
    fn from(principal: &Principal) -> Self {
        Self {
            via: principal.via,
            org: Arc::clone(&principal.org),
            subject: Arc::clone(&principal.subject),
            issuer: principal.issuer.clone(),
        }
    }
}

impl SessionOwner {
    /// Whether the per-principal cap applies: an authenticated caller. The default principal
    /// is everyone's, so only the total bounds it.
    fn capped(&self) -> bool {
        self.via != AuthVia::Default
    }
}

/// Caps and timings of legacy sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Live sessions in all.
    pub max_sessions: usize,
    /// Live sessions of one authenticated principal.
    pub max_per_principal: usize,
    /// A session unused this long is closed.
    pub idle_timeout: Duration,
    /// The `retry` hint of the priming event that opens each POST stream.
    pub sse_retry: Option<Duration>,
}

/// Which cap refused a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsFull {
    /// The server holds as many sessions as it may.
    Server,
    /// The caller holds as many sessions as one principal may.
    Principal,
}

/// Errors of the session manager, as rmcp sees them (it answers 500; the MCP layer turns the
/// answer on a session that is gone into a 404).
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// No live session has that id (or the caller does not own it).
    #[error("session not found")]
    NotFound,
    /// The session closed while the request was on its way.
    #[error(transparent)]
    Closed(#[from] SessionClosed),
    /// A `Last-Event-ID` that cannot be resumed (rmcp answers it with an empty stream).
    #[error(transparent)]
    Resume(#[from] ResumeError),
    #[error(transparent)]
    BadEventId(#[from] BadEventId),
    /// `create_session` outside a request that reserved a place (not through the MCP layer).
    #[error("no session place was reserved for this request")]
    NotReserved,
    /// A shared session cannot be made here: a cap is reached.
    #[error("no place for the session on this replica: {0:?}")]
    Full(SessionsFull),
}

/// What a session table holds for each id: a served session, or (proxy mode) the record of
/// an upstream's session.
pub trait Held: Send + Sync + 'static {
    /// Whether nobody has used it for `idle` as of `now`.
    fn idle_for(&self, idle: Duration, now: Instant) -> bool;
    /// It leaves the table (closed, expired, or the server stops).
    fn close(&self);
}

impl Held for Session {
    fn idle_for(&self, idle: Duration, now: Instant) -> bool {
        Session::idle_for(self, idle, now)
    }

    fn close(&self) {
        Session::close(self);
    }
}

/// A live session and who created it.
#[derive(Debug)]
struct Live<S> {
    owner: Arc<SessionOwner>,
    session: Arc<S>,
}

/// The live sessions, and how many each owner holds (reservations included).
#[derive(Debug)]
struct Table<S> {
    live: HashMap<SessionId, Live<S>>,
    per_owner: HashMap<Arc<SessionOwner>, usize>,
    total: usize,
    /// `total`, for `/metrics`.
    gauge: Gauge,
}

impl<S> Table<S> {
    fn release(&mut self, owner: &Arc<SessionOwner>) {
        self.total = self.total.saturating_sub(1);
        self.gauge.set(self.total as i64);
        if let Some(count) = self.per_owner.get_mut(owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(owner);
            }
        }
    }

    /// Take session `id` out of the table and give its place back.
    fn remove(&mut self, id: &str) -> Option<Arc<S>> {
        let live = self.live.remove(id)?;
        self.release(&live.owner);
        Some(live.session)
    }
}

type SharedTable<S> = Arc<Mutex<Table<S>>>;

fn lock<S>(table: &SharedTable<S>) -> MutexGuard<'_, Table<S>> {
    table.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sessions bound to their creators and capped (see the module docs), whatever they hold.
#[derive(Debug)]
pub struct Owned<S> {
    table: SharedTable<S>,
    limits: SessionLimits,
    /// The records replicas share, when sessions are shared (served sessions only).
    shared: Option<Arc<SharedSessions>>,
}

/// In-memory legacy sessions served here.
pub type Sessions = Owned<Session>;

impl<S: Held> Owned<S> {
    /// An empty table capped by `limits`, counted in `gauge`. Its sweeper of idle sessions is
    /// one of the app's background tasks (it needs a Tokio runtime; without one nothing
    /// expires).
    pub fn new(limits: SessionLimits, gauge: Gauge, lifecycle: &Lifecycle) -> Self {
        let table = Arc::new(Mutex::new(Table {
            live: HashMap::new(),
            per_owner: HashMap::new(),
            total: 0,
            gauge,
        }));
        if tokio::runtime::Handle::try_current().is_ok() {
            let (table, idle) = (Arc::downgrade(&table), limits.idle_timeout);
            lifecycle
                .tasks()
                .spawn("session sweeper", move |stop| async move {
                    sweep(table, idle, stop).await;
                    Ok(())
                });
        }
        Self {
            table,
            limits,
            shared: None,
        }
    }

    /// Reserve a place for a session `owner` is about to create, or say which cap is reached.
    pub fn reserve(&self, owner: SessionOwner) -> Result<Reservation<S>, SessionsFull> {
        let owner = Arc::new(owner);
        let mut table = lock(&self.table);
        self.room(&table, &owner)?;
        table.total += 1;
        table.gauge.set(table.total as i64);
        *table.per_owner.entry(Arc::clone(&owner)).or_default() += 1;
        Ok(Reservation {
            table: Arc::clone(&self.table),
            owner,
            bound: false,
        })
    }

    /// Whether `table` has room for one more session of `owner`, or which cap is reached.
    fn room(&self, table: &Table<S>, owner: &SessionOwner) -> Result<(), SessionsFull> {
        if table.total >= self.limits.max_sessions {
            return Err(SessionsFull::Server);
        }
        let held = table.per_owner.get(owner).copied().unwrap_or(0);
        if owner.capped() && held >= self.limits.max_per_principal {
            return Err(SessionsFull::Principal);
        }
        Ok(())
    }

    /// Whether `id` names a live session created by `owner`. Every other answer — no such
    /// session, another caller's — is the same `false`.
    pub fn is_owned_by(&self, id: &str, owner: &SessionOwner) -> bool {
        lock(&self.table)
            .live
            .get(id)
            .is_some_and(|live| *live.owner == *owner)
    }

    /// Live sessions (and places reserved for sessions being created).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.table).total
    }

    /// Session `id` if `owner` created it and it has not expired (one that has is closed now,
    /// not at the sweeper's next round).
    pub fn owned_by(&self, id: &str, owner: &SessionOwner) -> Option<Arc<S>> {
        let expired = {
            let mut table = lock(&self.table);
            let live = table.live.get(id).filter(|live| *live.owner == *owner)?;
            if !live
                .session
                .idle_for(self.limits.idle_timeout, Instant::now())
            {
                return Some(Arc::clone(&live.session));
            }
            table.remove(id)
        };
        // Closed outside the table's lock, as everywhere.
        if let Some(session) = expired {
            session.close();
        }
        None
    }

    /// Live session `id`, whoever created it.
    fn get(&self, id: &str) -> Option<Arc<S>> {
        lock(&self.table)
            .live
            .get(id)
            .map(|live| Arc::clone(&live.session))
    }

    /// End session `id`: out of the table, its place given back, closed.
    pub fn close(&self, id: &str) {
        let session = lock(&self.table).remove(id);
        if let Some(session) = session {
            session.close();
        }
    }
}

impl Sessions {
    /// Sessions recorded in `shared` too, so every replica can continue them; the records of
    /// those used here are kept fresh by one of the app's background tasks.
    pub fn shared(
        limits: SessionLimits,
        gauge: Gauge,
        lifecycle: &Lifecycle,
        shared: Arc<SharedSessions>,
    ) -> Arc<Self> {
        let sessions = Arc::new(Self {
            shared: Some(Arc::clone(&shared)),
            ..Self::new(limits, gauge, lifecycle)
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            let (weak, relay) = (Arc::downgrade(&sessions), Arc::clone(shared.relay()));
            lifecycle
                .tasks()
                .spawn("stream relay", move |stop| async move {
                    relay::serve(weak, relay, stop).await;
                    Ok(())
                });
            let weak = Arc::downgrade(&sessions);
            lifecycle
                .tasks()
                .spawn("shared session keeper", move |stop| async move {
                    shared::keep(weak, shared, stop).await;
                    Ok(())
                });
        }
        sessions
    }

    /// The store rmcp restores sessions from, when sessions are shared.
    pub fn store(&self) -> Option<Arc<SharedSessions>> {
        self.shared.clone()
    }

    /// For a request of `owner` on session `id`: which cap keeps this replica from restoring
    /// it, when it is a shared session this replica does not hold (the restore itself checks
    /// again; this only lets the answer be a 503 rather than an unknown session).
    pub fn restore_refused(&self, id: &str, owner: &SessionOwner) -> Option<SessionsFull> {
        self.shared.as_ref()?;
        let table = lock(&self.table);
        if table.live.contains_key(id) {
            return None;
        }
        self.room(&table, owner).err()
    }

    /// Whether `owner` may end session `id`: one of its sessions here, or (shared) anywhere.
    pub async fn may_end(&self, id: &str, owner: &SessionOwner) -> bool {
        if self.is_owned_by(id, owner) {
            return true;
        }
        match &self.shared {
            Some(shared) => shared.owner(id).await.is_some_and(|o| o == *owner),
            None => false,
        }
    }

    /// Ids of the sessions held here that were in use within `window` before `now`.
    fn used_since(&self, now: Instant, window: Duration) -> Vec<String> {
        lock(&self.table)
            .live
            .iter()
            .filter(|(_, live)| !live.session.idle_for(window, now))
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// Whether the caller of the current request owns `id`, a session that has not expired.
    fn caller_owns(&self, id: &SessionId) -> bool {
        CALLER
            .try_with(|caller| self.owned_by(id, &caller.owner).is_some())
            .unwrap_or(false)
    }

    /// Live session `id` (rmcp asked `has_session` for the caller before routing to it).
    fn session(&self, id: &str) -> Result<Arc<Session>, SessionsError> {
        self.get(id).ok_or(SessionsError::NotFound)
    }

    /// A new session, whose event ids name this replica when sessions are shared.
    fn new_session(&self) -> (Arc<Session>, SessionTransport) {
        let replica = self
            .shared
            .as_ref()
            .map(|s| Arc::clone(s.relay().replica()));
        Session::on_replica(self.limits.sse_retry, replica)
    }
}

/// Close every session idle for `idle`, checking a few times per `idle`, until `shutdown`
/// or until the table is gone.
async fn sweep<S: Held>(table: Weak<Mutex<Table<S>>>, idle: Duration, shutdown: CancellationToken) {
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        let Some(table) = table.upgrade() else {
            return;
        };
        let now = Instant::now();
        let expired: Vec<Arc<S>> = {
            let mut table = lock(&table);
            let ids: Vec<SessionId> = table
                .live
                .iter()
                .filter(|(_, live)| live.session.idle_for(idle, now))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| table.remove(id)).collect()
        };
        if !expired.is_empty() {
            tracing::debug!(count = expired.len(), "idle sessions closed");
        }
        for session in expired {
            session.close();
        }
    }
}

/// A place held for one session from the `initialize` request until the session is created
/// (then it is the session's) or the request ends without one (then it is given back).
#[derive(Debug)]
pub struct Reservation<S = Session> {
    table: SharedTable<S>,
    owner: Arc<SessionOwner>,
    bound: bool,
}

impl<S> Reservation<S> {
    /// The place is now `session`'s, named `id`: it is given back when the session closes.
    pub fn bind(mut self, id: SessionId, session: Arc<S>) {
        let owner = Arc::clone(&self.owner);
        lock(&self.table).live.insert(id, Live { owner, session });
        self.bound = true;
    }
}

impl<S> Drop for Reservation<S> {
    fn drop(&mut self) {
        if !self.bound {
            lock(&self.table).release(&self.owner);
        }
    }
}

/// The caller of one MCP request, as the session manager sees it.
#[derive(Debug)]
pub struct SessionCaller {
    owner: SessionOwner,
    reservation: Mutex<Option<Reservation>>,
}

tokio::task_local! {
    static CALLER: SessionCaller;
}

impl SessionCaller {
    /// The caller `owner`, with the place it reserved when the request is an `initialize`.
    pub fn new(owner: SessionOwner, reservation: Option<Reservation>) -> Self {
        Self {
            owner,
            reservation: Mutex::new(reservation),
        }
    }

    /// Run `work` (the request, through rmcp) as this caller.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CALLER.scope(self, work).await
    }
}

/// The events a reader receives, as the stream rmcp writes out.
fn events(
    mut reader: mpsc::Receiver<ServerSseMessage>,
) -> impl Stream<Item = ServerSseMessage> + Send + Sync + 'static {
    futures::stream::poll_fn(move |cx| reader.poll_recv(cx))
}

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = SessionTransport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let reservation = CALLER
            .try_with(|caller| {
                caller
                    .reservation
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
            })
            .ok()
            .flatten()
            .ok_or(SessionsError::NotReserved)?;
        // 122 random bits: an id cannot be guessed (and is no credential anyway).
        let id: SessionId = uuid::Uuid::new_v4().to_string().into();
        let (session, transport) = self.new_session();
        reservation.bind(id.clone(), session);
        Ok((id, transport))
    }

    /// A shared session another replica created, made here for the caller (rmcp found its
    /// record, which names this caller, and replays `initialize` next).
    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        if self.shared.is_none() {
            return Ok(RestoreOutcome::NotSupported);
        }
        if self.get(&id).is_some() {
            return Ok(RestoreOutcome::AlreadyPresent);
        }
        let owner = CALLER
            .try_with(|caller| caller.owner.clone())
            .map_err(|_| SessionsError::NotReserved)?;
        let reservation = self.reserve(owner).map_err(SessionsError::Full)?;
        let (session, transport) = self.new_session();
        reservation.bind(id, session);
        Ok(RestoreOutcome::Restored(transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.session(id)?.initialize(message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.caller_owns(id))
    }

    /// Called for a DELETE (after the MCP layer checked the owner) and by rmcp when a session's
    /// service ends (closed, expired, shutdown), outside any request.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.close(id);
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(events(self.session(id)?.post(message).await?))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        let session = self.session(id)?;
        // A shared session's answer to a request of the server, or a cancellation, may be for
        // a request another replica serves: every replica holding the session gets it.
        if let Some(shared) = &self.shared
            && relay::for_every_replica(&message)
        {
            shared.relay().broadcast(id, Some(&message)).await;
        }
        Ok(session.accept(message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(events(self.session(id)?.standalone()?))
    }

    /// Resume the stream `last_event_id` came from: here, or (a shared session's stream held by
    /// another replica) relayed from there (see `relay`).
    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let (last, origin) = events::parse_last(&last_event_id)?;
        let session = self.session(id)?;
        let relay = self.shared.as_ref().map(|s| s.relay());
        let remote = match (origin, relay) {
            (Some(origin), Some(relay)) if *origin.replica != **relay.replica() => {
                Some((origin, relay))
            }
            _ => None,
        };
        let Some((origin, relay)) = remote else {
            return Ok(events(session.resume(last)?).left_stream());
        };
        // The standalone stream: what the other replica cached, then this replica's own.
        let own = match last.stream {
            Some(_) => None,
            None => Some(events(session.standalone()?)),
        };
        let relayed = events(relay.follow(id, &last_event_id, origin));
        Ok(relayed
            .chain(futures::stream::iter(own).flatten())
            .right_stream())
    }
}

#[cfg(test)]
mod tests;

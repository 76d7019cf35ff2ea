//! Legacy sessions, bound to the caller who created them and capped in number.
//!
//! rmcp's session manager finds a session by its id alone, so anyone who learned an id could
//! post on it, end it, or resume its stream (and take its answers). Here every session records
//! who created it — auth mode, org, subject and, for a JWT, the issuer — and a request from
//! anyone else on that id is answered exactly like a request on an unknown id: 404, nothing
//! touched, no stream moved. The id is a handle, never a credential.
//!
//! [`Sessions`] wraps rmcp's [`LocalSessionManager`]. rmcp's calls into a session manager carry
//! no request, so the MCP layer runs each request inside [`SessionCaller::scope`], a task-local
//! naming the caller (and, for an `initialize`, the place it reserved): `create_session` binds
//! the new id to that caller and `has_session` answers yes only to it. rmcp asks `has_session`
//! before it routes a POST or a GET (stream or resume) into a session; a DELETE it does not ask
//! about, so the MCP layer checks [`Sessions::is_owned_by`] itself before one.
//!
//! Live sessions are capped in all and per authenticated principal (the default principal of
//! auth `none` is everyone's, so only the total bounds it): an `initialize` past either cap is
//! refused before rmcp makes anything, and the place is reserved atomically, so concurrent
//! `initialize` calls cannot overshoot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId};

use prometheus_client::metrics::gauge::Gauge;

use crate::edge::{AuthVia, Principal};

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

/// Caps on live legacy sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Live sessions in all.
    pub max_sessions: usize,
    /// Live sessions of one authenticated principal.
    pub max_per_principal: usize,
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
    /// rmcp's own session manager failed (the session is gone or its worker ended).
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
    /// `create_session` outside a request that reserved a place (not through the MCP layer).
    #[error("no session place was reserved for this request")]
    NotReserved,
}

/// Who owns which session, and how many each owner holds (reservations included).
#[derive(Debug, Default)]
struct Table {
    owners: HashMap<SessionId, Arc<SessionOwner>>,
    per_owner: HashMap<Arc<SessionOwner>, usize>,
    total: usize,
    /// `total`, for `/metrics`.
    gauge: Gauge,
}

impl Table {
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
}

type SharedTable = Arc<Mutex<Table>>;

fn lock(table: &SharedTable) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(|e| e.into_inner())
}

/// rmcp's in-memory sessions, bound to their creators and capped (see the module docs).
#[derive(Debug)]
pub struct Sessions {
    inner: LocalSessionManager,
    table: SharedTable,
    limits: SessionLimits,
}

impl Sessions {
    /// Sessions over rmcp's local manager `inner`, capped by `limits`, counted in `gauge`.
    pub fn new(inner: LocalSessionManager, limits: SessionLimits, gauge: Gauge) -> Self {
        let table = Table {
            gauge,
            ..Table::default()
        };
        Self {
            inner,
            table: Arc::new(Mutex::new(table)),
            limits,
        }
    }

    /// Reserve a place for a session `owner` is about to create, or say which cap is reached.
    pub fn reserve(&self, owner: SessionOwner) -> Result<Reservation, SessionsFull> {
        let owner = Arc::new(owner);
        let mut table = lock(&self.table);
        if table.total >= self.limits.max_sessions {
            return Err(SessionsFull::Server);
        }
        let held = table.per_owner.get(&owner).copied().unwrap_or(0);
        if owner.capped() && held >= self.limits.max_per_principal {
            return Err(SessionsFull::Principal);
        }
        table.total += 1;
        table.gauge.set(table.total as i64);
        *table.per_owner.entry(Arc::clone(&owner)).or_default() += 1;
        Ok(Reservation {
            table: Arc::clone(&self.table),
            owner,
            bound: false,
        })
    }

    /// Whether `id` names a live session created by `owner`. Every other answer — no such
    /// session, another caller's — is the same `false`.
    pub fn is_owned_by(&self, id: &str, owner: &SessionOwner) -> bool {
        lock(&self.table)
            .owners
            .get(id)
            .is_some_and(|o| **o == *owner)
    }

    /// Live sessions (and places reserved for sessions being created).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.table).total
    }

    /// Whether the caller of the current request owns `id`.
    fn caller_owns(&self, id: &SessionId) -> bool {
        CALLER
            .try_with(|caller| self.is_owned_by(id, &caller.owner))
            .unwrap_or(false)
    }
}

/// A place held for one session from the `initialize` request until rmcp creates the session
/// (then it is the session's) or the request ends without one (then it is given back).
#[derive(Debug)]
pub struct Reservation {
    table: SharedTable,
    owner: Arc<SessionOwner>,
    bound: bool,
}

impl Reservation {
    /// The place is now session `id`'s: it is given back when the session closes.
    fn bind(mut self, id: &SessionId) {
        lock(&self.table)
            .owners
            .insert(id.clone(), Arc::clone(&self.owner));
        self.bound = true;
    }
}

impl Drop for Reservation {
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

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

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
        let (id, transport) = self.inner.create_session().await?;
        reservation.bind(&id);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.caller_owns(id) && self.inner.has_session(id).await?)
    }

    /// Called for a DELETE (after the MCP layer checked the owner) and by rmcp when a session's
    /// worker ends (idle timeout, shutdown), outside any request.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.inner.close_session(id).await;
        let mut table = lock(&self.table);
        if let Some(owner) = table.owners.remove(id) {
            table.release(&owner);
        }
        Ok(closed?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(subject: &str, org: &str, via: AuthVia) -> SessionOwner {
        SessionOwner::from(&Principal::new(subject, org, "editor", via))
    }

    fn sessions(max_sessions: usize, max_per_principal: usize) -> Sessions {
        Sessions::new(
            LocalSessionManager::default(),
            SessionLimits {
                max_sessions,
                max_per_principal,
            },
            Gauge::default(),
        )
    }

    #[tokio::test]
    async fn a_session_answers_only_its_creator() {
        let sessions = sessions(10, 10);
        let alice = owner("alice", "acme", AuthVia::StaticToken);
        let bob = owner("bob", "other", AuthVia::StaticToken);
        let reservation = sessions.reserve(alice.clone()).expect("room");
        let (id, _transport) = SessionCaller::new(alice.clone(), Some(reservation))
            .scope(sessions.create_session())
            .await
            .expect("created");
        assert!(sessions.is_owned_by(&id, &alice));
        assert!(!sessions.is_owned_by(&id, &bob));
        // Same subject and org through another auth mode, or from another issuer: not the owner.
        assert!(!sessions.is_owned_by(&id, &owner("alice", "acme", AuthVia::DevToken)));
        let mut other_issuer = alice.clone();
        other_issuer.issuer = Some("https://elsewhere.test".into());
        assert!(!sessions.is_owned_by(&id, &other_issuer));

        let asks = |who: SessionOwner| {
            let (sessions, id) = (&sessions, id.clone());
            async move {
                SessionCaller::new(who, None)
                    .scope(sessions.has_session(&id))
                    .await
                    .expect("no error")
            }
        };
        assert!(asks(alice.clone()).await);
        assert!(!asks(bob).await);
        // Outside any request nobody owns it.
        assert!(!sessions.has_session(&id).await.expect("no error"));

        sessions.close_session(&id).await.expect("closed");
        assert!(!asks(alice).await);
        assert_eq!(sessions.len(), 0);
    }

    #[tokio::test]
    async fn caps_hold_in_all_and_per_principal_and_places_come_back() {
        let sessions = sessions(3, 2);
        let alice = owner("alice", "acme", AuthVia::Jwt);
        let first = sessions.reserve(alice.clone()).expect("room");
        let _second = sessions.reserve(alice.clone()).expect("room");
        assert_eq!(
            sessions.reserve(alice.clone()).err(),
            Some(SessionsFull::Principal)
        );
        let _bob = sessions
            .reserve(owner("bob", "acme", AuthVia::Jwt))
            .expect("room");
        assert_eq!(
            sessions.reserve(owner("carol", "acme", AuthVia::Jwt)).err(),
            Some(SessionsFull::Server)
        );
        // A reservation that made no session gives its place back.
        drop(first);
        assert_eq!(sessions.len(), 2);
        sessions.reserve(alice).expect("room again");
    }

    #[tokio::test]
    async fn the_default_principal_is_bounded_by_the_total_only() {
        let sessions = sessions(3, 1);
        let anyone = owner("local", "default", AuthVia::Default);
        let held: Vec<_> = (0..3)
            .map(|_| sessions.reserve(anyone.clone()).expect("room"))
            .collect();
        assert_eq!(sessions.reserve(anyone).err(), Some(SessionsFull::Server));
        drop(held);
        assert_eq!(sessions.len(), 0);
    }

    #[tokio::test]
    async fn creating_a_session_needs_a_reservation() {
        let sessions = sessions(3, 3);
        let caller = SessionCaller::new(owner("a", "b", AuthVia::DevToken), None);
        let made = caller.scope(sessions.create_session()).await;
        assert!(matches!(made, Err(SessionsError::NotReserved)));
        assert!(matches!(
            sessions.create_session().await,
            Err(SessionsError::NotReserved)
        ));
    }
}

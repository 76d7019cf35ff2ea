//! The sessions of one upstream: `pool_size` slots taken round-robin, each holding at most one
//! session (for stdio, one child process). A slot connects on first use, or at start when the
//! upstream is `warm`. A session whose transport fails is evicted and its slot reconnects on
//! the next use — after a backoff that grows with each failed attempt, so a crashing child is
//! restarted without being respawned in a tight loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::ClientHandler;
use tokio::sync::Mutex;

use super::UpstreamConfig;
use super::retry::RetryPolicy;
use super::session::Session;

/// How reconnecting backs off: from 250 ms, doubling, up to 30 s, jittered.
const RECONNECT: RetryPolicy = RetryPolicy {
    attempts: u32::MAX,
    base_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(30),
    budget_ratio: 0.0,
    min_retries: 0,
};

/// Why no session could be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum AcquireError {
    /// Connecting failed just now.
    #[error("could not connect: {0:#}")]
    Connect(anyhow::Error),
    /// Connecting failed recently; the slot waits before trying again.
    #[error("{last} (reconnecting in {} ms after {failures} failed attempts)", retry_after.as_millis())]
    BackingOff {
        /// Failed attempts in a row.
        failures: u32,
        /// When it tries again.
        retry_after: Duration,
        /// Why the last attempt failed.
        last: String,
    },
}

/// Makes the handler of a new session.
pub(super) type MakeHandler<H> = Box<dyn Fn() -> H + Send + Sync>;

/// The pool.
pub(super) struct Pool<H: ClientHandler + Clone> {
    config: UpstreamConfig,
    make_handler: MakeHandler<H>,
    /// Shared by the slots of an HTTP upstream, so connections are reused across sessions.
    http: super::session::HttpClients,
    slots: Vec<Mutex<Slot<H>>>,
    next: AtomicUsize,
}

struct Slot<H: ClientHandler + Clone> {
    session: Option<Arc<Session<H>>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl<H: ClientHandler + Clone> Pool<H> {
    /// An empty pool of `config.pool_size` slots; each session gets a handler of its own from
    /// `make_handler`.
    pub fn new(config: UpstreamConfig, make_handler: MakeHandler<H>) -> Self {
        let slots = (0..config.pool_size.max(1))
            .map(|_| {
                Mutex::new(Slot {
                    session: None,
                    failures: 0,
                    retry_at: None,
                    last_error: String::new(),
                })
            })
            .collect();
        let http = super::session::HttpClients::new(&config);
        Self {
            config,
            make_handler,
            http,
            slots,
            next: AtomicUsize::new(0),
        }
    }

    /// What the upstream's requests present.
    pub fn credential(&self) -> &super::Credential {
        &self.http.credential
    }

    /// The next slot's session, connecting it if needed.
    pub async fn acquire(&self) -> Result<Arc<Session<H>>, AcquireError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        self.acquire_slot(index).await
    }

    /// Slot `index`'s session, connecting it if needed (within the upstream's timeout).
    pub async fn acquire_slot(&self, index: usize) -> Result<Arc<Session<H>>, AcquireError> {
        let mut slot = self.slots[index].lock().await;
        if let Some(session) = &slot.session {
            if session.is_alive() {
                return Ok(Arc::clone(session));
            }
            let dead = slot.session.take().expect("present");
            tracing::warn!(upstream = %self.config.name, "upstream session ended; reconnecting");
            tokio::spawn(async move { dead.close().await });
        }
        let now = Instant::now();
        if let Some(at) = slot.retry_at.filter(|at| *at > now) {
            return Err(AcquireError::BackingOff {
                failures: slot.failures,
                retry_after: at - now,
                last: slot.last_error.clone(),
            });
        }
        // Boxed: opening a session is a large future, and every call's future would otherwise
        // carry its size (and copy it) though few calls open a session.
        let opened = tokio::time::timeout(
            self.config.timeout,
            Box::pin(Session::open(
                &self.config,
                (self.make_handler)(),
                &self.http,
            )),
        )
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "the upstream did not finish initializing within {} s",
                self.config.timeout.as_secs_f64()
            ))
        });
        match opened {
            Ok(session) => {
                let session = Arc::new(session);
                slot.session = Some(Arc::clone(&session));
                slot.failures = 0;
                slot.retry_at = None;
                Ok(session)
            }
            Err(e) => {
                slot.failures = slot.failures.saturating_add(1);
                slot.retry_at = Some(Instant::now() + RECONNECT.backoff(slot.failures));
                slot.last_error = format!("could not connect: {e:#}");
                Err(AcquireError::Connect(e))
            }
        }
    }

    /// Free `session`'s slot (unless the slot already holds another one) and close it in the
    /// background: the caller who found it broken does not wait for a child to exit.
    pub async fn evict(&self, session: &Arc<Session<H>>) {
        for slot in &self.slots {
            let mut slot = slot.lock().await;
            if slot.session.as_ref().is_some_and(|s| s.id == session.id) {
                slot.session = None;
                break;
            }
        }
        let session = Arc::clone(session);
        tokio::spawn(async move { session.close().await });
    }

    /// The live session `id`, if it is still in its slot.
    pub async fn session(&self, id: u64) -> Option<Arc<Session<H>>> {
        for slot in &self.slots {
            if let Some(session) = &slot.lock().await.session
                && session.id == id
            {
                return session.is_alive().then(|| Arc::clone(session));
            }
        }
        None
    }

    /// The sessions open now.
    pub async fn sessions(&self) -> Vec<Arc<Session<H>>> {
        let mut open = Vec::new();
        for slot in &self.slots {
            if let Some(session) = &slot.lock().await.session {
                open.push(Arc::clone(session));
            }
        }
        open
    }

    /// How many slots there are.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Close every session.
    pub async fn close_all(&self) {
        let mut closing = Vec::new();
        for slot in &self.slots {
            if let Some(session) = slot.lock().await.session.take() {
                closing.push(async move { session.close().await });
            }
        }
        futures::future::join_all(closing).await;
    }
}

//! Legacy sessions shared by replicas (`MCPGATE_SESSION_STORE=redis`).
//!
//! Each session's record — who created it and its `initialize` parameters — is written to
//! Redis before the client learns the session's id, under `<prefix>session:<id>` (prefix
//! `MCPGATE_SESSION_PREFIX`, `mcpgate:` by default) with a TTL of the idle timeout plus one
//! keeper round (below). A replica that is asked for a session it does not hold loads the
//! record (rmcp's [`SessionStore`]), and when the caller is the session's creator it makes
//! the session here and replays `initialize` into a fresh service (rmcp's restore path);
//! anyone else is answered as for an unknown id. So a load balancer may send each request of a
//! session to any replica, and a replica may die, without the client noticing more than the
//! calls it had in flight there.
//!
//! Why a store rather than sealed session ids: a sealed id can be opened by any replica with
//! the key, but it cannot be revoked (an ended session's id would open again) and cannot
//! expire when idle without a store anyway; the record is small, read once per replica per
//! session, and its TTL is the idle timeout.
//!
//! Every keeper round — a quarter of the idle timeout, at most [`KEEP_EVERY`] — each replica
//! refreshes the TTL of the sessions it held in use since its last round (one pipelined round
//! trip for all of them) and closes those whose record is gone. The record's TTL carries one
//! round of slack, so a session used on one replica just before its record would expire is
//! refreshed before it does: a session lives while it is used within the idle timeout on any
//! replica, and ends at most one round after it is not. A session ended (`DELETE`) on one
//! replica is closed on the others at once (the `relay` bus), and by that round at the latest
//! if the message was lost.
//! What a session set after `initialize` (`logging/setLevel`, resource subscriptions) stays
//! with the replica it was set on.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rmcp::model::{Implementation, InitializeRequestParams};
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::relay::Relay;
use super::{CALLER, SessionOwner, Sessions};
use crate::edge::AuthVia;
use crate::redis_link::RedisLink;

/// The longest time between a replica's rounds refreshing the records of the sessions it uses
/// and noticing ended ones.
pub const KEEP_EVERY: Duration = Duration::from_secs(2);

/// The shortest round (an idle timeout of a fraction of a second is for tests).
const KEEP_EVERY_MIN: Duration = Duration::from_millis(50);

/// A record larger than this keeps only the protocol version, the capabilities and the
/// client's name and version (a client may send a large `initialize`; Redis holds one per
/// session).
const RECORD_MAX: usize = 16 * 1024;

/// The longest session id looked up (ours are 36 characters); others are unknown without a
/// round trip.
const ID_MAX: usize = 128;

/// What Redis holds for one session.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    via: AuthVia,
    org: String,
    subject: String,
    issuer: Option<String>,
    init: InitializeRequestParams,
}

impl Record {
    fn owner(&self) -> SessionOwner {
        SessionOwner {
            via: self.via,
            org: self.org.as_str().into(),
            subject: self.subject.as_str().into(),
            issuer: self.issuer.as_deref().map(Into::into),
        }
    }
}

/// The session records in Redis.
pub struct SharedSessions {
    link: RedisLink,
    prefix: String,
    ttl: Duration,
    every: Duration,
    relay: Arc<Relay>,
}

impl std::fmt::Debug for SharedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSessions")
            .field("endpoint", &self.link.endpoint)
            .field("ttl", &self.ttl)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// Whether a session's record is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Alive,
    Gone,
}

impl SharedSessions {
    /// Records on the Redis at `url` under `prefix`, expiring when unused for `idle` on every
    /// replica, each call bounded by `timeout`.
    pub fn open(
        url: &str,
        prefix: &str,
        idle: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let link =
            RedisLink::open(url, timeout).map_err(|e| anyhow::anyhow!("session store: {e:?}"))?;
        let every = (idle / 4).clamp(KEEP_EVERY_MIN, KEEP_EVERY);
        Ok(Self {
            relay: Arc::new(Relay::new(link.clone(), prefix)),
            link,
            prefix: format!("{prefix}session:"),
            ttl: idle.saturating_add(every),
            every,
        })
    }

    /// This replica's end of the stream relay.
    pub(super) fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// The record of `id`, its TTL restarted; `None` when there is none or it does not parse.
    async fn record(&self, id: &str) -> Result<Option<Record>, String> {
        if id.is_empty() || id.len() > ID_MAX {
            return Ok(None);
        }
        let mut command = redis::cmd("GETEX");
        command.arg(self.key(id)).arg("PX").arg(self.ttl_ms());
        let Some(text) = self.link.call::<Option<String>>(&command).await? else {
            return Ok(None);
        };
        match serde_json::from_str(&text) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                tracing::warn!(error = %e, "a shared session record does not parse; treated as unknown");
                Ok(None)
            }
        }
    }

    /// Who created session `id`, if its record is there.
    pub async fn owner(&self, id: &str) -> Option<SessionOwner> {
        match self.record(id).await {
            Ok(record) => record.map(|r| r.owner()),
            Err(e) => {
                tracing::warn!(endpoint = %self.link.endpoint, error = %e, "session store unavailable");
                None
            }
        }
    }

    /// Refresh the records of `ids`, in one round trip; which of them are gone. When Redis
    /// cannot answer, none is taken for gone (a blip must not end sessions).
    pub async fn keep(&self, ids: &[String]) -> Vec<Kept> {
        if ids.is_empty() {
            return Vec::new();
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("PEXPIRE").arg(self.key(id)).arg(self.ttl_ms());
        }
        match self.link.pipe::<Vec<i64>>(&pipe).await {
            Ok(kept) => kept
                .into_iter()
                .map(|k| if k == 1 { Kept::Alive } else { Kept::Gone })
                .collect(),
            Err(error) => {
                tracing::warn!(endpoint = %self.link.endpoint, %error, "session store unavailable");
                vec![Kept::Alive; ids.len()]
            }
        }
    }
}

/// The caller of the current request, as a session's owner.
fn caller() -> Option<SessionOwner> {
    CALLER.try_with(|caller| caller.owner.clone()).ok()
}

/// `init` within [`RECORD_MAX`] once serialised: as is, or trimmed to what a restore needs.
fn bounded(init: &InitializeRequestParams, record: Record) -> Option<String> {
    let text = serde_json::to_string(&record).ok()?;
    if text.len() <= RECORD_MAX {
        return Some(text);
    }
    let mut trimmed = InitializeRequestParams::new(
        init.capabilities.clone(),
        Implementation::new(
            init.client_info.name.chars().take(256).collect::<String>(),
            init.client_info
                .version
                .chars()
                .take(64)
                .collect::<String>(),
        ),
    );
    trimmed.protocol_version = init.protocol_version.clone();
    let text = serde_json::to_string(&Record {
        init: trimmed,
        ..record
    })
    .ok()?;
    (text.len() <= RECORD_MAX).then_some(text)
}

#[async_trait::async_trait]
impl SessionStore for SharedSessions {
    /// The session's `initialize` parameters, only for the caller who created it.
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(caller) = caller() else {
            return Ok(None);
        };
        let record = self
            .record(session_id)
            .await
            .map_err(SessionStoreError::from)?;
        Ok(record
            .filter(|record| record.owner() == caller)
            .map(|record| SessionState::new(record.init)))
    }

    /// Called by rmcp after a session's `initialize` was answered, before the answer is sent.
    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let owner = caller().ok_or("no caller for a new session")?;
        let record = Record {
            via: owner.via,
            org: owner.org.to_string(),
            subject: owner.subject.to_string(),
            issuer: owner.issuer.as_deref().map(str::to_owned),
            init: state.initialize_params.clone(),
        };
        let text = bounded(&state.initialize_params, record)
            .ok_or("the session's initialize parameters are too large to share")?;
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(session_id))
            .arg(text)
            .arg("PX")
            .arg(self.ttl_ms());
        self.link.call::<()>(&command).await?;
        Ok(())
    }

    /// Called by rmcp for a `DELETE` of the session: the record goes, and every replica
    /// closes its copy.
    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key(session_id));
        self.link.call::<()>(&command).await?;
        self.relay.broadcast(session_id, None).await;
        Ok(())
    }
}

/// Every round until `stop`: refresh the records of the sessions used here since the last
/// round began and close those whose record is gone (ended elsewhere, or expired).
pub(super) async fn keep(
    sessions: Weak<Sessions>,
    shared: Arc<SharedSessions>,
    stop: CancellationToken,
) {
    let mut last = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(shared.every) => {}
            () = stop.cancelled() => return,
        }
        let Some(sessions) = sessions.upgrade() else {
            return;
        };
        let now = Instant::now();
        let ids = sessions.used_since(now, now.duration_since(last));
        last = now;
        let kept = shared.keep(&ids).await;
        for (id, kept) in ids.iter().zip(kept) {
            if kept == Kept::Gone {
                tracing::debug!("a shared session ended on another replica; closed here too");
                sessions.close(id);
            }
        }
    }
}

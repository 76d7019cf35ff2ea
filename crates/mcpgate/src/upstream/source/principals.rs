//! `isolation = "per_principal"`: a stateful upstream (one that remembers things per session)
//! gets a separate set of sessions for each caller, so no caller sees state another left. The
//! sets are bounded (`max_principals`; the least recently used set is closed to make room) and
//! a set idle for `principal_idle` is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::UpstreamSource;
use super::events::Events;
use crate::edge::Principal;
use crate::mcp::CallContext;
use crate::upstream::Isolation;
use crate::upstream::pool::Pool;

/// The callers' own session sets.
#[derive(Default)]
pub(super) struct Principals {
    sets: Mutex<HashMap<String, Set>>,
}

struct Set {
    pool: Arc<Pool<Events>>,
    last_used: Instant,
}

/// Who a caller is, as one key: how it authenticated, who vouched for it, its tenant and its
/// name. Two callers share it only if they are the same caller.
pub(super) fn identity(p: &Principal) -> String {
    format!(
        "{:?}\u{0}{}\u{0}{}\u{0}{}",
        p.via,
        p.issuer.as_deref().unwrap_or_default(),
        p.org,
        p.subject
    )
}

impl UpstreamSource {
    /// The sessions `cx`'s call goes through: the shared pool, or the caller's own set.
    pub(super) fn pool_for(&self, cx: &CallContext) -> Arc<Pool<Events>> {
        if self.config.isolation == Isolation::Shared {
            return Arc::clone(&self.pool);
        }
        let key = identity(&cx.principal);
        let now = Instant::now();
        let mut sets = self
            .principals
            .sets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(set) = sets.get_mut(&key) {
            set.last_used = now;
            return Arc::clone(&set.pool);
        }
        if sets.len() >= self.config.max_principals {
            let oldest = sets
                .iter()
                .min_by_key(|(_, set)| set.last_used)
                .map(|(key, _)| key.clone());
            if let Some(set) = oldest.and_then(|key| sets.remove(&key)) {
                tracing::info!(upstream = %self.config.name, "closing the least recently used caller's upstream sessions to make room");
                tokio::spawn(async move { set.pool.close_all().await });
            }
        }
        let pool = Arc::new(Pool::new(self.config.clone(), self.make_handler()));
        sets.insert(
            key,
            Set {
                pool: Arc::clone(&pool),
                last_used: now,
            },
        );
        pool
    }

    /// The shared pool and every caller's set.
    pub(super) fn pools(&self) -> Vec<Arc<Pool<Events>>> {
        let sets = self
            .principals
            .sets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::iter::once(Arc::clone(&self.pool))
            .chain(sets.values().map(|set| Arc::clone(&set.pool)))
            .collect()
    }

    /// Close the callers' sets idle for longer than `principal_idle`.
    pub(super) async fn close_idle_principals(&self) {
        let idle = self.config.principal_idle;
        let closing: Vec<Arc<Pool<Events>>> = {
            let mut sets = self
                .principals
                .sets
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let stale: Vec<String> = sets
                .iter()
                .filter(|(_, set)| set.last_used.elapsed() >= idle)
                .map(|(key, _)| key.clone())
                .collect();
            stale
                .iter()
                .filter_map(|key| sets.remove(key))
                .map(|set| set.pool)
                .collect()
        };
        for pool in closing {
            pool.close_all().await;
        }
    }

    /// Close every caller's set.
    pub(super) async fn close_principals(&self) {
        let all: Vec<Arc<Pool<Events>>> = self
            .principals
            .sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, set)| set.pool)
            .collect();
        futures::future::join_all(all.iter().map(|pool| pool.close_all())).await;
    }
}

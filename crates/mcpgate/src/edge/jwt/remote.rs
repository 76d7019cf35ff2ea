//! The cached key set of a JWKS URL.
//!
//! Keys are fetched on first use (or by a prefetch at start-up) and fetched again once older
//! than the cache TTL; if that refresh fails, the stale keys keep working, the failure is
//! logged, and it is retried at most once per TTL or cooldown, whichever is shorter. A token
//! whose `kid` the set does not hold triggers a fetch too, unless the last fetch attempt was
//! less than the cooldown ago — so a flood of made-up `kid`s costs at most one fetch per
//! cooldown. One fetch runs at a time: callers wait for the fetch in flight and then use its
//! result instead of fetching again (a TTL refresh already in flight is not waited for: the
//! stale keys serve meanwhile).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::JwtError;
use super::fetch::Fetcher;
use super::keys::KeySet;

/// The keys in use and when they were fetched.
#[derive(Clone)]
struct Cached {
    keys: Arc<KeySet>,
    /// `None` until the first successful fetch.
    fetched_at: Option<Instant>,
}

/// A JWKS URL's keys, fetched and refreshed on demand.
pub(crate) struct RemoteKeys {
    fetcher: Fetcher,
    ttl: Duration,
    cooldown: Duration,
    cached: RwLock<Cached>,
    /// Held while fetching; holds when the last fetch was attempted.
    gate: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("url", &self.fetcher.url().redacted())
            .field("ttl", &self.ttl)
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    /// Keys from `fetcher`, none fetched yet.
    pub(crate) fn new(fetcher: Fetcher, ttl: Duration, cooldown: Duration) -> Self {
        Self {
            fetcher,
            ttl,
            cooldown,
            cached: RwLock::new(Cached {
                keys: Arc::new(KeySet::default()),
                fetched_at: None,
            }),
            gate: Mutex::new(None),
        }
    }

    fn snapshot(&self) -> Cached {
        self.cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the last attempt is too recent for a fetch triggered by an unknown `kid`.
    fn cooling(&self, last_attempt: Option<Instant>) -> bool {
        last_attempt.is_some_and(|at| at.elapsed() < self.cooldown)
    }

    /// Whether the last attempt is too recent for a TTL refresh: failed refreshes are retried
    /// at most once per TTL or cooldown, whichever is shorter.
    fn refresh_cooling(&self, last_attempt: Option<Instant>) -> bool {
        last_attempt.is_some_and(|at| at.elapsed() < self.ttl.min(self.cooldown))
    }

    /// Fetches now, whatever the cooldown (start-up prefetch).
    pub(crate) async fn refresh_now(&self) -> Result<(), JwtError> {
        let mut gate = self.gate.lock().await;
        if self.fetch_locked(&mut gate).await {
            Ok(())
        } else {
            Err(JwtError::KeysUnavailable)
        }
    }

    /// The keys to verify with: fetched first if none were loaded yet, refreshed if older than
    /// the TTL (a failed refresh keeps the stale keys).
    pub(crate) async fn keys(&self) -> Result<Arc<KeySet>, JwtError> {
        let seen = self.snapshot();
        match seen.fetched_at {
            None => {
                let mut gate = self.gate.lock().await;
                let now = self.snapshot();
                if now.fetched_at.is_some() {
                    return Ok(now.keys);
                }
                if self.refresh_cooling(*gate) || !self.fetch_locked(&mut gate).await {
                    return Err(JwtError::KeysUnavailable);
                }
                Ok(self.snapshot().keys)
            }
            Some(at) if at.elapsed() >= self.ttl => {
                // Someone else refreshing: go on with the stale keys rather than wait.
                if let Ok(mut gate) = self.gate.try_lock() {
                    let now = self.snapshot();
                    if now.fetched_at == seen.fetched_at && !self.refresh_cooling(*gate) {
                        self.fetch_locked(&mut gate).await;
                    }
                }
                Ok(self.snapshot().keys)
            }
            Some(_) => Ok(seen.keys),
        }
    }

    /// After a `kid` was not found in `seen`: the newest keys, fetched again unless another
    /// caller already did or the last attempt is within the cooldown.
    pub(crate) async fn after_unknown_kid(&self, seen: &Arc<KeySet>) -> Arc<KeySet> {
        let mut gate = self.gate.lock().await;
        let now = self.snapshot();
        if !Arc::ptr_eq(&now.keys, seen) || self.cooling(*gate) {
            return now.keys;
        }
        self.fetch_locked(&mut gate).await;
        self.snapshot().keys
    }

    /// Moves the recorded fetch and attempt instants `by` into the past, as if that much time
    /// had gone by: tests step over cooldowns and TTLs without sleeping.
    #[cfg(test)]
    pub(crate) async fn rewind(&self, by: Duration) {
        let back = |at: Instant| at.checked_sub(by).expect("the monotonic clock is older");
        let mut gate = self.gate.lock().await;
        *gate = gate.map(back);
        let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
        cached.fetched_at = cached.fetched_at.map(back);
    }

    /// Fetches while holding the gate; stores the keys on success, logs a failure.
    async fn fetch_locked(&self, last_attempt: &mut Option<Instant>) -> bool {
        *last_attempt = Some(Instant::now());
        let url = self.fetcher.url().redacted();
        match self.fetcher.fetch().await {
            Ok(keys) => {
                tracing::debug!(url, keys = keys.len(), "fetched the JWKS");
                let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
                *cached = Cached {
                    keys: Arc::new(keys),
                    fetched_at: Some(Instant::now()),
                };
                true
            }
            Err(error) => {
                let cached = self.snapshot().fetched_at.is_some();
                tracing::warn!(
                    url,
                    %error,
                    keeping_cached_keys = cached,
                    "cannot fetch the JWKS"
                );
                false
            }
        }
    }
}

//! The in-process backend: one keyed `governor` GCRA limiter per distinct [`Quota`].
//!
//! Time comes from tokio's clock, so tests can pause and advance it. Keys whose bucket is full
//! again carry no information and are dropped every [`PRUNE_EVERY`] decisions, so memory stays
//! bounded by the keys active within one window.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use tokio::time::Instant;

use super::{Decision, Quota};

/// Decisions between two sweeps of stale keys.
const PRUNE_EVERY: u64 = 4096;

/// A point in tokio's time, as `governor` measures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, other: Nanos) -> TokioInstant {
        let other = Duration::from(other);
        TokioInstant(self.0.checked_add(other).unwrap_or(self.0))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(self.0.checked_sub(duration.into()).unwrap_or(self.0))
    }
}

/// `governor`'s clock over `tokio::time::Instant` (follows `tokio::time::pause()`).
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

thread_local! {
    /// The theoretical arrival time the last allowed decision on this thread stored.
    static STORED_TAT: Cell<Option<Nanos>> = const { Cell::new(None) };
}

/// The default concurrent store, noting the new theoretical arrival time of each allowed
/// decision so that [`Decision::reset`] is exact (governor only reports remaining capacity).
#[derive(Default)]
struct TatStore(DashMapStateStore<String>);

impl StateStore for TatStore {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The store retries `f` until its compare-and-swap succeeds; the last `Ok` is the one
        // stored. All of it runs synchronously on this thread.
        self.0.measure_and_replace(key, |previous| {
            let outcome = f(previous);
            if let Ok((_, next)) = &outcome {
                STORED_TAT.set(Some(*next));
            }
            outcome
        })
    }
}

impl ShrinkableKeyedStateStore<String> for TatStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.0);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&self.0)
    }
}

type Keyed = governor::RateLimiter<String, TatStore, TokioClock, NoOpMiddleware<TokioInstant>>;

/// The keyed limiter of one quota.
struct QuotaLimiter {
    limiter: Keyed,
    /// Taken just before the limiter's own start, which its state is measured from.
    origin: Instant,
}

impl QuotaLimiter {
    fn new(quota: &Quota) -> QuotaLimiter {
        let burst = NonZeroU32::new(quota.effective_burst()).unwrap_or(NonZeroU32::MIN);
        let rate = governor::Quota::with_period(quota.interval())
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        let origin = Instant::now();
        QuotaLimiter {
            limiter: governor::RateLimiter::new(rate, TatStore::default(), TokioClock),
            origin,
        }
    }

    fn check(&self, key: &str, quota: &Quota) -> Decision {
        let key = key.to_owned();
        STORED_TAT.set(None);
        let outcome = self.limiter.check_key(&key);
        let now = Instant::now();
        match outcome {
            Ok(()) => {
                let reset = match STORED_TAT.take() {
                    Some(tat) => self
                        .origin
                        .checked_add(tat.into())
                        .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now)),
                    None => quota.interval(),
                };
                Decision::allowed(quota, reset)
            }
            Err(not_until) => Decision::refused(quota, not_until.wait_time_from(TokioInstant(now))),
        }
    }
}

/// The in-process backend.
pub(super) struct LocalBackend {
    limiters: RwLock<HashMap<Quota, Arc<QuotaLimiter>>>,
    decisions: AtomicU64,
}

impl fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBackend")
            .field("quotas", &self.read().len())
            .field("keys", &self.tracked_keys())
            .finish()
    }
}

impl LocalBackend {
    /// An empty backend.
    pub(super) fn new() -> LocalBackend {
        LocalBackend {
            limiters: RwLock::new(HashMap::new()),
            decisions: AtomicU64::new(0),
        }
    }

    /// Decide one request for `key` under `quota`.
    pub(super) fn check(&self, key: &str, quota: &Quota) -> Decision {
        let limiter = self.limiter(quota);
        let decision = limiter.check(key, quota);
        if self.decisions.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        decision
    }

    /// Drop every key whose bucket is full again.
    pub(super) fn prune(&self) {
        for limiter in self.read().values() {
            limiter.limiter.retain_recent();
            limiter.limiter.shrink_to_fit();
        }
    }

    /// Keys with state, over all quotas.
    pub(super) fn tracked_keys(&self) -> usize {
        self.read().values().map(|l| l.limiter.len()).sum()
    }

    fn limiter(&self, quota: &Quota) -> Arc<QuotaLimiter> {
        if let Some(limiter) = self.read().get(quota) {
            return Arc::clone(limiter);
        }
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            limiters
                .entry(*quota)
                .or_insert_with(|| Arc::new(QuotaLimiter::new(quota))),
        )
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Quota, Arc<QuotaLimiter>>> {
        self.limiters.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(text: &str) -> Quota {
        Quota::parse(text).expect("valid quota")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_refusal_with_exact_retry_after() {
        let backend = LocalBackend::new();
        let q = quota("60/min").with_burst(3);
        for expected_remaining in [2, 1, 0] {
            let d = backend.check("k", &q);
            assert!(d.allowed, "{d:?}");
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.limit, 3);
        }
        let refused = backend.check("k", &q);
        assert!(!refused.allowed);
        assert!(!refused.degraded);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after, Some(secs(1)));
        assert_eq!(refused.reset, secs(3));

        tokio::time::advance(Duration::from_millis(400)).await;
        let still = backend.check("k", &q);
        assert_eq!(still.retry_after, Some(Duration::from_millis(600)));
    }

    #[tokio::test(start_paused = true)]
    async fn refills_one_per_interval() {
        let backend = LocalBackend::new();
        let q = quota("60/min").with_burst(3);
        for _ in 0..3 {
            assert!(backend.check("k", &q).allowed);
        }
        tokio::time::advance(secs(1)).await;
        let refilled = backend.check("k", &q);
        assert!(refilled.allowed);
        assert_eq!(refilled.remaining, 0);
        assert_eq!(refilled.reset, secs(3));
        assert!(!backend.check("k", &q).allowed);

        tokio::time::advance(secs(3)).await;
        let full = backend.check("k", &q);
        assert_eq!(
            (full.allowed, full.remaining, full.reset),
            (true, 2, secs(1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_and_reset_track_the_bucket() {
        let backend = LocalBackend::new();
        let q = quota("10/min");
        let first = backend.check("k", &q);
        assert_eq!((first.remaining, first.reset), (9, secs(6)));
        let second = backend.check("k", &q);
        assert_eq!((second.remaining, second.reset), (8, secs(12)));
        tokio::time::advance(secs(3)).await;
        let third = backend.check("k", &q);
        assert_eq!((third.remaining, third.reset), (7, secs(15)));
        tokio::time::advance(secs(4)).await;
        let fourth = backend.check("k", &q);
        assert_eq!((fourth.remaining, fourth.reset), (7, secs(17)));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_and_quotas_are_independent() {
        let backend = LocalBackend::new();
        let one = quota("1/min");
        assert!(backend.check("a", &one).allowed);
        assert!(!backend.check("a", &one).allowed);
        assert!(
            backend.check("b", &one).allowed,
            "another key has its own bucket"
        );
        let other = quota("2/min");
        assert!(
            backend.check("a", &other).allowed,
            "another quota has its own bucket"
        );
        assert!(backend.check("a", &other).allowed);
        assert!(!backend.check("a", &other).allowed);
        assert!(!backend.check("a", &one).allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn full_buckets_are_pruned() {
        let backend = LocalBackend::new();
        let q = quota("10/s");
        for i in 0..100 {
            assert!(backend.check(&format!("key-{i}"), &q).allowed);
        }
        assert_eq!(backend.tracked_keys(), 100);
        backend.prune();
        assert_eq!(
            backend.tracked_keys(),
            100,
            "buckets still filling are kept"
        );
        tokio::time::advance(secs(1)).await;
        assert!(backend.check("busy", &q).allowed);
        backend.prune();
        assert_eq!(backend.tracked_keys(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn pruning_runs_by_itself() {
        let backend = LocalBackend::new();
        let q = quota("1000/s");
        for i in 0..PRUNE_EVERY - 1 {
            backend.check(&format!("key-{i}"), &q);
        }
        tokio::time::advance(secs(2)).await;
        assert_eq!(
            backend.tracked_keys(),
            usize::try_from(PRUNE_EVERY - 1).expect("fits")
        );
        backend.check("last", &q);
        assert_eq!(backend.tracked_keys(), 1);
    }
}

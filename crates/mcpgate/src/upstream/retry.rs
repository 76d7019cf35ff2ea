//! Retries toward an upstream: exponential backoff with full jitter, bounded by a retry budget
//! so a sick upstream is not hammered. Which failures may be retried is the caller's decision
//! (see `source.rs`): connect and handshake failures, listing, and calls to tools marked
//! read-only or idempotent — never a call that may have changed something upstream.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1: never retry).
    pub attempts: u32,
    /// The backoff before the first retry is drawn from `[0, base_delay]` …
    pub base_delay: Duration,
    /// … doubling with each retry, up to this.
    pub max_delay: Duration,
    /// Retries may be at most this share of calls …
    pub budget_ratio: f64,
    /// … plus this many (so a quiet upstream can still be retried).
    pub min_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            budget_ratio: 0.2,
            min_retries: 10,
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the backoff before retry number `retry` (1-based): `base · 2^(retry-1)`,
    /// at most `max_delay`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(20);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The backoff before retry number `retry`: uniform in `[0, ceiling]` ("full jitter"), so
    /// callers that failed together do not come back together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos =
            rand::rng().random_range(0..=ceiling.as_nanos().min(u128::from(u64::MAX)) as u64);
        Duration::from_nanos(nanos)
    }
}

/// The retry budget: every call deposits `budget_ratio` of a token, every retry takes one.
/// Starts with (and never holds more than) `min_retries` plus what 100 calls deposit. Counted
/// in thousandths of a token, so ten deposits of 0.1 make exactly one.
#[derive(Debug)]
pub struct RetryBudget {
    deposit: u64,
    cap: u64,
    tokens: Mutex<u64>,
}

/// One token, in the budget's units.
const TOKEN: u64 = 1000;

impl RetryBudget {
    /// A full budget for `policy`.
    pub fn new(policy: &RetryPolicy) -> Self {
        let deposit = (policy.budget_ratio.clamp(0.0, 1.0) * TOKEN as f64).round() as u64;
        let floor = u64::from(policy.min_retries) * TOKEN;
        Self {
            deposit,
            cap: floor + 100 * deposit,
            tokens: Mutex::new(floor),
        }
    }

    /// A call was made.
    pub fn deposit(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + self.deposit).min(self.cap);
    }

    /// Take a token for a retry; `false` when the budget is spent.
    pub fn withdraw(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *tokens >= TOKEN {
            *tokens -= TOKEN;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_is_jittered_below_it() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.ceiling(5), Duration::from_millis(1600));
        assert_eq!(policy.ceiling(6), Duration::from_secs(2));
        assert_eq!(policy.ceiling(60), Duration::from_secs(2));
        let draws: Vec<Duration> = (0..200).map(|_| policy.backoff(3)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(400)));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100, "jittered, not fixed");
    }

    #[test]
    fn the_budget_allows_a_share_of_calls_as_retries() {
        let policy = RetryPolicy {
            budget_ratio: 0.1,
            min_retries: 2,
            ..RetryPolicy::default()
        };
        let budget = RetryBudget::new(&policy);
        assert!(budget.withdraw() && budget.withdraw(), "the floor");
        assert!(!budget.withdraw(), "spent");
        for _ in 0..10 {
            budget.deposit();
        }
        assert!(budget.withdraw(), "ten calls earn one retry");
        assert!(!budget.withdraw());
        for _ in 0..10_000 {
            budget.deposit();
        }
        let mut retries = 0;
        while budget.withdraw() {
            retries += 1;
        }
        assert_eq!(retries, 12, "capped: the floor plus what 100 calls earn");
    }
}

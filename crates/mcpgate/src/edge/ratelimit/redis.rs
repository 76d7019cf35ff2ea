//! The Redis-shared backend: every replica pointing at the same Redis and prefix shares one
//! bucket per key.
//!
//! Each decision is one atomic Lua script (`gcra.lua`, sent by hash with `EVALSHA` and loaded on
//! demand) that reads Redis' own clock, so replicas with skewed clocks agree. The connection
//! manager reconnects by itself; every call is bounded by a timeout, and when Redis cannot
//! answer, the [`FailurePolicy`] decides and the decision is marked degraded.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Decision, FailurePolicy, Quota, RateLimitSetupError};
use crate::redis_link::{LinkError, RedisLink};

/// The decision script.
const GCRA_SCRIPT: &str = include_str!("gcra.lua");

/// At most one warning about an unreachable Redis per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The Redis-shared backend.
pub(super) struct RedisBackend {
    link: RedisLink,
    script: redis::Script,
    prefix: String,
    policy: FailurePolicy,
    warnings: WarnGate,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("endpoint", &self.link.endpoint)
            .field("prefix", &self.prefix)
            .field("policy", &self.policy)
            .field("timeout", &self.link.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// A backend for `url`. Fails only on a URL that does not parse; an unreachable server is
    /// retried on later decisions.
    pub(super) async fn connect(
        url: &str,
        prefix: &str,
        policy: FailurePolicy,
        timeout: Duration,
    ) -> Result<RedisBackend, RateLimitSetupError> {
        let link = RedisLink::open(url, timeout).map_err(|e| match e {
            LinkError::InvalidUrl(reason) => RateLimitSetupError::InvalidUrl { reason },
            LinkError::Client(reason) => RateLimitSetupError::Client { reason },
        })?;
        let backend = RedisBackend {
            link,
            script: redis::Script::new(GCRA_SCRIPT),
            prefix: prefix.to_owned(),
            policy,
            warnings: WarnGate::new(),
        };
        backend.warm_up().await;
        Ok(backend)
    }

    /// Connect and load the script, waiting at most the timeout; failure is only logged.
    async fn warm_up(&self) {
        let mut connection = self.link.connection.clone();
        let load = self.script.load_async(&mut connection);
        match self.link.bounded(load).await {
            Ok(_) => tracing::debug!(endpoint = %self.link.endpoint, "rate-limit Redis connected"),
            Err(error) => self.warn(&error),
        }
    }

    /// Decide one request for `key` (already bounded in length) under `quota`.
    pub(super) async fn check(&self, key: &str, quota: &Quota) -> Decision {
        let interval = u64::try_from(quota.interval().as_micros()).unwrap_or(u64::MAX);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{}{key}", self.prefix))
            .arg(interval)
            .arg(quota.effective_burst());
        let mut connection = self.link.connection.clone();
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        match self.link.bounded(call).await {
            Ok((allowed, reset, retry_after)) => {
                let reset = micros(reset);
                if allowed == 1 {
                    Decision::allowed(quota, reset)
                } else {
                    Decision::refused(quota, micros(retry_after))
                }
            }
            Err(error) => {
                self.warn(&error);
                Decision::degraded(quota, self.policy)
            }
        }
    }

    fn warn(&self, error: &str) {
        if let Some(suppressed) = self.warnings.pass() {
            tracing::warn!(
                endpoint = %self.link.endpoint,
                policy = ?self.policy,
                suppressed,
                error = %self.link.scrub(error.to_owned()),
                "rate-limit Redis unavailable; the failure policy decides"
            );
        }
    }
}

/// Microseconds from the script, never negative.
fn micros(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

/// Lets one warning through per [`WARN_EVERY`], counting the ones held back.
struct WarnGate {
    origin: Instant,
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl WarnGate {
    fn new() -> WarnGate {
        WarnGate {
            origin: Instant::now(),
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last one)` when a warning may be logged now.
    fn pass(&self) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        let every = u64::try_from(WARN_EVERY.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(every),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::edge::ratelimit::RateLimiter;

    /// The test Redis (`MCPGATE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), or `None`
    /// with a note when it is unreachable — except under CI, where that fails the test.
    pub(in crate::edge::ratelimit) async fn test_redis() -> Option<String> {
        let url = std::env::var("MCPGATE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let probe = async {
            let client = redis::Client::open(url.as_str())?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        let outcome = match tokio::time::timeout(Duration::from_secs(3), probe).await {
            Ok(Ok(_)) => return Some(url),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 3s".to_owned(),
        };
        let endpoint = redis::Client::open(url.as_str())
            .map(|c| c.get_connection_info().addr().to_string())
            .unwrap_or_else(|_| "an invalid URL".to_owned());
        if std::env::var_os("CI").is_some() {
            panic!("test Redis at {endpoint} is unreachable under CI: {outcome}");
        }
        eprintln!(
            "note: skipping a Redis test: {endpoint} is unreachable ({outcome}); \
             start redis-server or set MCPGATE_TEST_REDIS_URL"
        );
        None
    }

    /// A prefix no other test run uses.
    pub(in crate::edge::ratelimit) fn unique_prefix() -> String {
        format!("mcpgate-test:{}:", uuid::Uuid::new_v4())
    }

    fn quota(text: &str) -> Quota {
        Quota::parse(text).expect("valid quota")
    }

    #[tokio::test]
    async fn two_replicas_share_one_limit() {
        let Some(url) = test_redis().await else {
            return;
        };
        let prefix = unique_prefix();
        let timeout = Duration::from_secs(1);
        let a = RateLimiter::redis(&url, &prefix, FailurePolicy::Closed, timeout)
            .await
            .expect("replica a");
        let b = RateLimiter::redis(&url, &prefix, FailurePolicy::Closed, timeout)
            .await
            .expect("replica b");
        assert_eq!(a.backend(), "redis");
        let q = quota("5/hour");
        let mut allowed = 0;
        let mut refusals = Vec::new();
        for i in 0..10 {
            let replica = if i % 2 == 0 { &a } else { &b };
            let decision = replica.check("shared-client", &q).await;
            assert!(!decision.degraded, "{decision:?}");
            assert_eq!(decision.limit, 5);
            if decision.allowed {
                allowed += 1;
                assert_eq!(decision.remaining, 5 - allowed, "{decision:?}");
            } else {
                refusals.push(decision);
            }
        }
        assert_eq!(allowed, 5, "together the replicas allow exactly the burst");
        assert_eq!(refusals.len(), 5);
        for refused in refusals {
            let wait = refused.retry_after.expect("refusals carry Retry-After");
            assert!(
                wait > Duration::from_secs(715) && wait <= Duration::from_secs(720),
                "one interval (720 s) minus the time spent: {wait:?}"
            );
            assert!(
                refused.reset > Duration::from_secs(3595)
                    && refused.reset <= Duration::from_secs(3600)
            );
        }
        let other = a.check("another-client", &q).await;
        assert!(other.allowed && !other.degraded);
    }

    #[tokio::test]
    async fn buckets_expire_once_full_again() {
        let Some(url) = test_redis().await else {
            return;
        };
        let prefix = unique_prefix();
        let limiter =
            RateLimiter::redis(&url, &prefix, FailurePolicy::Closed, Duration::from_secs(1))
                .await
                .expect("limiter");
        assert!(limiter.check("k", &quota("2/hour")).await.allowed);
        let client = redis::Client::open(url.as_str()).expect("url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{prefix}k"))
            .query_async(&mut connection)
            .await
            .expect("PTTL");
        assert!(
            ttl > 1_790_000 && ttl <= 1_800_000,
            "expires when the bucket is full (30 min): {ttl}"
        );
    }

    // The ceilings below run under paused time: tokio's clock moves only when every task waits,
    // straight to the next deadline, so "within the timeout" is exact and a busy machine cannot
    // stretch it. Sockets stay real; whether the refusal or the deadline comes first, the
    // limiter must have decided by its timeout.

    #[tokio::test(start_paused = true)]
    async fn unreachable_redis_follows_the_failure_policy_quickly() {
        let timeout = Duration::from_millis(300);
        let q = quota("10/s");
        for policy in [FailurePolicy::Open, FailurePolicy::Closed] {
            let started = tokio::time::Instant::now();
            let limiter = RateLimiter::redis("redis://127.0.0.1:1", "t:", policy, timeout)
                .await
                .expect("an unreachable server is not a setup error");
            assert!(started.elapsed() <= timeout, "{:?}", started.elapsed());
            for _ in 0..3 {
                let started = tokio::time::Instant::now();
                let decision = limiter.check("k", &q).await;
                assert!(
                    started.elapsed() <= timeout,
                    "decided within the timeout: {:?}",
                    started.elapsed()
                );
                assert!(decision.degraded);
                match policy {
                    FailurePolicy::Open => {
                        assert!(decision.allowed);
                        assert_eq!(decision.remaining, decision.limit);
                    }
                    FailurePolicy::Closed => {
                        assert!(!decision.allowed);
                        assert_eq!(decision.retry_after, Some(Duration::from_secs(1)));
                    }
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silent_redis_times_out_instead_of_hanging() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let timeout = Duration::from_millis(200);
        let url = format!("redis://127.0.0.1:{port}");
        let started = tokio::time::Instant::now();
        let limiter = RateLimiter::redis(&url, "t:", FailurePolicy::Closed, timeout)
            .await
            .expect("a silent server is not a setup error");
        assert!(started.elapsed() <= timeout, "{:?}", started.elapsed());
        for _ in 0..3 {
            let started = tokio::time::Instant::now();
            let decision = limiter.check("k", &quota("10/s")).await;
            assert!(
                started.elapsed() <= timeout,
                "decided within the timeout: {:?}",
                started.elapsed()
            );
            assert!(decision.degraded && !decision.allowed, "{decision:?}");
        }
        server.abort();
    }

    #[tokio::test]
    async fn invalid_urls_are_setup_errors_without_the_password() {
        for url in [
            "not a url",
            "http://127.0.0.1:6379",
            "redis://:hunter2@127.0.0.1:notaport",
        ] {
            let err =
                RateLimiter::redis(url, "t:", FailurePolicy::Open, Duration::from_millis(100))
                    .await
                    .expect_err(url);
            assert!(
                matches!(err, RateLimitSetupError::InvalidUrl { .. }),
                "{err:?}"
            );
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn warnings_are_rate_limited() {
        let gate = WarnGate::new();
        assert_eq!(gate.pass(), Some(0));
        assert_eq!(gate.pass(), None);
        assert_eq!(gate.pass(), None);
        gate.next_ms.store(0, Ordering::Relaxed);
        assert_eq!(gate.pass(), Some(2), "reports how many were held back");
    }
}

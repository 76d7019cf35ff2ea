//! Rate limiting with the generic cell rate algorithm (GCRA), in-process or shared through Redis.
//!
//! A [`Quota`] (`60/min`, burst 60) allows `burst` requests at once from a full bucket, then one
//! per [`Quota::interval`]. [`RateLimiter::check`] decides one request for a key and returns a
//! [`Decision`], which renders the `RateLimit-*` and `Retry-After` headers.
//!
//! Two backends give the same decisions for the same sequence of requests:
//! - [`RateLimiter::local`]: per process, on tokio's clock;
//! - [`RateLimiter::redis`]: shared by every replica using the same Redis and key prefix, on
//!   Redis' clock. When Redis cannot answer within the timeout, the [`FailurePolicy`] decides
//!   and the decision is marked degraded.
//!
//! Keys longer than [`MAX_KEY_LEN`] bytes are replaced by their SHA-256, so a caller-chosen key
//! cannot grow memory or Redis keys without bound. Each backend keeps one bucket per key; the
//! in-process backend additionally separates buckets by quota, so give each distinct limit its
//! own key to get the same behaviour from both.

mod decision;
mod local;
mod rate;
mod redis;
mod settings;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use decision::{
    Decision, FailurePolicy, RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET,
};
pub use rate::Quota;
pub use settings::{RateLimitConfig, ToolQuota};

use local::LocalBackend;
use redis::RedisBackend;

/// Keys longer than this many bytes are hashed.
pub const MAX_KEY_LEN: usize = 200;

/// A rate limiter that cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitSetupError {
    /// The Redis URL does not parse or names an unsupported scheme.
    #[error("invalid Redis URL: {reason}")]
    InvalidUrl {
        /// Why, without credentials.
        reason: String,
    },
    /// The Redis client could not be created.
    #[error("cannot create the Redis client: {reason}")]
    Client {
        /// Why, without credentials.
        reason: String,
    },
}

/// The limiter: in-process or Redis-shared. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Local(LocalBackend),
    Redis(Box<RedisBackend>),
}

impl RateLimiter {
    /// In-process GCRA: one keyed limiter per distinct [`Quota`], on tokio's clock (so
    /// `tokio::time::pause()` applies). Keys whose bucket is full again are pruned
    /// periodically, so memory stays bounded by the active keys.
    pub fn local() -> Self {
        RateLimiter {
            backend: Arc::new(Backend::Local(LocalBackend::new())),
        }
    }

    /// Redis-shared GCRA: one atomic Lua script per decision on keys `<prefix><key>`, which
    /// hold the theoretical arrival time and expire when the bucket is full again.
    ///
    /// Every Redis call (connecting included) is bounded by `timeout`; past it, or on any
    /// Redis error, `policy` decides and the decision is degraded. An unreachable Redis is not
    /// an error here: the limiter keeps reconnecting. Waits at most `timeout` for a first
    /// connection. Fails only when `url` is invalid.
    pub async fn redis(
        url: &str,
        prefix: &str,
        policy: FailurePolicy,
        timeout: Duration,
    ) -> Result<Self, RateLimitSetupError> {
        let backend = RedisBackend::connect(url, prefix, policy, timeout).await?;
        Ok(RateLimiter {
            backend: Arc::new(Backend::Redis(Box::new(backend))),
        })
    }

    /// Decide one request for `key` under `quota`.
    pub async fn check(&self, key: &str, quota: &Quota) -> Decision {
        let key = bounded_key(key);
        match self.backend.as_ref() {
            Backend::Local(local) => local.check(&key, quota),
            Backend::Redis(redis) => redis.check(&key, quota).await,
        }
    }

    /// `"memory"` or `"redis"` (for logs and metrics labels).
    pub fn backend(&self) -> &'static str {
        match self.backend.as_ref() {
            Backend::Local(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }
}

/// `key` itself, or `sha256:<hex>` of it when longer than [`MAX_KEY_LEN`] bytes.
fn bounded_key(key: &str) -> Cow<'_, str> {
    if key.len() <= MAX_KEY_LEN {
        return Cow::Borrowed(key);
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut hashed = String::with_capacity(7 + 64);
    hashed.push_str("sha256:");
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hashed, "{byte:02x}");
    }
    Cow::Owned(hashed)
}

#[cfg(test)]
mod tests {
    use super::redis::tests::{test_redis, unique_prefix};
    use super::*;

    #[test]
    fn long_keys_are_hashed() {
        let short = "principal:alice";
        assert_eq!(bounded_key(short), short);
        let edge = "k".repeat(MAX_KEY_LEN);
        assert_eq!(bounded_key(&edge), edge.as_str());
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let hashed = bounded_key(&long);
        assert!(hashed.starts_with("sha256:"));
        assert_eq!(hashed.len(), 7 + 64);
        assert_ne!(bounded_key(&"j".repeat(MAX_KEY_LEN + 1)), hashed);
    }

    #[tokio::test(start_paused = true)]
    async fn local_limiter_counts_long_keys_separately() {
        let limiter = RateLimiter::local();
        assert_eq!(limiter.backend(), "memory");
        let q = Quota::parse("1/min").expect("quota");
        let a = format!("{}a", "x".repeat(300));
        let b = format!("{}b", "x".repeat(300));
        assert!(limiter.check(&a, &q).await.allowed);
        assert!(!limiter.check(&a, &q).await.allowed);
        assert!(limiter.check(&b, &q).await.allowed);
    }

    #[test]
    fn check_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let limiter = RateLimiter::local();
        let quota = Quota::parse("1/s").expect("quota");
        let future = limiter.check("k", &quota);
        assert_send(&future);
    }

    #[tokio::test]
    async fn local_and_redis_agree() {
        let Some(url) = test_redis().await else {
            return;
        };
        let shared = RateLimiter::redis(
            &url,
            &unique_prefix(),
            FailurePolicy::Closed,
            Duration::from_secs(1),
        )
        .await
        .expect("redis limiter");
        let local = RateLimiter::local();
        let quota = Quota::parse("3/hour").expect("quota").with_burst(3);
        for (i, expected) in [true, true, true, false, false].into_iter().enumerate() {
            let key = "agreement";
            let from_local = local.check(key, &quota).await;
            let from_redis = shared.check(key, &quota).await;
            assert!(!from_redis.degraded, "{from_redis:?}");
            assert_eq!(from_local.allowed, expected, "local, request {i}");
            assert_eq!(from_redis.allowed, from_local.allowed, "request {i}");
            assert_eq!(from_redis.limit, from_local.limit);
            assert_eq!(from_redis.remaining, from_local.remaining, "request {i}");
            let (early, late) = if from_local.reset < from_redis.reset {
                (from_local.reset, from_redis.reset)
            } else {
                (from_redis.reset, from_local.reset)
            };
            assert!(
                late - early < Duration::from_secs(5),
                "reset {i}: {early:?} vs {late:?}"
            );
        }
    }
}

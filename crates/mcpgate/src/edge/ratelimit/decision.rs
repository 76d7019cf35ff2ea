//! One rate-limit decision and the response headers that report it.
//!
//! Headers follow the separate-field form of the IETF rate-limit headers draft:
//! `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the bucket is
//! full again) and, on refusal, `Retry-After`.

use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::Quota;

/// `RateLimit-Limit`: the burst.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests still allowed right now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the bucket is full again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// What to do when the shared backend (Redis) cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Allow the request: availability over enforcement.
    Open,
    /// Refuse the request (retry after one second): enforcement over availability.
    Closed,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The burst (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Until the bucket is full again (`RateLimit-Reset`, rounded up to seconds when rendered).
    pub reset: Duration,
    /// When refused: until the next request would be allowed.
    pub retry_after: Option<Duration>,
    /// The backend failed and the failure policy decided.
    pub degraded: bool,
}

impl Decision {
    /// An allowed request; `reset` is the time from now until the bucket is full again, after
    /// this request was counted.
    pub(super) fn allowed(quota: &Quota, reset: Duration) -> Decision {
        let interval = quota.interval().as_micros();
        let burst = quota.effective_burst();
        let capacity = interval * u128::from(burst);
        let headroom = capacity.saturating_sub(reset.as_micros()) / interval.max(1);
        Decision {
            allowed: true,
            limit: burst,
            remaining: u32::try_from(headroom).unwrap_or(u32::MAX).min(burst - 1),
            reset,
            retry_after: None,
            degraded: false,
        }
    }

    /// A refused request that could be allowed after `retry_after`.
    pub(super) fn refused(quota: &Quota, retry_after: Duration) -> Decision {
        let burst = quota.effective_burst();
        let tolerance = quota.interval() * (burst - 1);
        Decision {
            allowed: false,
            limit: burst,
            remaining: 0,
            reset: retry_after.saturating_add(tolerance),
            retry_after: Some(retry_after),
            degraded: false,
        }
    }

    /// The backend could not decide: `policy` does.
    pub(super) fn degraded(quota: &Quota, policy: FailurePolicy) -> Decision {
        let limit = quota.effective_burst();
        match policy {
            FailurePolicy::Open => Decision {
                allowed: true,
                limit,
                remaining: limit,
                reset: Duration::ZERO,
                retry_after: None,
                degraded: true,
            },
            FailurePolicy::Closed => Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset: Duration::from_secs(1),
                retry_after: Some(Duration::from_secs(1)),
                degraded: true,
            },
        }
    }

    /// Insert `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (integer seconds,
    /// rounded up) and, when refused, `Retry-After` (integer seconds, rounded up, at least 1)
    /// into `headers`, replacing earlier values.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(ceil_secs(self.reset)));
        if self.allowed {
            headers.remove(RETRY_AFTER);
        } else {
            let wait = self.retry_after.map_or(1, ceil_secs).max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(wait));
        }
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(text: &str) -> Quota {
        Quota::parse(text).expect("valid quota")
    }

    fn header(headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    #[test]
    fn allowed_decision_counts_remaining_from_the_reset() {
        let q = quota("60/min");
        let first = Decision::allowed(&q, Duration::from_secs(1));
        assert_eq!((first.limit, first.remaining), (60, 59));
        let tenth = Decision::allowed(&q, Duration::from_secs(10));
        assert_eq!(tenth.remaining, 50);
        let partly_refilled = Decision::allowed(&q, Duration::from_millis(10_500));
        assert_eq!(partly_refilled.remaining, 49);
        let last = Decision::allowed(&q, Duration::from_secs(60));
        assert_eq!(last.remaining, 0);
    }

    #[test]
    fn refused_decision_resets_after_the_whole_tolerance() {
        let q = quota("60/min");
        let refused = Decision::refused(&q, Duration::from_millis(400));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset, Duration::from_millis(59_400));
        assert_eq!(refused.retry_after, Some(Duration::from_millis(400)));
    }

    #[test]
    fn headers_round_up_to_whole_seconds() {
        let mut headers = HeaderMap::new();
        let allowed = Decision::allowed(&quota("10/min"), Duration::from_millis(6_001));
        allowed.write_headers(&mut headers);
        assert_eq!(header(&headers, "ratelimit-limit").as_deref(), Some("10"));
        assert_eq!(
            header(&headers, "ratelimit-remaining").as_deref(),
            Some("8")
        );
        assert_eq!(header(&headers, "ratelimit-reset").as_deref(), Some("7"));
        assert_eq!(header(&headers, "retry-after"), None);

        let refused = Decision::refused(&quota("10/min"), Duration::from_millis(1));
        refused.write_headers(&mut headers);
        assert_eq!(
            header(&headers, "ratelimit-remaining").as_deref(),
            Some("0")
        );
        assert_eq!(header(&headers, "ratelimit-reset").as_deref(), Some("55"));
        assert_eq!(header(&headers, "retry-after").as_deref(), Some("1"));

        let zero_wait = Decision {
            retry_after: Some(Duration::ZERO),
            ..refused
        };
        zero_wait.write_headers(&mut headers);
        assert_eq!(header(&headers, "retry-after").as_deref(), Some("1"));

        allowed.write_headers(&mut headers);
        assert_eq!(
            header(&headers, "retry-after"),
            None,
            "stale Retry-After removed"
        );
    }

    #[test]
    fn degraded_decisions_follow_the_policy() {
        let q = quota("5/s");
        let open = Decision::degraded(&q, FailurePolicy::Open);
        assert!(open.allowed && open.degraded);
        assert_eq!(open.remaining, 5);
        let closed = Decision::degraded(&q, FailurePolicy::Closed);
        assert!(!closed.allowed && closed.degraded);
        assert_eq!(closed.retry_after, Some(Duration::from_secs(1)));
    }
}

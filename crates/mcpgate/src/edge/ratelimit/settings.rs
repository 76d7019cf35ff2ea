//! Rate-limit settings: per caller and route, for anonymous callers per IP, per tool, and how
//! the shared (Redis) limiter behaves. Resolved by `config`; used by the edge's
//! [`Limits`](crate::edge::Limits) and [`RateLimiter`](super::RateLimiter).

use std::time::Duration;

use super::{FailurePolicy, Quota};

/// Rate limits (GCRA). In process by default; shared by every replica through Redis when
/// `MCPGATE_REDIS_URL` is set.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Requests per authenticated caller and route (MCP endpoint, REST API). Default none
    /// (unlimited). Env `MCPGATE_RATE_LIMIT` (such as `600/min`) and
    /// `MCPGATE_RATE_LIMIT_BURST`.
    pub per_subject: Option<Quota>,
    /// Requests per client IP for callers without a credential (including refused ones).
    /// Default `60/min`; `off` disables. Env `MCPGATE_RATE_LIMIT_ANONYMOUS`.
    pub anonymous: Option<Quota>,
    /// Apply the anonymous limit to loopback clients too. Off by default: a local client (or a
    /// proxy on this machine, where every caller shares one address) is not throttled as one
    /// IP. Env `MCPGATE_RATE_LIMIT_LOOPBACK`.
    pub anonymous_loopback: bool,
    /// Per-tool limits per caller (`[[rate_limit.tools]]` with `tools`, `rate`, `burst`); the
    /// first entry naming a tool applies. Default none.
    pub tools: Vec<ToolQuota>,
    /// What happens when Redis cannot answer: `open` (allow) or `closed` (refuse). Default
    /// `open`. Env `MCPGATE_RATE_LIMIT_FAILURE`.
    pub failure: FailurePolicy,
    /// Longest wait for one Redis decision. Default 250ms. Env
    /// `MCPGATE_RATE_LIMIT_REDIS_TIMEOUT`.
    pub redis_timeout: Duration,
    /// Prefix of the Redis keys. Default `mcpgate:rl:`. Env `MCPGATE_RATE_LIMIT_PREFIX`.
    pub key_prefix: String,
}

/// A limit on some tools, per caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolQuota {
    /// Tool name patterns (`*`, `?`).
    pub tools: Vec<String>,
    /// The rate and burst.
    pub quota: Quota,
}

impl RateLimitConfig {
    /// Whether any limit is configured (otherwise no limiter is built).
    pub fn any(&self) -> bool {
        self.per_subject.is_some() || self.anonymous.is_some() || !self.tools.is_empty()
    }
}

//! The gate of the protected routes (the MCP endpoint and `/api/v1`): who is calling, whether
//! their token carries the scopes every request needs, and whether they are within their rate.
//! Each route renders a [`Refusal`] in its own format (JSON for MCP, problem details for REST)
//! with the same status and headers. A shared limiter that cannot decide under the `closed`
//! failure policy is a 503, not a 429: the outage is the server's, not the caller's.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::time::Instant;

use super::auth::RequestFacts;
use super::authz::glob;
use super::expiring::Expiring;
use super::{
    AuthError, AuthVia, Authenticator, Challenges, Decision, Principal, Quota, RateLimitConfig,
    RateLimiter, ToolQuota,
};
use prometheus_client::metrics::counter::Counter;

use crate::telemetry::Metrics;

/// Why the gate refused a request.
#[derive(Debug)]
pub enum Refusal {
    /// No credential, or a bad one: 401 (503 when the signing keys are unreachable).
    Unauthenticated(AuthError),
    /// A good credential without the scopes every request needs: 403.
    InsufficientScope(Vec<String>),
    /// Over the rate: 429.
    Limited(Decision),
    /// The shared rate limiter (Redis) could not decide and the failure policy is `closed`: a
    /// 503 with `Retry-After`, since the outage is ours and the caller is not over any rate.
    LimiterUnavailable(Decision),
}

impl Refusal {
    /// The refusal of a request a rate-limit `decision` did not allow: over the rate, or the
    /// limiter unavailable when the decision is degraded.
    pub fn over_limit(decision: Decision) -> Refusal {
        if decision.degraded {
            Refusal::LimiterUnavailable(decision)
        } else {
            Refusal::Limited(decision)
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Refusal::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::LimiterUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated(e) if e.is_unavailable() => "auth_unavailable",
            // RFC 6750 §3.1: no error code when no credential was sent.
            Refusal::Unauthenticated(AuthError::Missing) => "unauthorized",
            Refusal::Unauthenticated(_) => "invalid_token",
            Refusal::InsufficientScope(_) => "insufficient_scope",
            Refusal::Limited(_) => "rate_limited",
            Refusal::LimiterUnavailable(_) => "rate_limit_unavailable",
        }
    }

    /// A message for the caller (never containing the credential).
    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(e) => e.to_string(),
            Refusal::InsufficientScope(scopes) => {
                format!("this server needs the scopes: {}", scopes.join(" "))
            }
            Refusal::Limited(d) => {
                format!("rate limit exceeded; retry in {} s", retry_secs(d))
            }
            Refusal::LimiterUnavailable(d) => format!(
                "rate limits cannot be checked right now; retry in {} s",
                retry_secs(d)
            ),
        }
    }

    /// The headers that go with the status: the challenge, or the rate-limit fields.
    pub fn write_headers(&self, challenges: &Challenges, headers: &mut HeaderMap) {
        match self {
            Refusal::Unauthenticated(e) if e.is_unavailable() => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Refusal::Unauthenticated(e) => {
                headers.insert(header::WWW_AUTHENTICATE, challenges.unauthorized(e));
            }
            Refusal::InsufficientScope(scopes) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    challenges.insufficient_scope(scopes),
                );
            }
            Refusal::Limited(decision) => decision.write_headers(headers),
            // No RateLimit-* fields: no bucket was read, so they would say nothing true.
            Refusal::LimiterUnavailable(decision) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(decision)));
            }
        }
    }
}

/// A decision's wait in whole seconds, rounded up, at least 1.
fn retry_secs(decision: &Decision) -> u64 {
    decision
        .retry_after
        .map_or(1, |r| r.as_secs_f64().ceil().max(1.0) as u64)
}

/// A request the gate let through: the caller, and the rate decision to report in headers.
#[derive(Debug)]
pub struct Admission {
    /// The caller.
    pub principal: Principal,
    /// The JWT the caller was verified by (auth `jwt` only).
    pub token: Option<super::CallerToken>,
    /// The route's rate decision, when a limit applied.
    pub decision: Option<Decision>,
}

/// Rate limits as the gate and the tool dispatcher apply them.
#[derive(Debug, Clone)]
pub struct Limits {
    limiter: RateLimiter,
    per_subject: Option<Quota>,
    anonymous: Option<Quota>,
    anonymous_loopback: bool,
    tools: Arc<[ToolQuota]>,
    /// Decision counters by scope (route, anonymous, tool) and outcome.
    counters: Arc<[[Counter; 4]; 3]>,
    /// Anonymous keys over their limit, and until when: a request from one of them is refused
    /// before its credential is verified, unless checking it costs nothing (see
    /// [`Authenticator::cheap_principal`]).
    blocked: Arc<Expiring<String, ()>>,
}

/// Most anonymous keys remembered as over their limit.
const BLOCKED_MAX: usize = 10_000;

/// The `scope` labels of the decision counters, in [`Limits::counters`] order.
const SCOPES: [&str; 3] = ["route", "anonymous", "tool"];
/// The `outcome` labels, in order.
const OUTCOMES: [&str; 4] = ["allowed", "limited", "degraded_allowed", "degraded_refused"];

impl Limits {
    /// Limits from `config` on `limiter`.
    pub fn new(limiter: RateLimiter, config: &RateLimitConfig, metrics: &Metrics) -> Self {
        let backend = limiter.backend();
        let counters = SCOPES.map(|scope| {
            OUTCOMES.map(|outcome| metrics.rate_limit_counter(scope, backend, outcome))
        });
        Self {
            limiter,
            per_subject: config.per_subject,
            anonymous: config.anonymous,
            anonymous_loopback: config.anonymous_loopback,
            tools: config.tools.clone().into(),
            counters: Arc::new(counters),
            blocked: Arc::new(Expiring::new(BLOCKED_MAX)),
        }
    }

    /// The limits `config` asks for: none without limits, shared through Redis at `redis_url`
    /// when there is one, in process otherwise.
    pub async fn from_config(
        config: &RateLimitConfig,
        redis_url: Option<&str>,
        metrics: &Metrics,
    ) -> anyhow::Result<Option<Self>> {
        if !config.any() {
            return Ok(None);
        }
        let limiter = match redis_url {
            Some(url) => RateLimiter::redis(
                url,
                &config.key_prefix,
                config.failure,
                config.redis_timeout,
            )
            .await
            .context("set up Redis rate limits (MCPGATE_REDIS_URL)")?,
            None => RateLimiter::local(),
        };
        tracing::info!(backend = limiter.backend(), "rate limits on");
        Ok(Some(Self::new(limiter, config, metrics)))
    }

    /// Limits under `config` counted by the same limiter (a reload): what callers have spent
    /// so far still counts.
    #[must_use]
    pub fn with_settings(&self, config: &RateLimitConfig, metrics: &Metrics) -> Self {
        Self::new(self.limiter.clone(), config, metrics)
    }

    /// The backend's name (`memory` or `redis`).
    pub fn backend(&self) -> &'static str {
        self.limiter.backend()
    }

    /// Decide `key` under `quota`, counted under `scope` (an index into [`SCOPES`]).
    async fn decide(&self, scope: usize, key: &str, quota: &Quota) -> Decision {
        let decision = self.limiter.check(key, quota).await;
        let outcome = match (decision.degraded, decision.allowed) {
            (false, true) => 0,
            (false, false) => 1,
            (true, true) => 2,
            (true, false) => 3,
        };
        self.counters[scope][outcome].inc();
        decision
    }

    /// The anonymous limit for a request under the anonymous `key`, if one applies.
    async fn anonymous(&self, key: Option<&String>) -> Option<Decision> {
        let (quota, key) = (self.anonymous.as_ref()?, key?);
        let decision = self.decide(1, key, quota).await;
        // A degraded refusal says nothing about this client: it is not remembered as over.
        if let Some(wait) = decision
            .retry_after
            .filter(|_| !decision.allowed && !decision.degraded)
        {
            self.blocked.insert(key.clone(), (), Instant::now() + wait);
        }
        Some(decision)
    }

    /// The anonymous key of a request from `peer`, when the anonymous limit applies to it.
    fn anonymous_key(&self, route: &str, peer: Option<IpAddr>) -> Option<String> {
        self.anonymous.as_ref()?;
        let ip = peer?.to_canonical();
        if ip.is_loopback() && !self.anonymous_loopback {
            return None;
        }
        Some(ip_key(ip, route))
    }

    /// The refusal for a request under an anonymous `key` still over its limit, if it is.
    fn still_blocked(&self, key: Option<&String>) -> Option<Decision> {
        let ((), until) = self.blocked.get(key?)?;
        let wait = until.checked_duration_since(Instant::now())?;
        self.counters[1][1].inc();
        let limit = self.anonymous.map_or(1, |q| q.effective_burst());
        Some(Decision {
            allowed: false,
            limit,
            remaining: 0,
            reset: wait,
            retry_after: Some(wait),
            degraded: false,
        })
    }

    /// The per-caller limit of `route`, if one applies.
    async fn subject(&self, route: &str, principal: &Principal) -> Option<Decision> {
        let quota = self.per_subject.as_ref()?;
        let key = format!("sub:{}/{}:{route}", principal.org, principal.subject);
        Some(self.decide(0, &key, quota).await)
    }

    /// The per-caller limit of `tool` (the first `[[rate_limit.tools]]` naming it), if any.
    pub async fn tool(&self, principal: &Principal, tool: &str) -> Option<Decision> {
        let quota = self
            .tools
            .iter()
            .find(|t| t.tools.iter().any(|pattern| glob(pattern, tool)))?
            .quota;
        let key = format!("tool:{}/{}:{tool}", principal.org, principal.subject);
        Some(self.decide(2, &key, &quota).await)
    }
}

/// The anonymous key of a client address: an IPv4 address itself, an IPv6 address by its /64
/// (one host usually holds a whole /64, so single addresses would give it endless buckets).
fn ip_key(ip: IpAddr, route: &str) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}:{route}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "ip6:{:x}:{:x}:{:x}:{:x}::/64:{route}",
                s[0], s[1], s[2], s[3]
            )
        }
    }
}

/// Authentication, required scopes and route rate limits.
#[derive(Debug, Clone)]
pub struct Gate {
    /// What a reload may replace (static tokens, rate limits): swapped whole, so a request
    /// sees either the old settings or the new, never a mix.
    live: Arc<ArcSwap<GateLive>>,
    challenges: Challenges,
    required_scopes: Arc<[String]>,
    metrics: Metrics,
}

/// The gate's reloadable part.
#[derive(Debug)]
struct GateLive {
    auth: Authenticator,
    limits: Option<Limits>,
}

impl Gate {
    /// A gate over `auth`, requiring `required_scopes` of every authenticated caller.
    pub fn new(
        auth: Authenticator,
        challenges: Challenges,
        required_scopes: &[String],
        limits: Option<Limits>,
        metrics: Metrics,
    ) -> Self {
        Self {
            live: Arc::new(ArcSwap::from_pointee(GateLive { auth, limits })),
            challenges,
            required_scopes: required_scopes.into(),
            metrics,
        }
    }

    /// Replace the authenticator and the rate limits (a reload); requests already admitted
    /// keep what admitted them.
    pub fn reconfigure(&self, auth: Authenticator, limits: Option<Limits>) {
        self.live.store(Arc::new(GateLive { auth, limits }));
    }

    /// The authenticator in force.
    pub fn authenticator(&self) -> Authenticator {
        self.live.load().auth.clone()
    }

    /// The rate limits in force.
    pub fn limits(&self) -> Option<Limits> {
        self.live.load().limits.clone()
    }

    /// The rate limits' backend (`memory` or `redis`), when there are limits.
    pub fn rate_limit_backend(&self) -> Option<&'static str> {
        self.live.load().limits.as_ref().map(Limits::backend)
    }

    /// Whether admitting a request needs its body too (auth `signed`).
    pub fn needs_request(&self) -> bool {
        self.live.load().auth.needs_request()
    }

    /// Whether a `?key=` query parameter may carry the token.
    pub fn accepts_query_key(&self) -> bool {
        self.live.load().auth.accepts_query_key()
    }

    /// The challenges refusals carry.
    pub fn challenges(&self) -> &Challenges {
        &self.challenges
    }

    /// Admit a request to `route` from `peer` with `headers`, or say why not. Callers without
    /// a credential (and those whose credential is refused) count against the anonymous limit
    /// of their IP; authenticated callers against their own. A request that is not `counted`
    /// (one that only frees server state, such as ending a session) is authenticated but spends
    /// no rate.
    pub async fn admit(
        &self,
        headers: &HeaderMap,
        request: Option<RequestFacts<'_>>,
        certificate: Option<&super::ClientCertificate>,
        peer: Option<IpAddr>,
        route: &'static str,
        counted: bool,
    ) -> Result<Admission, Refusal> {
        let live = self.live.load_full();
        // The client's anonymous key, when the anonymous limit applies to it. A client over
        // that limit (say, one guessing tokens) gets no expensive verification: only
        // credentials that cost nothing to check are still looked at.
        let anonymous = live
            .limits
            .as_ref()
            .and_then(|limits| limits.anonymous_key(route, peer));
        let blocked = live
            .limits
            .as_ref()
            .and_then(|limits| limits.still_blocked(anonymous.as_ref()));
        let auth = &live.auth;
        let checked = match (blocked, auth.certificate_principal(certificate)) {
            (_, Some(checked)) => checked,
            (None, None) => auth.principal_for(headers, request).await,
            (Some(decision), None) => match auth.cheap_principal(headers) {
                Some(checked) => checked,
                None => return Err(Refusal::over_limit(decision)),
            },
        };
        let principal = match checked {
            Ok(principal) => principal,
            Err(error) => {
                self.metrics.auth_refusal(error.reason());
                if error != AuthError::Missing {
                    // The reason only (a fixed word), never the credential.
                    tracing::info!(reason = error.reason(), route, "credential refused");
                }
                if let Some(limits) = &live.limits
                    && let Some(decision) = limits.anonymous(anonymous.as_ref()).await
                    && !decision.allowed
                {
                    return Err(Refusal::over_limit(decision));
                }
                return Err(Refusal::Unauthenticated(error));
            }
        };
        let decision = match &live.limits {
            None => None,
            Some(_) if !counted => None,
            Some(limits) if principal.is_authenticated() => limits.subject(route, &principal).await,
            Some(limits) => limits.anonymous(anonymous.as_ref()).await,
        };
        if let Some(decision) = decision.as_ref().filter(|d| !d.allowed) {
            return Err(Refusal::over_limit(decision.clone()));
        }
        // Scopes are an OAuth notion: only JWT callers carry them.
        if principal.via == AuthVia::Jwt {
            let missing: Vec<String> = self
                .required_scopes
                .iter()
                .filter(|s| !principal.has_scope(s))
                .cloned()
                .collect();
            if !missing.is_empty() {
                self.metrics.auth_refusal("insufficient_scope");
                return Err(Refusal::InsufficientScope(self.required_scopes.to_vec()));
            }
        }
        let token = (principal.via == super::AuthVia::Jwt)
            .then(|| super::auth::bearer_token(headers))
            .flatten()
            .map(|token| super::CallerToken(token.into()));
        Ok(Admission {
            principal,
            token,
            decision,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::edge::FailurePolicy;

    /// An unreachable shared limiter under the `closed` policy refuses, but that refusal is an
    /// outage: it is answered 503, and the client is not remembered as over its limit (which
    /// would refuse its next requests with 429 before their credentials were even looked at).
    #[tokio::test]
    async fn a_degraded_refusal_is_an_outage_and_blocks_nobody() {
        let limiter = RateLimiter::redis(
            "redis://127.0.0.1:1",
            "t:",
            FailurePolicy::Closed,
            Duration::from_millis(100),
        )
        .await
        .expect("an unreachable server is not a setup error");
        let config = RateLimitConfig {
            anonymous: Some(Quota::parse("10/min").expect("quota")),
            anonymous_loopback: true,
            ..crate::config::Config::defaults().rate_limit
        };
        let limits = Limits::new(limiter, &config, &Metrics::new());
        let peer: IpAddr = "192.0.2.7".parse().expect("ip");
        let key = limits.anonymous_key("mcp", Some(peer));
        let decision = limits.anonymous(key.as_ref()).await.expect("a decision");
        assert!(decision.degraded && !decision.allowed, "{decision:?}");
        assert_eq!(limits.still_blocked(key.as_ref()), None);
        let refusal = Refusal::over_limit(decision);
        assert_eq!(refusal.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refusal.code(), "rate_limit_unavailable");
        let mut headers = HeaderMap::new();
        refusal.write_headers(&Challenges::default(), &mut headers);
        assert_eq!(headers[header::RETRY_AFTER], "1");
        assert!(!headers.contains_key("ratelimit-remaining"));
    }

    #[test]
    fn anonymous_keys_group_ipv6_by_slash_64_and_unmap_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ip_key(a, "mcp"), ip_key(b, "mcp"));
        assert_ne!(ip_key(a, "mcp"), ip_key(other, "mcp"));
        assert_ne!(ip_key(a, "mcp"), ip_key(a, "/api/v1"));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(ip_key(mapped.to_canonical(), "mcp"), "ip:192.0.2.7:mcp");
        let mapped_loopback: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert!(mapped_loopback.to_canonical().is_loopback());
    }
}

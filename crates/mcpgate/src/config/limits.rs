//! Resolution of the rate-limit settings (the edge's [`RateLimitConfig`]): per caller and route,
//! for anonymous callers per IP, and per tool.

use std::time::Duration;

use super::Layers;
use super::entries::ToolQuotaSpec;
use crate::edge::{FailurePolicy, Quota, RateLimitConfig, ToolQuota};

pub(super) fn resolve_rate_limits(l: &mut Layers<'_>) -> RateLimitConfig {
    let per_subject = quota(l, "rate_limit.rate", "MCPGATE_RATE_LIMIT", None);
    let burst: Option<u32> = l.get("rate_limit.burst", "MCPGATE_RATE_LIMIT_BURST");
    if burst == Some(0) {
        l.issue(
            "rate_limit.burst",
            Some("MCPGATE_RATE_LIMIT_BURST"),
            "must be greater than zero",
        );
    }
    let per_subject = match (per_subject, burst) {
        (Some(q), Some(b)) if b > 0 => Some(q.with_burst(b)),
        (q, _) => q,
    };
    let anonymous = quota(
        l,
        "rate_limit.anonymous",
        "MCPGATE_RATE_LIMIT_ANONYMOUS",
        Quota::parse("60/min").ok(),
    );
    RateLimitConfig {
        per_subject,
        anonymous,
        anonymous_loopback: l.get_or(
            "rate_limit.anonymous_loopback",
            "MCPGATE_RATE_LIMIT_LOOPBACK",
            false,
        ),
        tools: l.file_entries::<ToolQuotaSpec, ToolQuota>("rate_limit.tools"),
        failure: l.choice(
            "rate_limit.failure",
            "MCPGATE_RATE_LIMIT_FAILURE",
            FailurePolicy::Open,
            |s| match s {
                "open" => Ok(FailurePolicy::Open),
                "closed" => Ok(FailurePolicy::Closed),
                other => Err(format!("expected open or closed, found {other:?}")),
            },
        ),
        redis_timeout: l.positive(
            "rate_limit.redis_timeout",
            "MCPGATE_RATE_LIMIT_REDIS_TIMEOUT",
            Duration::from_millis(250),
        ),
        key_prefix: l.get_or(
            "rate_limit.key_prefix",
            "MCPGATE_RATE_LIMIT_PREFIX",
            "mcpgate:rl:".to_owned(),
        ),
    }
}

/// A rate setting: `COUNT/PERIOD`, or `off`/`none` for no limit.
fn quota(l: &mut Layers<'_>, key: &str, var: &str, default: Option<Quota>) -> Option<Quota> {
    let Some(text) = l.get::<String>(key, var) else {
        return default;
    };
    if matches!(text.trim(), "off" | "none") {
        return None;
    }
    match Quota::parse(&text) {
        Ok(q) => Some(q),
        Err(e) => {
            l.issue(key, Some(var), e);
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{env, with_file};
    use crate::config::{Overrides, resolve};

    #[test]
    fn anonymous_callers_get_sixty_a_minute_unless_told_otherwise() {
        let c = resolve(&env(&[]), &Overrides::default()).expect("defaults");
        let anonymous = c.rate_limit.anonymous.expect("a default");
        assert_eq!((anonymous.count, anonymous.period.as_secs()), (60, 60));
        assert!(c.rate_limit.per_subject.is_none());
        let c = resolve(
            &env(&[
                ("MCPGATE_RATE_LIMIT", "600/min"),
                ("MCPGATE_RATE_LIMIT_BURST", "20"),
                ("MCPGATE_RATE_LIMIT_ANONYMOUS", "off"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        let quota = c.rate_limit.per_subject.expect("set");
        assert_eq!((quota.count, quota.burst), (600, 20));
        assert!(c.rate_limit.anonymous.is_none());
        let e = resolve(
            &env(&[
                ("MCPGATE_RATE_LIMIT", "lots"),
                ("MCPGATE_RATE_LIMIT_FAILURE", "maybe"),
            ]),
            &Overrides::default(),
        )
        .expect_err("invalid");
        let text = e.to_string();
        assert!(
            text.contains("MCPGATE_RATE_LIMIT)") && text.contains("MCPGATE_RATE_LIMIT_FAILURE"),
            "{text}"
        );
    }

    #[test]
    fn tool_limits_come_from_the_file() {
        let c = with_file(
            "[[rate_limit.tools]]\ntools = [\"create_*\"]\nrate = \"10/min\"\nburst = 2\n",
            &[],
        )
        .expect("valid");
        assert_eq!(c.rate_limit.tools.len(), 1);
        assert_eq!(c.rate_limit.tools[0].quota.burst, 2);
    }
}

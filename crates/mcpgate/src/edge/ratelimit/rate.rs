//! Rates as operators write them: `60/min`, `10/s`, `1000/hour`, `5/10s`.
//!
//! A [`Quota`] is a steady rate (`count` requests per `period`) plus a burst: how many requests
//! a client that has been quiet for a while may make at once. The burst defaults to the count,
//! so `60/min` allows 60 requests at once, then one per second.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The shortest emission interval: rates finer than one request per microsecond are treated as
/// one per microsecond, the resolution both backends share.
const MIN_INTERVAL: Duration = Duration::from_micros(1);

/// The longest time a bucket may take to fill (interval × burst); longer ones are shortened by
/// lowering the burst, so that time arithmetic stays far from overflow in every backend.
const MAX_WINDOW: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The longest period [`Quota::parse`] accepts.
const MAX_PERIOD: Duration = Duration::from_secs(365 * 24 * 3600);

/// A rate: `count` requests per `period`, plus a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests allowed per `period` at the steady rate.
    pub count: u32,
    /// The period `count` refers to.
    pub period: std::time::Duration,
    /// Requests allowed at once from a full bucket.
    pub burst: u32,
}

impl Quota {
    /// Parse "60/min", "10/s", "1000/hour", "5/10s" (count/period; period units s, sec, second,
    /// m, min, minute, h, hour, d, day — plurals too — and optionally a number before the unit).
    /// Burst defaults to `count` (so "60/min" allows 60 at once, then one per second).
    pub fn parse(text: &str) -> Result<Quota, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty rate: expected COUNT/PERIOD such as 60/min or 5/10s".to_owned());
        }
        let Some((count, period)) = text.split_once('/') else {
            return Err(format!(
                "rate `{text}`: expected COUNT/PERIOD such as 60/min or 5/10s"
            ));
        };
        let count = count.trim();
        let count: u32 = count.parse().map_err(|_| {
            format!(
                "rate `{text}`: the count `{count}` is not a whole number from 1 to {}",
                u32::MAX
            )
        })?;
        if count == 0 {
            return Err(format!("rate `{text}`: the count must be at least 1"));
        }
        let period =
            parse_period(period.trim()).map_err(|reason| format!("rate `{text}`: {reason}"))?;
        Ok(Quota {
            count,
            period,
            burst: count,
        })
    }

    /// The same rate with another burst (at least 1).
    pub fn with_burst(self, burst: u32) -> Quota {
        Quota {
            burst: burst.max(1),
            ..self
        }
    }

    /// Time between two requests at the steady rate (the GCRA emission interval):
    /// `period / count`, rounded down to a whole microsecond and at least one microsecond.
    pub fn interval(&self) -> Duration {
        let exact = self.period / self.count.max(1);
        let micros = u64::try_from(exact.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(micros).clamp(MIN_INTERVAL, MAX_WINDOW)
    }

    /// The burst actually enforced: at least 1, and small enough that a bucket fills within
    /// ten years.
    pub fn effective_burst(&self) -> u32 {
        let interval = self.interval().as_micros();
        let most = u32::try_from(MAX_WINDOW.as_micros() / interval.max(1)).unwrap_or(u32::MAX);
        self.burst.clamp(1, most.max(1))
    }

    /// Time an empty bucket takes to fill: the interval times the burst.
    pub fn window(&self) -> Duration {
        self.interval() * self.effective_burst()
    }
}

impl FromStr for Quota {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Quota::parse(text)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} (burst {})",
            self.count,
            humantime::format_duration(self.period),
            self.burst
        )
    }
}

/// Parse `[N]UNIT`, e.g. `min`, `10s`, `2 hours`.
fn parse_period(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    let multiplier: u64 = if number.is_empty() {
        1
    } else {
        number
            .parse()
            .map_err(|_| format!("the period number `{number}` is too large"))?
    };
    if multiplier == 0 {
        return Err("the period must be longer than zero".to_owned());
    }
    let unit_secs: u64 = match unit.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "" => {
            return Err(format!(
                "the period `{text}` has no unit: use s, min, hour or day (e.g. 60/min, 5/10s)"
            ));
        }
        other => {
            return Err(format!(
                "unknown period unit `{other}`: use s, min, hour or day (e.g. 60/min, 5/10s)"
            ));
        }
    };
    let secs = multiplier
        .checked_mul(unit_secs)
        .filter(|secs| *secs <= MAX_PERIOD.as_secs())
        .ok_or_else(|| format!("the period `{text}` is longer than 365 days"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(count: u32, secs: u64) -> Quota {
        Quota {
            count,
            period: Duration::from_secs(secs),
            burst: count,
        }
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(Quota::parse("60/min"), Ok(q(60, 60)));
        assert_eq!(Quota::parse("10/s"), Ok(q(10, 1)));
        assert_eq!(Quota::parse("1000/hour"), Ok(q(1000, 3600)));
        assert_eq!(Quota::parse("5/10s"), Ok(q(5, 10)));
        assert_eq!(Quota::parse("2/d"), Ok(q(2, 86_400)));
        assert_eq!(Quota::parse(" 3 / 2 minutes "), Ok(q(3, 120)));
        assert_eq!(Quota::parse("7/SEC"), Ok(q(7, 1)));
        assert_eq!(Quota::parse("1/365days"), Ok(q(1, 365 * 86_400)));
        assert_eq!("60/m".parse::<Quota>(), Ok(q(60, 60)));
    }

    #[test]
    fn burst_defaults_to_count_and_can_be_changed() {
        let quota = Quota::parse("60/min").expect("parses");
        assert_eq!(quota.burst, 60);
        assert_eq!(quota.with_burst(5).burst, 5);
        assert_eq!(quota.with_burst(0).burst, 1);
    }

    #[test]
    fn rejects_bad_rates_with_clear_errors() {
        let cases = [
            ("", "empty rate"),
            ("60", "expected COUNT/PERIOD"),
            ("0/min", "count must be at least 1"),
            ("-1/min", "not a whole number"),
            ("abc/min", "not a whole number"),
            ("99999999999/min", "not a whole number"),
            ("1.5/min", "not a whole number"),
            ("5/", "has no unit"),
            ("5/10", "has no unit"),
            ("5/fortnight", "unknown period unit `fortnight`"),
            ("5/ms", "unknown period unit `ms`"),
            ("5/0s", "longer than zero"),
            ("5/366d", "longer than 365 days"),
            ("5/99999999999999999999s", "too large"),
        ];
        for (text, expected) in cases {
            let err = Quota::parse(text).expect_err(text);
            assert!(
                err.contains(expected),
                "{text:?}: {err:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn interval_is_period_over_count() {
        assert_eq!(q(60, 60).interval(), Duration::from_secs(1));
        assert_eq!(q(10, 1).interval(), Duration::from_millis(100));
        assert_eq!(q(3, 1).interval(), Duration::from_micros(333_333));
        assert_eq!(q(u32::MAX, 1).interval(), MIN_INTERVAL);
        assert_eq!(q(60, 60).window(), Duration::from_secs(60));
    }

    #[test]
    fn hand_built_quotas_never_break_the_arithmetic() {
        let zero = Quota {
            count: 0,
            period: Duration::ZERO,
            burst: 0,
        };
        assert_eq!(zero.interval(), MIN_INTERVAL);
        assert_eq!(zero.effective_burst(), 1);
        let huge = Quota {
            count: 1,
            period: Duration::MAX,
            burst: u32::MAX,
        };
        assert_eq!(huge.interval(), MAX_WINDOW);
        assert_eq!(huge.effective_burst(), 1);
        assert!(huge.window() <= MAX_WINDOW);
        let wide = q(1, 3600).with_burst(u32::MAX);
        assert!(wide.window() <= MAX_WINDOW);
    }
}

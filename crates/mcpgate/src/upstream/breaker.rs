//! The circuit breaker of one upstream: closed while it answers, open (failing fast, its tools
//! hidden) after too many failures, half-open after a cooldown to let a few probes through,
//! closed again when they succeed. Pure state: the caller passes the time, so it is tested
//! without sleeping.
//!
//! Only upstream failures are recorded here (transport errors, failed connects and pings, the
//! upstream's internal errors). Local refusals (auth, rate limits, the breaker itself, the
//! timeouts mcpgate chose) never reach it.

use std::time::{Duration, Instant};

/// When the breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Open after this many failures in a row (0: never on a streak).
    pub consecutive_failures: u32,
    /// Open when failures make up at least this share of the calls in `window` …
    pub error_rate: f64,
    /// … once at least this many calls were made in it.
    pub min_calls: u32,
    /// The window the error rate is measured over.
    pub window: Duration,
    /// How long it stays open before letting probes through.
    pub cooldown: Duration,
    /// How many probes may be in flight while half-open.
    pub probes: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            cooldown: Duration::from_secs(30),
            probes: 1,
        }
    }
}

/// Where the breaker stands, as reported in health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// A few probes go through.
    HalfOpen,
}

impl BreakerState {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// A call may not go through: the breaker is open (or its probes are all taken) for this long
/// yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// How long until a probe may go through.
    pub retry_after: Duration,
}

/// The breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Inner,
}

#[derive(Debug)]
enum Inner {
    Closed {
        streak: u32,
        window_start: Instant,
        calls: u32,
        failures: u32,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        in_flight: u32,
    },
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy, now: Instant) -> Self {
        Self {
            policy,
            state: closed(now),
        }
    }

    /// Where it stands at `now` (an open breaker whose cooldown is over reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Ask to make a call at `now`. Passing (closed, or a probe slot while half-open) obliges
    /// the caller to [`record`](Self::record) its outcome.
    pub fn try_pass(&mut self, now: Instant) -> Result<(), Rejected> {
        match &mut self.state {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now < *until => Err(Rejected {
                retry_after: *until - now,
            }),
            Inner::Open { .. } => {
                self.state = Inner::HalfOpen { in_flight: 1 };
                Ok(())
            }
            Inner::HalfOpen { in_flight } if *in_flight < self.policy.probes.max(1) => {
                *in_flight += 1;
                Ok(())
            }
            Inner::HalfOpen { .. } => Err(Rejected {
                retry_after: self.policy.cooldown,
            }),
        }
    }

    /// Release a probe slot without a verdict (the call ended in a way that says nothing
    /// about the upstream, e.g. a timeout mcpgate chose).
    pub fn abandon(&mut self) -> Option<BreakerState> {
        if let Inner::HalfOpen { in_flight } = &mut self.state {
            *in_flight = in_flight.saturating_sub(1);
        }
        None
    }

    /// How long an open breaker stays open from `now` (`None` when it is not open).
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        match self.state {
            Inner::Open { until } => Some(until.saturating_duration_since(now)),
            _ => None,
        }
    }

    /// Record a call's outcome at `now`. Returns the state it moved to, when it moved.
    pub fn record(&mut self, now: Instant, ok: bool) -> Option<BreakerState> {
        let policy = self.policy;
        match &mut self.state {
            Inner::Closed {
                streak,
                window_start,
                calls,
                failures,
            } => {
                if now.duration_since(*window_start) >= policy.window {
                    *window_start = now;
                    *calls = 0;
                    *failures = 0;
                }
                *calls += 1;
                if ok {
                    *streak = 0;
                    return None;
                }
                *streak += 1;
                *failures += 1;
                let streak_trips =
                    policy.consecutive_failures > 0 && *streak >= policy.consecutive_failures;
                let rate_trips = policy.min_calls > 0
                    && *calls >= policy.min_calls
                    && f64::from(*failures) >= policy.error_rate * f64::from(*calls);
                if streak_trips || rate_trips {
                    self.state = Inner::Open {
                        until: now + policy.cooldown,
                    };
                    return Some(BreakerState::Open);
                }
                None
            }
            // A call that passed before the breaker opened: its outcome changes nothing.
            Inner::Open { .. } => None,
            Inner::HalfOpen { in_flight } => {
                *in_flight = in_flight.saturating_sub(1);
                if ok {
                    self.state = closed(now);
                    Some(BreakerState::Closed)
                } else {
                    self.state = Inner::Open {
                        until: now + policy.cooldown,
                    };
                    Some(BreakerState::Open)
                }
            }
        }
    }
}

fn closed(now: Instant) -> Inner {
    Inner::Closed {
        streak: 0,
        window_start: now,
        calls: 0,
        failures: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            error_rate: 0.5,
            min_calls: 10,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(5),
            probes: 1,
        }
    }

    #[test]
    fn a_streak_of_failures_opens_it_and_a_probe_closes_it() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(policy(), t0);
        assert_eq!(breaker.record(t0, false), None);
        assert_eq!(breaker.record(t0, true), None, "a success ends the streak");
        assert_eq!(breaker.record(t0, false), None);
        assert_eq!(breaker.record(t0, false), None);
        assert_eq!(breaker.record(t0, false), Some(BreakerState::Open));

        let rejected = breaker.try_pass(t0 + Duration::from_secs(1)).unwrap_err();
        assert_eq!(rejected.retry_after, Duration::from_secs(4));
        assert_eq!(
            breaker.state(t0 + Duration::from_secs(1)),
            BreakerState::Open
        );

        let later = t0 + Duration::from_secs(5);
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert!(breaker.try_pass(later).is_ok(), "one probe");
        assert!(breaker.try_pass(later).is_err(), "only one probe at a time");
        assert_eq!(breaker.record(later, true), Some(BreakerState::Closed));
        assert!(breaker.try_pass(later).is_ok());
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_cooldown() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(policy(), t0);
        for _ in 0..3 {
            breaker.record(t0, false);
        }
        let later = t0 + Duration::from_secs(6);
        assert!(breaker.try_pass(later).is_ok());
        assert_eq!(breaker.record(later, false), Some(BreakerState::Open));
        assert_eq!(
            breaker.try_pass(later).unwrap_err().retry_after,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn an_error_rate_over_the_window_opens_it_without_a_streak() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(policy(), t0);
        let mut opened = None;
        for i in 0..10 {
            // fail, fail, ok, … : never three in a row, but more than half fail.
            let ok = i % 3 == 2;
            opened = opened.or(breaker.record(t0, ok));
        }
        assert_eq!(opened, Some(BreakerState::Open));
    }

    #[test]
    fn the_window_forgets_old_calls() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(policy(), t0);
        for i in 0..9 {
            breaker.record(t0, i % 3 == 2);
        }
        // A new window: the old failures no longer count toward the rate.
        let later = t0 + Duration::from_secs(11);
        for _ in 0..9 {
            assert_eq!(breaker.record(later, true), None);
        }
        assert_eq!(breaker.record(later, false), None);
        assert_eq!(breaker.state(later), BreakerState::Closed);
    }

    #[test]
    fn outcomes_of_calls_made_before_it_opened_change_nothing() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(policy(), t0);
        for _ in 0..3 {
            breaker.record(t0, false);
        }
        assert_eq!(breaker.record(t0, true), None);
        assert_eq!(breaker.state(t0), BreakerState::Open);
    }
}

//! The metrics of federated upstreams, labelled by upstream name: calls by outcome, latency,
//! retries, breaker transitions, session evictions, open sessions and calls in flight.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::latency_histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: Arc<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamKindLabels {
    upstream: Arc<String>,
    kind: &'static str,
}

/// The families, registered once.
pub(super) struct UpstreamFamilies {
    calls: Family<UpstreamKindLabels, Counter>,
    duration: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    retries: Family<UpstreamLabels, Counter>,
    breaker: Family<UpstreamKindLabels, Counter>,
    evictions: Family<UpstreamKindLabels, Counter>,
    sessions: Family<UpstreamLabels, Gauge>,
    in_flight: Family<UpstreamLabels, Gauge>,
    changes: Family<UpstreamKindLabels, Counter>,
}

impl UpstreamFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let families = Self {
            calls: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            retries: Family::default(),
            breaker: Family::default(),
            evictions: Family::default(),
            sessions: Family::default(),
            in_flight: Family::default(),
            changes: Family::default(),
        };
        registry.register(
            "upstream_calls",
            "Calls forwarded to upstreams, by upstream and outcome (ok, refused, upstream_error, \
             transport_error, timeout, unavailable, breaker_open)",
            families.calls.clone(),
        );
        registry.register(
            "upstream_call_duration_seconds",
            "Forwarded call latency by upstream (retries included)",
            families.duration.clone(),
        );
        registry.register(
            "upstream_retries",
            "Retries sent to upstreams",
            families.retries.clone(),
        );
        registry.register(
            "upstream_breaker_transitions",
            "Circuit breaker transitions by upstream and the state entered",
            families.breaker.clone(),
        );
        registry.register(
            "upstream_evictions",
            "Upstream sessions evicted, by reason (transport, heartbeat)",
            families.evictions.clone(),
        );
        registry.register(
            "upstream_sessions",
            "Upstream sessions open (as of the last heartbeat)",
            families.sessions.clone(),
        );
        registry.register(
            "upstream_in_flight",
            "Calls in flight per upstream",
            families.in_flight.clone(),
        );
        registry.register(
            "upstream_tool_definition_changes",
            "Upstream tool definitions found changed since pinned, by upstream and policy \
             (warn, block)",
            families.changes.clone(),
        );
        families
    }

    pub(super) fn of(&self, name: &str) -> UpstreamMetrics {
        let upstream = Arc::new(name.to_owned());
        let labels = UpstreamLabels {
            upstream: Arc::clone(&upstream),
        };
        UpstreamMetrics {
            upstream,
            calls: self.calls.clone(),
            duration: self.duration.get_or_create(&labels).clone(),
            retries: self.retries.get_or_create(&labels).clone(),
            breaker: self.breaker.clone(),
            evictions: self.evictions.clone(),
            sessions: self.sessions.get_or_create(&labels).clone(),
            in_flight: self.in_flight.get_or_create(&labels).clone(),
            changes: self.changes.clone(),
        }
    }
}

/// One upstream's metrics.
#[derive(Clone)]
pub struct UpstreamMetrics {
    upstream: Arc<String>,
    calls: Family<UpstreamKindLabels, Counter>,
    duration: Histogram,
    retries: Counter,
    breaker: Family<UpstreamKindLabels, Counter>,
    evictions: Family<UpstreamKindLabels, Counter>,
    sessions: Gauge,
    in_flight: Gauge,
    changes: Family<UpstreamKindLabels, Counter>,
}

impl std::fmt::Debug for UpstreamMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamMetrics({})", self.upstream)
    }
}

/// Counts a call in flight until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl UpstreamMetrics {
    fn kind(&self, kind: &'static str) -> UpstreamKindLabels {
        UpstreamKindLabels {
            upstream: Arc::clone(&self.upstream),
            kind,
        }
    }

    /// Count a finished call.
    pub fn call(&self, outcome: &'static str, elapsed: Duration) {
        self.calls.get_or_create(&self.kind(outcome)).inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Count a retry.
    pub fn retry(&self) {
        self.retries.inc();
    }

    /// Count a breaker transition into `state`.
    pub fn breaker(&self, state: &'static str) {
        self.breaker.get_or_create(&self.kind(state)).inc();
    }

    /// Count an evicted session.
    pub fn eviction(&self, reason: &'static str) {
        self.evictions.get_or_create(&self.kind(reason)).inc();
    }

    /// Set the number of open sessions.
    pub fn sessions(&self, open: usize) {
        self.sessions.set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Count a tool definition found changed (`blocked`: hidden until approved).
    pub fn tool_changed(&self, blocked: bool) {
        let kind = if blocked { "block" } else { "warn" };
        self.changes.get_or_create(&self.kind(kind)).inc();
    }

    /// Count a call in flight while the guard lives.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

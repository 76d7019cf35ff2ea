//! What keeps an upstream healthy between calls: the breaker's transitions (tools hidden and
//! back, clients told), and the supervisor task that lists an upstream until that works,
//! probes an open breaker after its cooldown, pings every session each heartbeat, and (for a
//! stateless upstream) follows its list changes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::UpstreamSource;
use crate::upstream::breaker::{BreakerState, Rejected};

/// How often an upstream that has never been listed is tried again, at most.
const FIRST_LIST_RETRY_CAP: Duration = Duration::from_secs(30);

impl UpstreamSource {
    /// Ask the breaker to let a call through.
    pub(super) fn pass(&self) -> Result<(), Rejected> {
        self.breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_pass(Instant::now())
    }

    /// Record an outcome (`None`: release a probe without a verdict) and act on a transition.
    pub(super) fn record(&self, ok: Option<bool>) {
        let now = Instant::now();
        let moved = {
            let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            match ok {
                Some(ok) => breaker.record(now, ok),
                None => breaker.abandon(),
            }
        };
        let Some(to) = moved else {
            return;
        };
        self.metrics.breaker(to.as_str());
        match to {
            BreakerState::Open => {
                tracing::warn!(upstream = %self.config.name, "upstream circuit breaker opened; its tools are hidden")
            }
            _ => {
                tracing::info!(upstream = %self.config.name, "upstream circuit breaker closed; its tools are back")
            }
        }
        self.announce();
        self.wake.notify_one();
    }

    /// Keep the upstream healthy until `stop`: list it until that works, probe an open
    /// breaker after its cooldown, ping every session each heartbeat. Then close every
    /// session.
    pub async fn supervise(self: Arc<Self>, stop: CancellationToken) -> anyhow::Result<()> {
        let follower = tokio::spawn(Arc::clone(&self).follow_changes(stop.clone()));
        let heartbeat = self.config.heartbeat_interval;
        let mut next_heartbeat = (!heartbeat.is_zero()).then(|| Instant::now() + heartbeat);
        let mut next_listing = Instant::now() + Duration::from_millis(500);
        let mut listing_failures: u32 = 0;
        loop {
            let now = Instant::now();
            let listed = self.is_listed();
            let breaker = self
                .breaker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .state(now);
            // Act on what is due.
            if !listed && now >= next_listing {
                match self.list().await {
                    Ok(tools) => {
                        tracing::info!(upstream = %self.config.name, tools, "upstream connected");
                        self.announce();
                    }
                    Err(e) => {
                        listing_failures += 1;
                        next_listing = Instant::now()
                            + self
                                .config
                                .retry
                                .ceiling(listing_failures)
                                .max(Duration::from_millis(500))
                                .min(FIRST_LIST_RETRY_CAP);
                        tracing::debug!(upstream = %self.config.name, error = %format!("{e:#}"), "upstream still unreachable");
                    }
                }
                continue;
            }
            if listed && breaker == BreakerState::HalfOpen {
                self.probe().await;
                continue;
            }
            if next_heartbeat.is_some_and(|at| now >= at) {
                self.heartbeat().await;
                next_heartbeat = Some(Instant::now() + heartbeat);
                continue;
            }
            // Sleep until the next duty (or a wake-up, or the stop).
            let mut until = next_heartbeat.unwrap_or(now + Duration::from_secs(3600));
            if !listed {
                until = until.min(next_listing);
            }
            if let Some(open_until) = self.breaker_reopens(now) {
                until = until.min(open_until);
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep_until(until.into()) => {}
                () = self.wake.notified() => {}
            }
        }
        let _ = follower.await;
        // Calls in flight finish first (no new ones come: the catalog no longer lists the
        // upstream, or the app has drained), each within its own timeout.
        self.calls.close();
        let longest = self
            .config
            .overrides
            .values()
            .filter_map(|o| o.timeout)
            .fold(self.config.timeout, Duration::max);
        if tokio::time::timeout(longest, self.calls.wait())
            .await
            .is_err()
        {
            tracing::warn!(upstream = %self.config.name, "calls still in flight are cut off");
        }
        self.close_principals().await;
        self.pool.close_all().await;
        Ok(())
    }

    /// When an open breaker lets a probe through.
    fn breaker_reopens(&self, now: Instant) -> Option<Instant> {
        let breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match breaker.state(now) {
            BreakerState::Open => breaker.retry_after(now).map(|d| now + d),
            _ => None,
        }
    }

    /// Probe a half-open breaker by listing the tools: closes it (tools back) or opens it again.
    async fn probe(&self) {
        if self.pass().is_err() {
            return;
        }
        let ok = self.list().await.is_ok();
        tracing::info!(upstream = %self.config.name, ok, "upstream breaker probe");
        self.record(Some(ok));
    }

    /// Ping every session (shared, and callers' own); evict the ones that fail or are slow.
    /// Close callers' session sets that have been idle too long.
    async fn heartbeat(&self) {
        self.close_idle_principals().await;
        // A changed definition an operator may have approved since: list again to find out.
        if !self.changed_tools().is_empty() && self.list().await.is_ok() {
            self.announce();
        }
        let timeout = self.config.heartbeat_timeout;
        let mut open = 0;
        for pool in self.pools() {
            let sessions = pool.sessions().await;
            open += sessions.len();
            let pings = sessions.iter().map(|session| async move {
                let failed = if session.is_alive() {
                    match tokio::time::timeout(timeout, session.ping()).await {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(format!("a heartbeat ping failed: {e:#}")),
                        Err(_) => Some(format!(
                            "a heartbeat ping took longer than {} s",
                            timeout.as_secs_f64()
                        )),
                    }
                } else {
                    Some("the session's transport closed".to_owned())
                };
                (session, failed)
            });
            for (session, failed) in futures::future::join_all(pings).await {
                if let Some(problem) = failed {
                    tracing::warn!(upstream = %self.config.name, session = session.id, problem, "upstream heartbeat failed");
                    self.set_problem(problem);
                    self.evict(&pool, session, "heartbeat").await;
                    self.record(Some(false));
                    open -= 1;
                }
            }
        }
        self.metrics.sessions(open);
    }
}

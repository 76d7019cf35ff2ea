//! The life of a running app: whether it is ready, the in-flight calls it must finish, the
//! background tasks it owns, and the one drain sequence every transport goes through.
//!
//! Draining, in order (each transport fills in what its [`Intake`] means):
//!
//! 1. readiness goes false (load balancers stop sending);
//! 2. [`Intake::stop`]: no new work is taken (HTTP: answers ask clients to close, then the
//!    listener stops after `http.shutdown_delay`; stdio: nothing to stop);
//! 3. `draining` is cancelled: open-ended streams (`subscriptions/listen`) end gracefully;
//! 4. calls in flight finish, up to the grace deadline;
//! 5. [`Intake::close`]: the transport closes what it still holds (HTTP: idle connections get
//!    `http.shutdown_linger` to deliver a last request, then close; stdio: the service stops
//!    reading), and calls that arrived meanwhile finish;
//! 6. `shutdown` is cancelled: sessions and streams end; [`Intake::finish`] waits for the
//!    transport to be gone;
//! 7. background tasks stop, newest first, each reported if it failed.

mod tasks;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use tasks::{TaskStopped, Tasks};

/// What a transport does at each step of the drain (see the module docs).
pub trait Intake {
    /// Take no new work.
    fn stop(&mut self) -> impl Future<Output = ()> + Send;
    /// In-flight calls are done: close what the transport still holds, before `deadline`.
    fn close(&mut self, deadline: Instant) -> impl Future<Output = ()> + Send;
    /// Sessions and streams were told to end: wait for the transport to be gone.
    fn finish(&mut self, deadline: Instant) -> impl Future<Output = anyhow::Result<()>> + Send;
}

struct Inner {
    ready: AtomicBool,
    draining: CancellationToken,
    shutdown: CancellationToken,
    calls: TaskTracker,
    tasks: Tasks,
}

/// The app's lifecycle handles (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("ready", &self.is_ready())
            .field("in_flight", &self.inner.calls.len())
            .finish_non_exhaustive()
    }
}

impl Lifecycle {
    /// A ready app with nothing in flight.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                ready: AtomicBool::new(true),
                draining: CancellationToken::new(),
                shutdown: CancellationToken::new(),
                calls: TaskTracker::new(),
                tasks: Tasks::default(),
            }),
        }
    }

    /// Whether the app takes new work (false once draining).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Cancelled when draining starts: open-ended streams end gracefully.
    pub fn draining(&self) -> &CancellationToken {
        &self.inner.draining
    }

    /// Cancelled once in-flight work is done: sessions and streams end. Never cancelled while a
    /// call can still be waiting for its answer.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The calls in flight; the drain waits for them.
    pub fn calls(&self) -> &TaskTracker {
        &self.inner.calls
    }

    /// The background tasks.
    pub fn tasks(&self) -> &Tasks {
        &self.inner.tasks
    }

    /// Drain through `intake` (see the module docs), calls getting `grace` once intake has
    /// stopped; the background tasks that failed, newest first.
    pub async fn drain(
        &self,
        intake: &mut impl Intake,
        grace: Duration,
    ) -> anyhow::Result<Vec<TaskStopped>> {
        self.inner.ready.store(false, Ordering::Release);
        intake.stop().await;
        let deadline = Instant::now() + grace;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            "shutting down: draining in-flight calls"
        );
        self.inner.draining.cancel();
        self.wait_for_calls(deadline).await;
        intake.close(deadline).await;
        self.wait_for_calls(deadline).await;
        self.inner.shutdown.cancel();
        let finished = intake.finish(deadline).await;
        let failed = self.inner.tasks.stop_all(remaining(deadline)).await;
        finished.map(|()| failed)
    }

    async fn wait_for_calls(&self, deadline: Instant) {
        let calls = &self.inner.calls;
        calls.close();
        if tokio::time::timeout(remaining(deadline), calls.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = calls.len(),
                "in-flight calls still running at the shutdown deadline"
            );
        }
    }
}

/// Time left until `deadline`.
pub fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests;

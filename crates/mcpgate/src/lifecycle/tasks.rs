//! Background tasks the app owns (a session sweeper today; upstream pools and heartbeats
//! next): each started here under a name, told to stop through its own token, stopped newest
//! first once calls have drained, and reported by name when it fails — at once, not only at
//! shutdown.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Running {
    name: String,
    stop: CancellationToken,
    handle: JoinHandle<Result<(), String>>,
}

/// The registry of background tasks.
#[derive(Default)]
pub struct Tasks {
    running: Mutex<Vec<Running>>,
}

/// A background task that failed, panicked or did not stop in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStopped {
    /// The task's name.
    pub name: String,
    /// What went wrong.
    pub error: String,
}

impl Tasks {
    /// Start a task named `name`. `task` gets the token that is cancelled when it should stop;
    /// it should return soon after. An error it returns, or a panic, is logged with its name
    /// when it happens.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.into();
        let label = name.clone();
        let stop = CancellationToken::new();
        let work = task(stop.clone());
        let handle = tokio::spawn(async move {
            let outcome = match AssertUnwindSafe(work).catch_unwind().await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => format!("{error:#}"),
                Err(panic) => panic_message(&*panic),
            };
            tracing::error!(task = %label, error = %outcome, "background task failed");
            Err(outcome)
        });
        self.lock().push(Running { name, stop, handle });
    }

    /// The names of the tasks still running, oldest first.
    pub fn names(&self) -> Vec<String> {
        let running = self.lock();
        running
            .iter()
            .filter(|r| !r.handle.is_finished())
            .map(|r| r.name.clone())
            .collect()
    }

    /// Stop every task, newest first, each given what is left of `within`; the ones that
    /// failed (or had to be aborted).
    pub(super) async fn stop_all(&self, within: Duration) -> Vec<TaskStopped> {
        let deadline = tokio::time::Instant::now() + within;
        let tasks = std::mem::take(&mut *self.lock());
        let mut failed = Vec::new();
        for Running {
            name,
            stop,
            mut handle,
        } in tasks.into_iter().rev()
        {
            stop.cancel();
            let error = match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(error))) => error,
                Ok(Err(join)) => join.to_string(),
                Err(_) => {
                    handle.abort();
                    tracing::warn!(task = %name, "background task did not stop in time; aborted");
                    "did not stop in time".to_owned()
                }
            };
            failed.push(TaskStopped { name, error });
        }
        failed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("panicked: {text}")
}

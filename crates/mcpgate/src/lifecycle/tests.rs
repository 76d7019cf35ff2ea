//! The drain sequence and the task registry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// An intake that writes down each step, with what the lifecycle looked like then.
struct Recorder {
    lifecycle: Lifecycle,
    steps: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn note(&self, step: &str) {
        let l = &self.lifecycle;
        self.steps.lock().expect("lock").push(format!(
            "{step} ready={} draining={} shutdown={} in_flight={}",
            l.is_ready(),
            l.draining().is_cancelled(),
            l.shutdown().is_cancelled(),
            l.calls().len()
        ));
    }
}

impl Intake for Recorder {
    async fn stop(&mut self) {
        self.note("stop");
    }

    async fn close(&mut self, _: Instant) {
        self.note("close");
    }

    async fn finish(&mut self, _: Instant) -> anyhow::Result<()> {
        self.note("finish");
        Ok(())
    }
}

#[tokio::test]
async fn the_drain_goes_step_by_step_and_calls_finish_before_the_transport_closes() {
    let lifecycle = Lifecycle::new();
    let steps = Arc::new(Mutex::new(Vec::new()));
    let tasks_seen = Arc::clone(&steps);
    for name in ["older", "newer"] {
        let seen = Arc::clone(&tasks_seen);
        lifecycle.tasks().spawn(name, move |stop| async move {
            stop.cancelled().await;
            seen.lock().expect("lock").push(format!("{name} stopped"));
            Ok(())
        });
    }
    assert_eq!(lifecycle.tasks().names(), ["older", "newer"]);
    lifecycle
        .calls()
        .spawn(tokio::time::sleep(Duration::from_millis(50)));

    let mut intake = Recorder {
        lifecycle: lifecycle.clone(),
        steps: Arc::clone(&steps),
    };
    let failed = lifecycle
        .drain(&mut intake, Duration::from_secs(5))
        .await
        .expect("drained");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        *steps.lock().expect("lock"),
        [
            "stop ready=false draining=false shutdown=false in_flight=1",
            "close ready=false draining=true shutdown=false in_flight=0",
            "finish ready=false draining=true shutdown=true in_flight=0",
            "newer stopped",
            "older stopped",
        ]
    );
}

#[tokio::test]
async fn failing_tasks_are_reported_by_name() {
    let lifecycle = Lifecycle::new();
    // Stopped last (newest first), so its wait does not use up the others' time.
    lifecycle.tasks().spawn("stuck", |_| std::future::pending());
    lifecycle
        .tasks()
        .spawn("fails", |_| async { anyhow::bail!("out of luck") });
    lifecycle.tasks().spawn("panics", |stop| async move {
        stop.cancelled().await;
        panic!("at the stop");
    });
    tokio::task::yield_now().await;

    let mut failed = lifecycle.tasks().stop_all(Duration::from_millis(200)).await;
    failed.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<_> = failed.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["fails", "panics", "stuck"], "{failed:?}");
    assert_eq!(failed[0].error, "out of luck");
    assert_eq!(failed[1].error, "panicked: at the stop");
    assert_eq!(failed[2].error, "did not stop in time");
    assert!(lifecycle.tasks().names().is_empty());
}

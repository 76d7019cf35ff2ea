//! Request bodies under a deadline and a minimum rate, read under their own permit.
//!
//! A client that sends its body slowly costs almost nothing to send, but used to hold one of
//! the `http.max_concurrent_requests` permits until the request timeout: sixty such clients
//! against a limit of fifty refused every other request. Now a request with a body first holds
//! a *reading* permit (`http.max_body_readers`) and moves to a *work* permit only once its body
//! is complete, so slow senders crowd out slow senders, not work; and a body that takes longer
//! than `http.body_read_timeout`, or arrives below `http.min_body_rate` bytes/s after
//! `http.min_body_rate_grace`, is cut off (the edge answers 408).
//!
//! The pace is checked only when the client has nothing more for us (the inner body is
//! pending), with one timer set to the moment the sender would fall behind; a body that arrives
//! with its head never arms a timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How fast a body must arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Longest time to receive a whole body.
    pub timeout: Duration,
    /// Lowest average rate, in bytes per second, once `grace` has passed; 0 for none.
    pub min_rate: u64,
    /// Time before the rate is checked.
    pub grace: Duration,
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyRefusal {
    /// The whole body did not arrive within the timeout.
    #[error("the request body was not received within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The body arrived below the minimum rate.
    #[error("the request body arrived slower than {0} bytes/s")]
    TooSlow(u64),
    /// The body is read, but no work permit is free.
    #[error("the server is handling as many requests as it may")]
    Overloaded,
}

/// Where the work permit goes once a body is complete; the edge holds it for the rest of the
/// request.
pub type WorkSlot = Arc<Mutex<Option<OwnedSemaphorePermit>>>;

/// A request body that enforces a [`BodyPace`] and swaps its reading permit for a work permit
/// when it ends.
pub struct PacedBody {
    inner: Body,
    pace: BodyPace,
    started: Instant,
    received: u64,
    timer: Option<Pin<Box<Sleep>>>,
    reading: Option<OwnedSemaphorePermit>,
    work: Arc<Semaphore>,
    slot: WorkSlot,
    done: bool,
}

impl PacedBody {
    /// Wrap `inner`, read under `reading`; when it ends, a permit of `work` goes into `slot`.
    pub fn new(
        inner: Body,
        pace: BodyPace,
        reading: OwnedSemaphorePermit,
        work: Arc<Semaphore>,
        slot: WorkSlot,
    ) -> Self {
        Self {
            inner,
            pace,
            started: Instant::now(),
            received: 0,
            timer: None,
            reading: Some(reading),
            work,
            slot,
            done: false,
        }
    }

    /// The moment this body is out of time: the overall deadline, or when the bytes so far
    /// fall below the minimum rate (never before the grace).
    fn deadline(&self) -> (Instant, BodyRefusal) {
        let overall = self.started + self.pace.timeout;
        if self.pace.min_rate == 0 {
            return (overall, BodyRefusal::Timeout(self.pace.timeout));
        }
        let earned = Duration::from_secs_f64(self.received as f64 / self.pace.min_rate as f64);
        let behind = self.started + earned.max(self.pace.grace);
        if behind < overall {
            (behind, BodyRefusal::TooSlow(self.pace.min_rate))
        } else {
            (overall, BodyRefusal::Timeout(self.pace.timeout))
        }
    }

    /// The body is complete: give back the reading permit and take a work permit.
    fn finish(&mut self) -> Result<(), BodyRefusal> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(());
        }
        self.reading = None;
        self.timer = None;
        let permit = Arc::clone(&self.work)
            .try_acquire_owned()
            .map_err(|_| BodyRefusal::Overloaded)?;
        *self.slot.lock().expect("work slot lock") = Some(permit);
        Ok(())
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish().map_err(axum::Error::new)?;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish().map_err(axum::Error::new)?;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Pending => {
                let (deadline, refusal) = this.deadline();
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                ready!(timer.as_mut().poll(cx));
                this.done = true;
                this.reading = None;
                Poll::Ready(Some(Err(axum::Error::new(refusal))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The refusal behind a body error, if the pace or the permits caused it.
pub fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyRefusal> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refusal) = e.downcast_ref::<BodyRefusal>() {
            return Some(refusal);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced(pace: BodyPace, body: Body) -> (PacedBody, Arc<Semaphore>, WorkSlot) {
        let reading = Arc::new(Semaphore::new(1));
        let work = Arc::new(Semaphore::new(1));
        let slot = WorkSlot::default();
        let permit = Arc::clone(&reading).try_acquire_owned().expect("free");
        let body = PacedBody::new(body, pace, permit, Arc::clone(&work), Arc::clone(&slot));
        (body, reading, slot)
    }

    const PACE: BodyPace = BodyPace {
        timeout: Duration::from_secs(30),
        min_rate: 100,
        grace: Duration::from_secs(2),
    };

    #[tokio::test(start_paused = true)]
    async fn a_body_below_the_rate_is_cut_after_the_grace_and_frees_its_permit() {
        let (tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let (body, reading, _slot) = paced(PACE, Body::from_stream(rx));
        let read = tokio::spawn(axum::body::to_bytes(Body::new(body), 1 << 20));
        // 150 bytes buy 1.5 s at 100 bytes/s; the 2 s grace is longer, so it ends the body.
        let mut tx = tx;
        futures::SinkExt::send(&mut tx, Ok(Bytes::from(vec![b'x'; 150])))
            .await
            .expect("send");
        let error = read.await.expect("task").expect_err("cut off");
        assert!(
            matches!(refusal(&error), Some(BodyRefusal::TooSlow(100))),
            "{error}"
        );
        assert_eq!(reading.available_permits(), 1, "the reading permit is free");
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_moves_to_a_work_permit() {
        let (body, reading, slot) = paced(PACE, Body::from("{}"));
        let bytes = axum::body::to_bytes(Body::new(body), 1 << 20)
            .await
            .expect("read");
        assert_eq!(&bytes[..], b"{}");
        assert_eq!(reading.available_permits(), 1);
        assert!(slot.lock().expect("lock").is_some(), "holds a work permit");
    }
}

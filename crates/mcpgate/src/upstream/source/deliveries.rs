//! Notifications from an upstream on their way to a caller, so a call can let those the
//! upstream sent before its answer through before it answers.

/// Notifications being passed on to a caller right now. rmcp hands each notification to a
/// task of its own, so one the upstream sent before a call's answer may still be on its way
/// when the answer arrives; a call lets those through before it answers (see [`Self::settle`]).
#[derive(Default)]
pub(in crate::upstream) struct Deliveries {
    sending: std::sync::atomic::AtomicUsize,
    sent: tokio::sync::Notify,
}

impl Deliveries {
    /// A delivery starts (call under the lock that found its caller).
    pub fn start(&self) {
        self.sending
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// A delivery is done.
    pub fn done(&self) {
        self.sending
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        self.sent.notify_waiters();
    }

    /// A few scheduler turns, so notification tasks already spawned can find their caller.
    pub async fn let_through() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    /// Wait (at most 200 ms) for the deliveries under way to finish.
    pub async fn settle(&self) {
        use std::sync::atomic::Ordering;
        let drained = async {
            while self.sending.load(Ordering::Acquire) > 0 {
                let sent = self.sent.notified();
                tokio::pin!(sent);
                sent.as_mut().enable();
                if self.sending.load(Ordering::Acquire) == 0 {
                    break;
                }
                sent.await;
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), drained).await;
    }
}

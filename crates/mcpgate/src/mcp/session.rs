//! State that lives as long as one legacy session (or one stateless request): the log level
//! the client set and the resources it subscribed to.

#![allow(deprecated)] // Legacy logging/setLevel is still served.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

use rmcp::model::LoggingLevel;
use tokio_util::sync::CancellationToken;

/// Per-session state. A fresh one is made for every legacy session and stateless request, so
/// it allocates nothing until used.
#[derive(Debug, Default)]
pub struct SessionState {
    log_level: Mutex<Option<LoggingLevel>>,
    subscriptions: Mutex<BTreeSet<String>>,
    /// Cancelled when the session's state is dropped, i.e. when the session ends; made on first
    /// use (only initialized legacy sessions need it).
    closed: OnceLock<CancellationToken>,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        if let Some(closed) = self.closed.get() {
            closed.cancel();
        }
    }
}

impl SessionState {
    /// A token cancelled when the session ends.
    pub fn closed(&self) -> CancellationToken {
        self.closed.get_or_init(CancellationToken::new).clone()
    }

    /// The level set with `logging/setLevel`, if any.
    pub fn log_level(&self) -> Option<LoggingLevel> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record `logging/setLevel`.
    pub fn set_log_level(&self, level: LoggingLevel) {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = Some(level);
    }

    /// Record `resources/subscribe`.
    pub fn subscribe(&self, uri: String) {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uri);
    }

    /// Record `resources/unsubscribe`.
    pub fn unsubscribe(&self, uri: &str) {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uri);
    }

    /// Whether the session subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(uri)
    }
}

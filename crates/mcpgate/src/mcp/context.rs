//! What a tool, resource or prompt handler receives: the caller, the rmcp request context, the
//! event bus and the session, plus helpers that apply the protocol's rules for notifications.

#![allow(deprecated)] // Logging is deprecated in 2026-07-28 but still served to clients that ask.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
};
use rmcp::service::RequestContext;

use super::{EventBus, SessionState};
use crate::edge::Principal;

/// The context of one call.
#[derive(Clone)]
pub struct CallContext {
    /// Who is calling.
    pub principal: Principal,
    /// rmcp's context: cancellation, request id, `_meta`, peer.
    pub request: RequestContext<RoleServer>,
    /// Change events, to announce list changes and resource updates.
    pub events: EventBus,
    /// The session (legacy) or request (stateless) this call belongs to.
    pub session: Arc<SessionState>,
}

/// The span of the HTTP request that carried a legacy session's request, found in its parts:
/// the session's service runs in a task of its own, outside that span, and a tool call made
/// there is run inside it (its logs carry the request id, as a stateless call's do) instead of
/// in a span of its own, which cost ~7,000 instructions a call to open.
#[derive(Debug, Clone)]
pub struct RequestSpan(pub tracing::Span);

/// Whether a request was made under the stateless (2026-07-28 and later) protocol.
pub(crate) fn is_modern(request: &RequestContext<RoleServer>) -> bool {
    request
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl CallContext {
    /// Whether the request was made under the stateless (2026-07-28 and later) protocol.
    pub fn is_modern(&self) -> bool {
        is_modern(&self.request)
    }

    /// The minimum level the client wants log notifications at, or `None` for no log
    /// notifications. Modern clients ask per request with `_meta` (none if absent); legacy
    /// sessions use `logging/setLevel` and otherwise receive everything.
    pub fn wanted_log_level(&self) -> Option<LoggingLevel> {
        if self.is_modern() {
            self.request.meta.log_level()
        } else {
            Some(self.session.log_level().unwrap_or(LoggingLevel::Debug))
        }
    }

    /// Send a `notifications/message` if the client asked for messages at this level.
    pub async fn log(&self, level: LoggingLevel, logger: &str, data: serde_json::Value) {
        let Some(min) = self.wanted_log_level() else {
            return;
        };
        if severity(level) < severity(min) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, data).with_logger(logger);
        if let Err(e) = self.request.peer.notify_logging_message(param).await {
            tracing::debug!(error = %e, "log notification not delivered");
        }
    }

    /// Send `notifications/progress` if the request carried a progress token.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let Some(token) = self.request.meta.get_progress_token() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        if let Some(total) = total {
            param = param.with_total(total);
        }
        if let Some(message) = message {
            param = param.with_message(message);
        }
        if let Err(e) = self.request.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }
}

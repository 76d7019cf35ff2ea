//! Following a stateless (2026-07-28) upstream's list changes: there is no session to hear
//! them on, so a `subscriptions/listen` stream is held open on one pooled connection, and each
//! change is listed again like a legacy session's notification. The stream is reopened (after
//! a growing pause) when it ends or fails.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ErrorCode, ProtocolVersion, ServerNotification, SubscriptionFilter};
use rmcp::service::ServiceError;
use tokio_util::sync::CancellationToken;

use super::UpstreamSource;

/// The longest pause before reopening a failed stream.
const MAX_PAUSE: Duration = Duration::from_secs(30);

impl UpstreamSource {
    /// Hold a listen stream open while the upstream speaks 2026-07-28, until `stop`. Returns at
    /// once for a legacy upstream (its session hears changes itself).
    pub(super) async fn follow_changes(self: Arc<Self>, stop: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let followed = tokio::select! {
                () = stop.cancelled() => return,
                followed = self.listen_once() => followed,
            };
            match followed {
                Ok(false) => return,
                Ok(true) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::debug!(upstream = %self.config.name, error = %format!("{e:#}"), "upstream listen stream failed");
                }
            }
            let pause = self
                .config
                .retry
                .ceiling(failures + 1)
                .max(Duration::from_millis(250))
                .min(MAX_PAUSE);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One listen stream: `Ok(false)` when there is nothing to follow (a legacy upstream,
    /// one that announces no list changes or cannot listen), `Ok(true)` when the stream ended.
    async fn listen_once(&self) -> anyhow::Result<bool> {
        let session = self.pool.acquire().await?;
        let modern = session
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        let announces = session.peer.peer_info().is_some_and(|info| {
            let c = &info.capabilities;
            c.tools.as_ref().and_then(|t| t.list_changed) == Some(true)
                || c.resources.as_ref().and_then(|r| r.list_changed) == Some(true)
                || c.prompts.as_ref().and_then(|p| p.list_changed) == Some(true)
        });
        if !modern || !announces {
            return Ok(false);
        }
        let filter = SubscriptionFilter::builder()
            .tools_list_changed()
            .resources_list_changed()
            .prompts_list_changed()
            .build();
        let mut stream = match session.peer.listen(filter).await {
            Err(ServiceError::McpError(e)) if e.code == ErrorCode::METHOD_NOT_FOUND => {
                tracing::info!(upstream = %self.config.name, "upstream does not support subscriptions/listen; its list changes are not followed");
                return Ok(false);
            }
            opened => opened?,
        };
        // Changes made while no stream was open are caught up by listing once now.
        self.relist(&session.peer).await;
        while let Some(notification) = stream.next().await? {
            if matches!(
                notification,
                ServerNotification::ToolListChangedNotification(_)
                    | ServerNotification::ResourceListChangedNotification(_)
                    | ServerNotification::PromptListChangedNotification(_)
            ) {
                self.relist(&session.peer).await;
            }
        }
        Ok(true)
    }
}

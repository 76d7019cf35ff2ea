//! Change notifications: events from the bus go to every `subscriptions/listen` stream
//! (2026-07-28) and to every legacy session that was initialized (list changes always, resource
//! updates only for URIs the session subscribed to).

#![allow(deprecated)] // Legacy resource subscriptions are still served.

use std::sync::Weak;

use rmcp::service::{Peer, SubscriptionContext, SubscriptionSendError};
use rmcp::{ErrorData, RoleServer};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{EventBus, ServerEvent, SessionState};

/// Forward events to one listen stream until the client closes it or the server drains (which
/// ends the stream with its graceful final result).
pub async fn forward_to_listener(
    events: &EventBus,
    context: &SubscriptionContext,
    draining: &CancellationToken,
) -> Result<(), ErrorData> {
    let mut receiver = events.subscribe();
    loop {
        let event = tokio::select! {
            () = context.cancelled() => return Ok(()),
            () = draining.cancelled() => return Ok(()),
            event = receiver.recv() => event,
        };
        let sink = context.sink();
        let sent = match event {
            Ok(ServerEvent::ToolsListChanged) => sink.notify_tool_list_changed().await,
            Ok(ServerEvent::PromptsListChanged) => sink.notify_prompt_list_changed().await,
            Ok(ServerEvent::ResourcesListChanged) => sink.notify_resource_list_changed().await,
            Ok(ServerEvent::ResourceUpdated(uri)) => sink.notify_resource_updated(uri).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "listen stream fell behind; change events were dropped"
                );
                continue;
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        match sent {
            Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
            Err(e) => {
                tracing::debug!(error = %e, "listen stream closed");
                return Ok(());
            }
        }
    }
}

/// Forward events to one legacy session until the session ends (its state is dropped) or the
/// server drains. The receiver is subscribed by the caller before this task is spawned, so no
/// event published after the session was initialized is missed.
pub async fn forward_to_session(
    mut receiver: tokio::sync::broadcast::Receiver<ServerEvent>,
    peer: Peer<RoleServer>,
    session: Weak<SessionState>,
    closed: CancellationToken,
    draining: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = closed.cancelled() => return,
            () = draining.cancelled() => return,
            event = receiver.recv() => event,
        };
        let sent = match event {
            Ok(ServerEvent::ToolsListChanged) => peer.notify_tool_list_changed().await,
            Ok(ServerEvent::PromptsListChanged) => peer.notify_prompt_list_changed().await,
            Ok(ServerEvent::ResourcesListChanged) => peer.notify_resource_list_changed().await,
            Ok(ServerEvent::ResourceUpdated(uri)) => {
                let Some(state) = session.upgrade() else {
                    return;
                };
                if !state.is_subscribed(&uri) {
                    continue;
                }
                let param = rmcp::model::ResourceUpdatedNotificationParam::new(uri);
                peer.notify_resource_updated(param).await
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "legacy session fell behind; change events were dropped"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "legacy session closed; stop forwarding changes");
            return;
        }
    }
}

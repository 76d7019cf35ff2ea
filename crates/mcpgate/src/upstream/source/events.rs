//! What one upstream session hears: list changes (listed again through that session) and
//! progress (sent to exactly the caller whose request it belongs to); and the guard that
//! cancels an upstream request whose caller stopped waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use rmcp::model::{
    CancelledNotificationParam, ProgressNotificationParam, ProgressToken, RequestId,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient};

use super::UpstreamSource;
use crate::mcp::CallContext;

/// What one upstream session tells us: a changed tool list is listed again, and progress of a
/// call goes to that call's caller only.
#[derive(Clone)]
pub(super) struct Events {
    pub(super) source: Weak<UpstreamSource>,
    pub(super) progress: Arc<ProgressRoutes>,
}

impl ClientHandler for Events {
    async fn on_tool_list_changed(&self, cx: NotificationContext<RoleClient>) {
        let Some(source) = self.source.upgrade() else {
            return;
        };
        // Listed again through the session that announced the change (a stateful upstream's
        // sessions may differ). Not from inside the session's own loop: it answers the list.
        tokio::spawn(async move { source.relist(&cx.peer).await });
    }

    async fn on_resource_list_changed(&self, cx: NotificationContext<RoleClient>) {
        self.on_tool_list_changed(cx).await;
    }

    async fn on_prompt_list_changed(&self, cx: NotificationContext<RoleClient>) {
        self.on_tool_list_changed(cx).await;
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        // In the session's own loop, so the caller hears progress before the answer that
        // follows it on the same session.
        self.progress.forward(params).await;
    }
}

/// The progress tokens of one session's calls in flight, each leading back to its caller.
/// rmcp gives every request a token of its own (unique on the session), so concurrent callers
/// sharing a session never see each other's progress.
#[derive(Default)]
pub(super) struct ProgressRoutes {
    routes: Mutex<HashMap<ProgressToken, CallContext>>,
}

/// Removes a call's route when the call ends.
pub(super) struct Route {
    routes: Arc<ProgressRoutes>,
    token: ProgressToken,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.routes
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
    }
}

impl ProgressRoutes {
    /// Send the progress under `token` to `caller` until the route is dropped.
    pub(super) fn route(self: &Arc<Self>, token: ProgressToken, caller: &CallContext) -> Route {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), caller.clone());
        Route {
            routes: Arc::clone(self),
            token,
        }
    }

    /// Pass a progress notification on to the caller whose request it belongs to. The route is
    /// recorded right after the request is handed to rmcp, so a notification that outran it
    /// (an upstream faster than that one step) looks again after letting other tasks run; one
    /// that belongs to nobody is dropped.
    async fn forward(&self, params: ProgressNotificationParam) {
        for _ in 0..64 {
            let caller = self
                .routes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&params.progress_token)
                .cloned();
            if let Some(caller) = caller {
                caller
                    .progress(params.progress, params.total, params.message)
                    .await;
                return;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Sends `notifications/cancelled` for a request whose caller stopped waiting.
pub(super) struct CancelOnDrop {
    pub(super) peer: rmcp::Peer<RoleClient>,
    pub(super) id: Option<RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let cancel = CancelledNotificationParam::new(
                    Some(id),
                    Some("the gateway's caller stopped waiting".into()),
                );
                let _ = peer.notify_cancelled(cancel).await;
            });
        }
    }
}

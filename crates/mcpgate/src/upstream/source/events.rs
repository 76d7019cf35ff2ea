//! What one upstream session hears: list changes (listed again through that session) and
//! progress (sent to exactly the caller whose request it belongs to); and the guard that
//! cancels an upstream request whose caller stopped waiting. What the upstream asks or logs
//! during a call goes through [`Callers`].

#![allow(deprecated)] // Sampling, roots and logging are deprecated in 2026-07-28 but relayed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use rmcp::model::{
    CancelledNotificationParam, ProgressNotificationParam, ProgressToken, RequestId,
};
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ListRootsResult, LoggingMessageNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};

use super::UpstreamSource;
use super::deliveries::Deliveries;
use super::questions::Callers;
use crate::mcp::CallContext;

/// What one upstream session tells us: a changed tool list is listed again, and progress of a
/// call goes to that call's caller only.
#[derive(Clone)]
pub(super) struct Events {
    pub(super) source: Weak<UpstreamSource>,
    pub(super) progress: Arc<ProgressRoutes>,
    /// The calls in flight, for what the upstream asks or says during them.
    pub(super) callers: Arc<Callers>,
}

impl ClientHandler for Events {
    /// The gateway can relay elicitation, sampling and roots requests to callers that
    /// declared them (see [`Callers`]).
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities = ClientCapabilities::builder()
            .enable_elicitation()
            .enable_sampling()
            .enable_roots()
            .build();
        info
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        cx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.callers.elicit(params, &cx).await
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        cx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.callers.sample(params, &cx).await
    }

    async fn list_roots(
        &self,
        cx: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        self.callers.roots(&cx).await
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.callers.log(params).await;
    }

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
    routes: Mutex<HashMap<ProgressToken, Arc<Caller>>>,
}

/// The caller a token leads to, and the progress being passed on to it right now.
struct Caller {
    cx: CallContext,
    deliveries: Deliveries,
}

/// A call's route, removed when the call ends (see [`Route::finish`]).
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

impl Route {
    /// End the route before the call's answer goes to the caller, so no progress follows the
    /// answer: rmcp hands each notification to a task of its own, so one received before the
    /// answer may still be on its way. Those already on their way are let through (a few
    /// scheduler turns, then their sends are awaited, briefly); any later one is dropped, as
    /// progress after the answer means nothing to the caller.
    pub(super) async fn finish(self) {
        Deliveries::let_through().await;
        let caller = self
            .routes
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
        if let Some(caller) = caller {
            caller.deliveries.settle().await;
        }
    }
}

impl ProgressRoutes {
    /// Send the progress under `token` to `caller` until the route ends.
    pub(super) fn route(self: &Arc<Self>, token: ProgressToken, caller: &CallContext) -> Route {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.clone(),
                Arc::new(Caller {
                    cx: caller.clone(),
                    deliveries: Deliveries::default(),
                }),
            );
        Route {
            routes: Arc::clone(self),
            token,
        }
    }

    /// Pass a progress notification on to the caller whose request it belongs to. The route is
    /// recorded right after the request is handed to rmcp, so a notification that outran it
    /// (an upstream faster than that one step) looks again after letting other tasks run; one
    /// that belongs to nobody (or to a call already answered) is dropped.
    async fn forward(&self, params: ProgressNotificationParam) {
        for _ in 0..64 {
            let caller = {
                let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
                let caller = routes.get(&params.progress_token).cloned();
                if let Some(caller) = &caller {
                    caller.deliveries.start();
                }
                caller
            };
            if let Some(caller) = caller {
                caller
                    .cx
                    .progress(params.progress, params.total, params.message)
                    .await;
                caller.deliveries.done();
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

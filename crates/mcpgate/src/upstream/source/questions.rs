//! What a session-based upstream asks or says while a call is in flight — elicitation,
//! sampling and roots requests, and log messages — taken to the caller of that call, and only
//! to it.
//!
//! Which call a question belongs to: over HTTP, rmcp marks a request that arrived on the
//! response stream of one of our requests with that request's id, so a question finds its
//! call even with many calls in flight on the session. Over stdio (and for log messages,
//! which carry no such mark) there is nothing to go by, so it goes to the caller only when
//! exactly one call is in flight on the session; otherwise it is refused (a log message
//! dropped), never guessed.
//!
//! The caller must be able to answer: a legacy session that declared the capability gets the
//! question on the stream of its own call; a stateless (2026-07-28) caller cannot be asked
//! mid-call, so the upstream gets a clear error instead.

#![allow(deprecated)] // Sampling, roots and logging are deprecated in 2026-07-28 but relayed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::ErrorData;
use rmcp::RoleClient;
use rmcp::model::{
    ClientResult, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequest, ElicitRequestParams, ElicitResult, ListRootsRequest, ListRootsResult,
    LoggingMessageNotificationParam, RequestId, ServerRequest,
};
use rmcp::service::{InboundStreamOrigin, OriginatingRequestId, RequestContext};

use super::deliveries::Deliveries;
use crate::mcp::CallContext;

/// The calls in flight on one session, by the id of their request upstream.
#[derive(Default)]
pub(in crate::upstream) struct Callers {
    calls: Mutex<HashMap<RequestId, CallContext>>,
    /// Log messages being passed on right now.
    deliveries: Deliveries,
}

/// A call's place among the session's calls in flight; left when dropped.
pub(in crate::upstream) struct Calling {
    callers: Arc<Callers>,
    id: RequestId,
}

impl Calling {
    /// Leave, letting log messages the upstream sent before the answer through first (see
    /// [`Deliveries`]); later ones find no call and are dropped.
    pub async fn finish(self) {
        Deliveries::let_through().await;
        let callers = Arc::clone(&self.callers);
        drop(self);
        callers.deliveries.settle().await;
    }
}

impl Drop for Calling {
    fn drop(&mut self) {
        self.callers.lock().remove(&self.id);
    }
}

/// Which question is being relayed.
#[derive(Clone, Copy)]
enum Question {
    Elicitation,
    Sampling,
    Roots,
}

impl Question {
    fn name(self) -> &'static str {
        match self {
            Self::Elicitation => "elicitation",
            Self::Sampling => "sampling",
            Self::Roots => "roots",
        }
    }
}

impl Callers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, CallContext>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record that request `id` upstream is `caller`'s call.
    pub fn enter(self: &Arc<Self>, id: RequestId, caller: &CallContext) -> Calling {
        self.lock().insert(id.clone(), caller.clone());
        Calling {
            callers: Arc::clone(self),
            id,
        }
    }

    /// The one call in flight, if there is exactly one; with `deliver`, a delivery to it
    /// starts (under the lock, so the call cannot finish without waiting for it).
    fn only(&self, deliver: bool) -> Option<CallContext> {
        let calls = self.lock();
        let only = (calls.len() == 1)
            .then(|| calls.values().next().cloned())
            .flatten();
        if deliver && only.is_some() {
            self.deliveries.start();
        }
        only
    }

    /// The caller a question from the upstream belongs to.
    fn asked_by(&self, cx: &RequestContext<RoleClient>) -> Result<CallContext, ErrorData> {
        let unknown = || {
            ErrorData::invalid_request(
                "the gateway cannot tell which of its callers this request is for",
                None,
            )
        };
        match cx.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => {
                self.lock().get(id).cloned().ok_or_else(unknown)
            }
            Some(InboundStreamOrigin::Unassociated) => Err(ErrorData::invalid_request(
                "the gateway relays requests only while a call is in flight, on that call's \
                 stream",
                None,
            )),
            None => self.only(false).ok_or_else(unknown),
        }
    }

    /// Pass a log message on to the caller of the one call in flight, at the level it asked
    /// for; dropped when that is not one caller.
    pub async fn log(&self, message: LoggingMessageNotificationParam) {
        let Some(caller) = self.only(true) else {
            tracing::debug!("an upstream log message could not be tied to one call; dropped");
            return;
        };
        let logger = message.logger.as_deref().unwrap_or("upstream");
        caller.log(message.level, logger, message.data).await;
        self.deliveries.done();
    }

    /// Put an elicitation request to the caller it belongs to; its answer.
    pub async fn elicit(
        &self,
        params: ElicitRequestParams,
        cx: &RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let caller = self.asked_by(cx)?;
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match ask(&caller, Question::Elicitation, request).await? {
            ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(unexpected(Question::Elicitation)),
        }
    }

    /// Put a sampling request to the caller it belongs to; its answer.
    pub async fn sample(
        &self,
        params: CreateMessageRequestParams,
        cx: &RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let caller = self.asked_by(cx)?;
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match ask(&caller, Question::Sampling, request).await? {
            ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(unexpected(Question::Sampling)),
        }
    }

    /// Ask the caller a request belongs to for its roots.
    pub async fn roots(
        &self,
        cx: &RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let caller = self.asked_by(cx)?;
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match ask(&caller, Question::Roots, request).await? {
            ClientResult::ListRootsResult(result) => Ok(result),
            _ => Err(unexpected(Question::Roots)),
        }
    }
}

fn unexpected(question: Question) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "the caller answered the {} request with something else",
            question.name()
        ),
        None,
    )
}

/// Send `request` to the caller whose call is `caller` — on that call's own stream — if its
/// session declared the capability `question` needs.
async fn ask(
    caller: &CallContext,
    question: Question,
    mut request: ServerRequest,
) -> Result<ClientResult, ErrorData> {
    if caller.is_modern() {
        return Err(ErrorData::invalid_request(
            format!(
                "the gateway's caller is a stateless (2026-07-28) client, which cannot be sent a \
                 {} request during a call",
                question.name()
            ),
            None,
        ));
    }
    let caller = &caller.request;
    let declared = caller.peer.peer_info().is_some_and(|info| {
        let capabilities = &info.capabilities;
        match question {
            Question::Elicitation => capabilities.elicitation.is_some(),
            Question::Sampling => capabilities.sampling.is_some(),
            Question::Roots => capabilities.roots.is_some(),
        }
    });
    if !declared {
        return Err(ErrorData::invalid_request(
            format!(
                "the gateway's caller did not declare the {} capability",
                question.name()
            ),
            None,
        ));
    }
    use rmcp::model::GetExtensions;
    request
        .extensions_mut()
        .insert(OriginatingRequestId(caller.id.clone()));
    // Sent from a task of its own: this handler runs in rmcp's scope of the upstream's
    // request, and rmcp would tie anything sent from that scope to the upstream's request id
    // instead of the caller's.
    let peer = caller.peer.clone();
    let sent = tokio::spawn(async move { peer.send_request(request).await })
        .await
        .map_err(|e| ErrorData::internal_error(format!("relaying failed: {e}"), None))?;
    sent.map_err(|e| match e {
        rmcp::service::ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(
            format!(
                "the gateway's caller did not answer the {} request: {other}",
                question.name()
            ),
            None,
        ),
    })
}

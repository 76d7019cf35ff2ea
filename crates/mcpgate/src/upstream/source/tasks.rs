//! Tasks (the `io.modelcontextprotocol/tasks` extension) that an upstream created for a caller.
//!
//! A caller that declares the extension has it relayed upstream with its call; a 2026-07-28
//! upstream may then answer with a task instead of a result. The gateway gives that task an id
//! of its own, bound to the caller, and keeps which upstream task it stands for: `tasks/get`,
//! `tasks/update` and `tasks/cancel` for that id go to this upstream under the upstream's id,
//! and the answer comes back under the gateway's. Any other caller is answered as if the task
//! did not exist, and so is everyone once the binding is forgotten (twice the task's TTL).
//!
//! The upstream's ids never reach callers, so two upstreams minting the same id cannot be
//! confused, and an id guessed from one upstream's scheme is no handle on anything here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, CancelTaskParams, CancelTaskRequest, ClientRequest, CreateTaskResult,
    ErrorCode, GetTaskParams, GetTaskRequest, GetTaskResult, ServerResult, TaskPayload,
    UpdateTaskParams, UpdateTaskRequest,
};
use serde::de::{DeserializeOwned, IgnoredAny};

use super::UpstreamSource;
use super::calls::{Attempt, SESSION_GONE, caller_capabilities, request_id, send};
use super::principals::identity;
use crate::edge::Principal;
use crate::mcp::{BoxFuture, CallContext, unknown_task};
use crate::upstream::direct::{Outgoing, Params, decode};
use crate::upstream::resources::{namespace, rewrite_tool_result};

/// How many task bindings one upstream keeps; past that the one due to be forgotten first goes.
const MAX_TASKS: usize = 10_000;

/// How long the binding of a task with no TTL (kept by the upstream until it decides) lasts.
const UNLIMITED: Duration = Duration::from_secs(24 * 60 * 60);

/// The gateway's task ids, each with the upstream task it stands for and its caller.
#[derive(Default)]
pub(super) struct Tasks {
    bindings: Mutex<HashMap<String, Binding>>,
}

struct Binding {
    upstream_id: String,
    /// The session that knows the task, when only one does (see `run_on`).
    session: Option<u64>,
    owner: String,
    forget_at: Instant,
}

impl Tasks {
    /// Give the task the upstream `created` (on `session`, when only that session knows it) an
    /// id of the gateway's, bound to `principal`, and put that id in its place.
    pub(super) fn adopt(
        &self,
        created: &mut CreateTaskResult,
        principal: &Principal,
        session: Option<u64>,
    ) {
        let ours = uuid::Uuid::new_v4().to_string();
        let now = Instant::now();
        let keep = created.task.ttl_ms.map_or(UNLIMITED, |ttl| {
            Duration::from_millis(ttl).saturating_mul(2)
        });
        let binding = Binding {
            upstream_id: std::mem::replace(&mut created.task.task_id, ours.clone()),
            session,
            owner: identity(principal),
            forget_at: now + keep,
        };
        let mut bindings = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        bindings.retain(|_, b| b.forget_at > now);
        if bindings.len() >= MAX_TASKS {
            let first_due = bindings
                .iter()
                .min_by_key(|(_, b)| b.forget_at)
                .map(|(id, _)| id.clone());
            if let Some(id) = first_due {
                bindings.remove(&id);
            }
        }
        bindings.insert(ours, binding);
    }

    /// The upstream's id of the task `ours` and the session that knows it, if `principal`
    /// owns it.
    fn upstream_id(&self, ours: &str, principal: &Principal) -> Option<(String, Option<u64>)> {
        let bindings = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        let binding = bindings.get(ours)?;
        (binding.forget_at > Instant::now() && binding.owner == identity(principal))
            .then(|| (binding.upstream_id.clone(), binding.session))
    }

    fn forget(&self, ours: &str) {
        self.bindings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ours);
    }
}

/// A task method, sent upstream the way the session speaks: directly (2026-07-28 over HTTP)
/// or through rmcp's client.
pub(super) trait TaskMethod: Params + Clone + Send + Sync + 'static {
    const METHOD: &'static str;
    /// Whether sending it twice is harmless.
    const IDEMPOTENT: bool;
    type Answer: DeserializeOwned + Send;
    fn with_task_id(&self, task_id: String) -> Self;
    fn request(self) -> ClientRequest;
    fn answer(result: ServerResult) -> Option<Self::Answer>;
}

impl TaskMethod for GetTaskParams {
    const METHOD: &'static str = "tasks/get";
    const IDEMPOTENT: bool = true;
    type Answer = GetTaskResult;
    fn with_task_id(&self, task_id: String) -> Self {
        Self::new(task_id)
    }
    fn request(self) -> ClientRequest {
        ClientRequest::GetTaskRequest(GetTaskRequest::new(self))
    }
    fn answer(result: ServerResult) -> Option<GetTaskResult> {
        match result {
            ServerResult::GetTaskResult(result) => Some(result),
            _ => None,
        }
    }
}

impl TaskMethod for UpdateTaskParams {
    const METHOD: &'static str = "tasks/update";
    // Answers delivered twice may be taken twice.
    const IDEMPOTENT: bool = false;
    type Answer = IgnoredAny;
    fn with_task_id(&self, task_id: String) -> Self {
        Self::new(task_id, self.input_responses.clone())
    }
    fn request(self) -> ClientRequest {
        ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(self))
    }
    fn answer(result: ServerResult) -> Option<IgnoredAny> {
        ack(result)
    }
}

impl TaskMethod for CancelTaskParams {
    const METHOD: &'static str = "tasks/cancel";
    const IDEMPOTENT: bool = true;
    type Answer = IgnoredAny;
    fn with_task_id(&self, task_id: String) -> Self {
        Self::new(task_id)
    }
    fn request(self) -> ClientRequest {
        ClientRequest::CancelTaskRequest(CancelTaskRequest::new(self))
    }
    fn answer(result: ServerResult) -> Option<IgnoredAny> {
        ack(result)
    }
}

/// The empty acknowledgement of `tasks/update` and `tasks/cancel`.
fn ack(result: ServerResult) -> Option<IgnoredAny> {
    matches!(
        result,
        ServerResult::TaskAckResult(_) | ServerResult::EmptyResult(_)
    )
    .then_some(IgnoredAny)
}

impl UpstreamSource {
    /// `tasks/get` for a task of this upstream's that the caller owns; `None` for any other id.
    pub(super) fn get_relayed_task(
        self: std::sync::Arc<Self>,
        params: &GetTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetTaskResult, ErrorData>>> {
        let (ours, upstream, session) = self.bound(params, &cx)?;
        Some(Box::pin(async move {
            let mut result = self.forward(&ours, upstream, session, &cx).await?;
            result.task.task.task_id = ours;
            if let (Some(namespace), TaskPayload::Completed { result }) =
                (namespace(&self.config), &mut result.task.payload)
                && self.has_resources()
            {
                namespace_inlined(namespace, result);
            }
            Ok(result)
        }))
    }

    /// `tasks/update` or `tasks/cancel` for a task of this upstream's that the caller owns.
    pub(super) fn ack_relayed_task<P: TaskMethod<Answer = IgnoredAny>>(
        self: std::sync::Arc<Self>,
        params: &P,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        let (ours, upstream, session) = self.bound(params, &cx)?;
        Some(Box::pin(async move {
            self.forward(&ours, upstream, session, &cx)
                .await
                .map(|_| ())
        }))
    }

    /// The gateway's id of the task `params` names, the same params for the upstream, and the
    /// session that knows the task, if the caller owns such a task here.
    fn bound<P: TaskMethod>(
        &self,
        params: &P,
        cx: &CallContext,
    ) -> Option<(String, P, Option<u64>)> {
        let ours = params.subject().to_owned();
        let (upstream_id, session) = self.tasks.upstream_id(&ours, &cx.principal)?;
        Some((ours, params.with_task_id(upstream_id), session))
    }

    /// Send a task method upstream for the caller. An upstream that no longer knows the task
    /// makes it unknown here too.
    async fn forward<P: TaskMethod>(
        &self,
        ours: &str,
        params: P,
        session: Option<u64>,
        cx: &CallContext,
    ) -> Result<P::Answer, ErrorData> {
        let capabilities = caller_capabilities(cx);
        let request_id = request_id(cx);
        let attempt = self
            .run_on(cx, session, self.config.timeout, P::IDEMPOTENT, |session| {
                let params = params.clone();
                let capabilities = capabilities.clone();
                let request_id = &request_id;
                async move {
                    if let Some(direct) = &session.direct {
                        let out = Outgoing::new(P::METHOD, request_id, &capabilities);
                        let raw = direct.request(out, params, cx).await?;
                        return decode(&raw, P::METHOD);
                    }
                    let answer = send(&session, params.request(), capabilities, cx).await?;
                    P::answer(answer).ok_or(rmcp::service::ServiceError::UnexpectedResponse)
                }
            })
            .await;
        if let Attempt::Refused(error) = &attempt
            && error.code == ErrorCode::INVALID_PARAMS
        {
            self.tasks.forget(ours);
            let mut unknown = unknown_task(ours);
            if error.message == SESSION_GONE {
                unknown.message = format!("{}: {SESSION_GONE}", unknown.message).into();
            }
            return Err(unknown);
        }
        self.answer(attempt)
    }
}

/// Namespace the resource URIs in a completed task's inlined tool result, as in any other
/// result of this upstream's.
fn namespace_inlined(namespace: &str, inlined: &mut rmcp::model::JsonObject) {
    let Ok(mut result) =
        serde_json::from_value::<CallToolResult>(serde_json::Value::Object(inlined.clone()))
    else {
        return;
    };
    rewrite_tool_result(namespace, &mut result);
    if let Ok(serde_json::Value::Object(rewritten)) = serde_json::to_value(result) {
        *inlined = rewritten;
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{Task, TaskStatus};

    use super::*;
    use crate::edge::AuthVia;

    fn who(subject: &str) -> Principal {
        Principal::new(subject, "acme", "admin", AuthVia::Default)
    }

    fn created(upstream_id: &str, ttl_ms: Option<u64>) -> CreateTaskResult {
        let mut task = Task::new(upstream_id, TaskStatus::Working, "t", "t");
        task.ttl_ms = ttl_ms;
        CreateTaskResult::new(task)
    }

    #[test]
    fn a_relayed_task_gets_an_id_of_ours_that_only_its_caller_can_use() {
        let tasks = Tasks::default();
        let mut task = created("up-1", Some(60_000));
        tasks.adopt(&mut task, &who("alice"), Some(3));
        let ours = task.task.task_id;
        assert_ne!(ours, "up-1", "the upstream's id is not shown");
        assert_eq!(
            tasks.upstream_id(&ours, &who("alice")),
            Some(("up-1".to_owned(), Some(3)))
        );
        assert_eq!(tasks.upstream_id(&ours, &who("mallory")), None);
        assert_eq!(tasks.upstream_id("up-1", &who("alice")), None);
        let other_org = Principal::new("alice", "globex", "admin", AuthVia::Default);
        assert_eq!(tasks.upstream_id(&ours, &other_org), None);
        tasks.forget(&ours);
        assert_eq!(tasks.upstream_id(&ours, &who("alice")), None);
    }

    #[test]
    fn the_same_upstream_id_twice_is_two_tasks() {
        let tasks = Tasks::default();
        let (mut a, mut b) = (created("same", None), created("same", None));
        tasks.adopt(&mut a, &who("alice"), None);
        tasks.adopt(&mut b, &who("bob"), None);
        assert_ne!(a.task.task_id, b.task.task_id);
        assert!(tasks.upstream_id(&a.task.task_id, &who("bob")).is_none());
        assert!(tasks.upstream_id(&b.task.task_id, &who("bob")).is_some());
    }

    #[test]
    fn bindings_are_bounded() {
        let tasks = Tasks::default();
        for i in 0..MAX_TASKS + 5 {
            tasks.adopt(
                &mut created(&format!("t{i}"), Some(60_000)),
                &who("alice"),
                None,
            );
        }
        let kept = tasks.bindings.lock().unwrap().len();
        assert_eq!(kept, MAX_TASKS);
    }
}

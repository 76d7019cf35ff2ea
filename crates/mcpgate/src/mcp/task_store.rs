//! Tasks (the `io.modelcontextprotocol/tasks` extension) bound to their creator: rmcp's
//! [`TaskManager`] runs and tracks them, and [`TaskStore`] remembers which principal created
//! each. Any other caller is answered as if the task did not exist, so a leaked task id is not a
//! handle on someone else's work.
//!
//! A module that answers calls with tasks owns one store: its tools [`spawn`](TaskStore::spawn)
//! work into it, and its [`Module`](super::Module) task methods answer `tasks/get`,
//! `tasks/update` and `tasks/cancel` from it. The conformance task fixtures use it; so can a
//! gateway that exposes slow upstream calls as tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::ErrorData;
use rmcp::model::{CreateTaskResult, GetTaskResult};
use rmcp::task_manager::{DEFAULT_TASK_TTL_MS, TaskContext, TaskFuture, TaskManager, TaskOptions};
use serde_json::Value;

use crate::edge::Principal;

/// Polling interval suggested to clients for every task.
const POLL_INTERVAL_MS: u64 = 250;

/// Who created a task, and when (to forget the binding once the task is surely gone).
#[derive(Debug)]
struct Owner {
    subject: Arc<str>,
    org: Arc<str>,
    created: Instant,
}

/// Running and finished tasks, each bound to the principal that created it.
#[derive(Default)]
pub struct TaskStore {
    manager: TaskManager,
    owners: Mutex<HashMap<String, Owner>>,
}

impl std::fmt::Debug for TaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owned = self.owners.lock().map(|o| o.len()).unwrap_or_default();
        f.debug_struct("TaskStore").field("owned", &owned).finish()
    }
}

impl TaskStore {
    /// Start `work` as a task owned by `principal`.
    pub fn spawn(
        &self,
        principal: &Principal,
        work: impl FnOnce(TaskContext) -> TaskFuture,
    ) -> CreateTaskResult {
        let options = TaskOptions::new()
            .with_ttl_ms(DEFAULT_TASK_TTL_MS)
            .with_poll_interval_ms(POLL_INTERVAL_MS);
        let task = self.manager.spawn(options, work);
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        // The manager fails an unfinished task at its TTL and evicts a finished one a TTL
        // after it finished, so no task outlives twice its TTL.
        let forget_after = Duration::from_millis(2 * DEFAULT_TASK_TTL_MS);
        owners.retain(|_, owner| owner.created.elapsed() < forget_after);
        owners.insert(
            task.task_id.clone(),
            Owner {
                subject: Arc::clone(&principal.subject),
                org: Arc::clone(&principal.org),
                created: Instant::now(),
            },
        );
        CreateTaskResult::new(task)
    }

    fn owned_by(&self, task_id: &str, principal: &Principal) -> bool {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners
            .get(task_id)
            .is_some_and(|o| o.subject == principal.subject && o.org == principal.org)
    }

    /// `tasks/get`, or `None` if `principal` owns no such task.
    pub fn get(
        &self,
        task_id: &str,
        principal: &Principal,
    ) -> Option<Result<GetTaskResult, ErrorData>> {
        self.owned_by(task_id, principal)
            .then(|| self.manager.get_task(task_id).map(GetTaskResult::new))
    }

    /// `tasks/update`, or `None` if `principal` owns no such task.
    pub fn update(
        &self,
        task_id: &str,
        responses: impl IntoIterator<Item = (String, Value)>,
        principal: &Principal,
    ) -> Option<Result<(), ErrorData>> {
        self.owned_by(task_id, principal)
            .then(|| self.manager.update_task(task_id, responses))
    }

    /// `tasks/cancel`, or `None` if `principal` owns no such task.
    pub fn cancel(&self, task_id: &str, principal: &Principal) -> Option<Result<(), ErrorData>> {
        self.owned_by(task_id, principal)
            .then(|| self.manager.cancel_task(task_id))
    }
}

/// The answer for a task id no source owns for this caller (including other callers' tasks).
pub fn unknown_task(task_id: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("Unknown task: {task_id}"),
        Some(serde_json::json!({ "taskId": task_id })),
    )
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolResult, DetailedTask, TaskPayload, TaskStatus};
    use rmcp::task_manager::TaskExit;

    use super::*;
    use crate::edge::AuthVia;

    fn who(subject: &str) -> Principal {
        Principal::new(subject, "acme", "admin", AuthVia::Default)
    }

    /// Let the spawned task run until it reports `status` (the test runtime is single-threaded,
    /// so yielding is what lets it make progress).
    async fn settle(store: &TaskStore, id: &str, status: TaskStatus) -> DetailedTask {
        for _ in 0..1000 {
            let task = store
                .get(id, &who("alice"))
                .expect("the owner sees the task")
                .expect("the task is known")
                .task;
            if task.status() == status {
                return task;
            }
            tokio::task::yield_now().await;
        }
        panic!("task {id} never reached {status:?}");
    }

    #[tokio::test]
    async fn only_the_creator_sees_updates_and_cancels_a_task() {
        let store = TaskStore::default();
        let created = store.spawn(&who("alice"), |task| {
            Box::pin(async move {
                task.cancelled().await;
                Err(TaskExit::Cancelled)
            })
        });
        let id = created.task.task_id;
        assert!(store.get(&id, &who("mallory")).is_none());
        assert!(store.update(&id, [], &who("mallory")).is_none());
        assert!(store.cancel(&id, &who("mallory")).is_none());
        assert!(store.get("no-such-task", &who("alice")).is_none());

        store
            .cancel(&id, &who("alice"))
            .expect("the owner may cancel")
            .expect("cancel is acknowledged");
        settle(&store, &id, TaskStatus::Cancelled).await;
    }

    #[tokio::test]
    async fn a_finished_task_inlines_its_result() {
        let store = TaskStore::default();
        let created = store.spawn(&who("alice"), |_| {
            Box::pin(async { Ok(CallToolResult::success(vec![])) })
        });
        let task = settle(&store, &created.task.task_id, TaskStatus::Completed).await;
        assert!(
            matches!(task.payload, TaskPayload::Completed { ref result } if result.contains_key("content"))
        );
    }
}

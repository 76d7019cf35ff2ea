//! One virtual client of the load: the arguments of each call, and what it remembers between
//! calls.
//!
//! A client keeps the task it last read or wrote, as it was then, so that `patch_task` can send
//! the version it read and `process_task` an action that fits the status it saw. A refusal
//! because another client wrote in between is a conflict, not an error, and makes the client
//! read again before its next versioned write.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::Head;
use super::mix::Op;
use super::seed::Pool;
use super::tally::{Sample, Tally};
use super::text::{PRIORITIES, STATUSES, TAGS, index_below, pick, sentence, tags, title};
use crate::client::VirtualClient;
use crate::loadgen::{Schedule, SeenKinds, note_first};
use crate::reply::ToolReply;
use crate::scenario::{Draws, Scenario, ToolCall};

/// A task as a client last saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    id: String,
    version: i64,
    status: Option<String>,
}

/// How one call ended.
#[derive(Debug)]
enum Outcome {
    /// The tool did what was asked.
    Done,
    /// An expected refusal under contention.
    Conflict,
    /// Anything else: transport, HTTP, JSON-RPC or protocol failure, or a tool failure that
    /// is not a conflict. The kind names it in the report.
    Failed { kind: String, detail: String },
}

/// One virtual client of the load and what it remembers between calls.
pub(super) struct Worker {
    client: VirtualClient,
    index: usize,
    draws: Draws,
    pool: Arc<Pool>,
    /// The task this client last read or wrote, as it was then.
    last_seen: Option<Seen>,
    /// Tasks this client created, for unique titles.
    created: u64,
}

impl Worker {
    /// A client that has seen no task yet and created none.
    pub(super) fn new(client: VirtualClient, index: usize, draws: Draws, pool: Arc<Pool>) -> Self {
        Self {
            client,
            index,
            draws,
            pool,
            last_seen: None,
            created: 0,
        }
    }

    /// The operation to run for the `drawn` one, and its call with fresh arguments. A
    /// `patch_task` needs a version, so a client that has not read a task since its start or
    /// its last conflict reads one first: the draw becomes a `get_task`.
    fn next_call(&mut self, op: Op) -> (Op, ToolCall) {
        let draws = &mut self.draws;
        let arguments = match op {
            Op::GetTask => json!({ "id": pick(draws, &self.pool.tasks) }),
            Op::ListTasks => {
                if draws.next_draw().is_multiple_of(2) {
                    json!({ "tag": pick(draws, &TAGS) })
                } else {
                    json!({ "status": pick(draws, &STATUSES) })
                }
            }
            Op::Search => {
                let words = 1 + (draws.next_draw() % 2) as usize;
                json!({ "query": sentence(draws, words, words), "limit": 10 })
            }
            Op::Fetch => {
                let notes = self.pool.notes.len() as u64;
                let tasks = self.pool.tasks.len() as u64;
                let n = draws.next_draw() % (tasks + notes);
                let id = match n.checked_sub(tasks) {
                    Some(note) => &self.pool.notes[note as usize],
                    None => &self.pool.tasks[n as usize],
                };
                json!({ "id": id })
            }
            Op::ListComments => json!({ "target_id": pick(draws, &self.pool.tasks) }),
            Op::CreateTask => {
                self.created += 1;
                json!({
                    "title": format!("{} c{}-{}", title(draws, 3), self.index, self.created),
                    "description": sentence(draws, 8, 16),
                    "priority": pick(draws, &PRIORITIES),
                    "tags": tags(draws, 1, 3),
                })
            }
            Op::PatchTask => {
                let Some(seen) = &self.last_seen else {
                    return self.next_call(Op::GetTask);
                };
                let (id, version) = (seen.id.clone(), seen.version);
                let patch = match draws.next_draw() % 10 {
                    0..=3 => json!({ "priority": pick(draws, &PRIORITIES) }),
                    4..=6 => json!({ "description": sentence(draws, 8, 16) }),
                    _ => json!({ "tags": tags(draws, 1, 3) }),
                };
                json!({ "id": id, "version": version, "patch": patch })
            }
            Op::ProcessTask => {
                let (id, status) = match &self.last_seen {
                    Some(seen) => (seen.id.clone(), seen.status.clone()),
                    None => (pick(draws, &self.pool.tasks).to_owned(), None),
                };
                json!({ "id": id, "action": action_for(draws, status.as_deref()) })
            }
            Op::CreateComment => json!({
                "target_type": "task",
                "target_id": pick(draws, &self.pool.tasks),
                "body": sentence(draws, 5, 15),
            }),
        };
        (op, ToolCall::new(op.tool(), arguments))
    }

    /// Classifies the reply to `op` and remembers what it showed of a task.
    fn absorb(&mut self, op: Op, reply: &ToolReply<Head>) -> Outcome {
        if reply.is_error() {
            let text = reply.text();
            if op.may_conflict() && is_conflict(&text) {
                // Read again before the next versioned write, as a real client would.
                self.last_seen = None;
                return Outcome::Conflict;
            }
            return Outcome::Failed {
                kind: "tool_error".to_owned(),
                detail: text,
            };
        }
        let Some(head) = &reply.structured else {
            return Outcome::Done;
        };
        match op {
            Op::GetTask | Op::PatchTask | Op::ProcessTask => {
                if let (Some(id), Some(version)) = (&head.id, head.version) {
                    self.last_seen = Some(Seen {
                        id: id.clone(),
                        version,
                        status: head.status.clone(),
                    });
                }
            }
            Op::ListTasks if !head.items.is_empty() => {
                let item = pick(&mut self.draws, &head.items);
                self.last_seen = Some(Seen {
                    id: item.id.clone(),
                    version: item.version,
                    status: item.status.clone(),
                });
            }
            _ => {}
        }
        Outcome::Done
    }
}

/// Whether a tool failure's text is an expected refusal under contention: a stale version,
/// or a transition that no longer applies to the task's current status.
fn is_conflict(text: &str) -> bool {
    text.starts_with("version conflict") || text.starts_with("cannot ")
}

/// A `process_task` action that fits `status`; any action when the status is unknown.
fn action_for(draws: &mut Draws, status: Option<&str>) -> &'static str {
    let actions: &[&'static str] = match status {
        Some("todo") => &["start", "start", "complete", "cancel"],
        Some("in_progress") => &["complete", "complete", "complete", "cancel"],
        Some("done" | "cancelled") => &["reopen"],
        _ => &["start", "complete", "reopen", "cancel"],
    };
    actions[index_below(draws, actions.len())]
}

/// Runs `worker` until the schedule closes, drawing each operation from `draw`, and ends its
/// session; what it saw in the measured window.
pub(super) async fn drive(
    mut worker: Worker,
    schedule: Arc<Schedule>,
    draw: Arc<Scenario>,
    seen: SeenKinds,
) -> Tally {
    let mut tally = Tally::new();
    while let Some(measured) = schedule.admit() {
        let drawn = Op::ALL[draw.pick(worker.draws.next_draw())];
        let (op, call) = worker.next_call(drawn);
        let (latency, outcome) = match worker.client.call_tool::<Head>(&call).await {
            Ok((latency, reply)) => (Some(latency), worker.absorb(op, &reply)),
            Err(error) => (
                None,
                Outcome::Failed {
                    kind: error.kind(),
                    detail: error.describe(),
                },
            ),
        };
        if !measured {
            continue;
        }
        let slot = op.index();
        tally.calls[slot] += 1;
        tally.last_done = Some(Instant::now());
        match outcome {
            Outcome::Failed { kind, detail } => {
                note_first(&seen, &format!("{} {kind}", op.tool()), || {
                    format!("{detail} (arguments: {})", call.arguments)
                });
                *tally.errors[slot].entry(kind).or_default() += 1;
                continue;
            }
            Outcome::Conflict => tally.conflicts[slot] += 1,
            Outcome::Done => {}
        }
        if let Some(latency) = latency {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            tally.samples.push(Sample { op, micros });
        }
    }
    if let Err(error) = worker.client.close().await {
        note_first(&seen, "session_delete", || error.describe());
        tally.session_delete_errors += 1;
    }
    tally.streams_left_open = worker.client.streams_left_open();
    tally
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client::Target;

    #[test]
    fn only_stale_versions_and_inapplicable_transitions_are_conflicts() {
        assert!(is_conflict(
            "version conflict: task task_1 is at version 3, not 2; read it again"
        ));
        assert!(is_conflict(
            "cannot start a task that is done; only a todo task can be started"
        ));
        assert!(!is_conflict("the workspace store failed"));
        assert!(!is_conflict("task \"x\" not found"));
    }

    #[test]
    fn actions_fit_the_status_last_seen() {
        let mut draws = Draws::new(3);
        for _ in 0..50 {
            assert!(
                ["start", "complete", "cancel"].contains(&action_for(&mut draws, Some("todo")))
            );
            assert!(["complete", "cancel"].contains(&action_for(&mut draws, Some("in_progress"))));
            assert_eq!(action_for(&mut draws, Some("done")), "reopen");
        }
    }

    fn worker() -> Worker {
        let target = Target {
            url: "http://127.0.0.1:9/mcp".parse().expect("valid URL"),
            era: crate::protocol::Era::Modern,
            base_headers: crate::protocol::base_headers(None, &[]),
            timeout: Duration::from_secs(1),
        };
        Worker::new(
            VirtualClient::new(Arc::new(target), Arc::new(Scenario::empty()))
                .expect("client builds"),
            0,
            Draws::new(1),
            Arc::new(Pool {
                tasks: vec!["task_seeded".into()],
                notes: vec!["note_seeded".into()],
            }),
        )
    }

    fn reply(body: &str) -> ToolReply<Head> {
        serde_json::from_str(body).expect("valid reply")
    }

    #[test]
    fn writes_use_what_the_client_last_saw_and_forget_it_on_conflict() {
        let mut worker = worker();
        let page = reply(
            r#"{"isError":false,"content":[{"type":"text","text":"{}"}],"structuredContent":
            {"items":[{"id":"task_1","version":4,"status":"done","title":"x"}],"next_cursor":"c"}}"#,
        );
        assert!(matches!(worker.absorb(Op::ListTasks, &page), Outcome::Done));
        let (op, patch) = worker.next_call(Op::PatchTask);
        assert_eq!(op, Op::PatchTask);
        assert_eq!(patch.arguments["id"], "task_1");
        assert_eq!(patch.arguments["version"], 4);
        let (_, process) = worker.next_call(Op::ProcessTask);
        assert_eq!(process.arguments["action"], "reopen", "the task was done");

        let conflict = reply(
            r#"{"isError":true,"content":[{"type":"text","text":"version conflict: task task_1 is at version 5, not 4"}]}"#,
        );
        assert!(matches!(
            worker.absorb(Op::PatchTask, &conflict),
            Outcome::Conflict
        ));
        let (op, read) = worker.next_call(Op::PatchTask);
        assert_eq!(
            op,
            Op::GetTask,
            "read again before the next versioned write"
        );
        assert_eq!(read.name, "get_task");
        assert_eq!(read.arguments["id"], "task_seeded");
    }

    #[test]
    fn a_failed_read_is_an_error_not_a_conflict() {
        let failed = reply(
            r#"{"isError":true,"content":[{"type":"text","text":"version conflict: impossible"}]}"#,
        );
        match worker().absorb(Op::GetTask, &failed) {
            Outcome::Failed { kind, detail } => {
                assert_eq!(kind, "tool_error");
                assert!(detail.starts_with("version conflict"));
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

//! Seeding: the tasks, notes and comments created before the load, which is not measured.
//!
//! Records are created through the MCP write tools, spread over every client, and are
//! deterministic: record `n` of a kind is drawn from its own salted sequence, so two runs
//! with the same plan seed the same workspace. The load reads and writes the IDs created.

use anyhow::{Context, bail};
use serde_json::json;

use super::text::{PRIORITIES, pick, sentence, tags, title};
use super::{Head, SEED_COMMENT_SALT, SEED_NOTE_SALT, SEED_TASK_SALT, SeedPlan};
use crate::client::VirtualClient;
use crate::reply::CallError;
use crate::scenario::{Draws, ToolCall};

/// The records seeding created that the load reads and writes.
#[derive(Debug, Default)]
pub struct Pool {
    /// Task IDs.
    pub tasks: Vec<String>,
    /// Note IDs.
    pub notes: Vec<String>,
}

/// Creates the seed records, spread over every client; the IDs of the tasks and notes.
pub(super) async fn seed(clients: &mut [VirtualClient], plan: SeedPlan) -> anyhow::Result<Pool> {
    let tasks = seed_phase(clients, plan.tasks, seed_task).await?;
    let notes = seed_phase(clients, plan.notes, seed_note).await?;
    seed_phase(clients, plan.comments, |n| seed_comment(n, &tasks)).await?;
    Ok(Pool { tasks, notes })
}

/// Sends `make(0..count)`, client `c` taking every call whose number is `c` modulo the
/// number of clients; the created records' IDs, in call order. Any failure ends the run.
async fn seed_phase(
    clients: &mut [VirtualClient],
    count: usize,
    make: impl Fn(usize) -> ToolCall + Sync,
) -> anyhow::Result<Vec<String>> {
    let stride = clients.len().max(1);
    let make = &make;
    let phases = clients
        .iter_mut()
        .enumerate()
        .map(|(first, client)| async move {
            let mut created = Vec::new();
            for number in (first..count).step_by(stride) {
                let call = make(number);
                let id = match client.call_tool::<Head>(&call).await {
                    Ok((_, reply)) if !reply.is_error() => reply
                        .structured
                        .and_then(|head| head.id)
                        .with_context(|| format!("seed: {} answered without an ID", call.name))?,
                    Ok((_, reply)) => bail!("seed: {} failed: {}", call.name, reply.text()),
                    Err(error) => {
                        let hint = match error {
                            CallError::JsonRpc { .. } => {
                                " (seeding needs the write tools: does the server run with \
                             MCPGATE_WORKSPACE_WRITE=true, and may the caller's role write?)"
                            }
                            _ => "",
                        };
                        bail!("seed: {} failed: {}{hint}", call.name, error.describe())
                    }
                };
                created.push((number, id));
            }
            anyhow::Ok(created)
        });
    let mut created: Vec<(usize, String)> = futures::future::try_join_all(phases)
        .await?
        .into_iter()
        .flatten()
        .collect();
    created.sort_unstable();
    Ok(created.into_iter().map(|(_, id)| id).collect())
}

fn seed_task(number: usize) -> ToolCall {
    let mut draws = Draws::new(SEED_TASK_SALT ^ number as u64);
    let status = match draws.next_draw() % 10 {
        0..=3 => "todo",
        4..=6 => "in_progress",
        7..=8 => "done",
        _ => "cancelled",
    };
    ToolCall::new(
        "create_task",
        json!({
            "title": format!("{} {number:04}", title(&mut draws, 3)),
            "description": sentence(&mut draws, 8, 16),
            "status": status,
            "priority": pick(&mut draws, &PRIORITIES),
            "tags": tags(&mut draws, 1, 3),
        }),
    )
}

fn seed_note(number: usize) -> ToolCall {
    let mut draws = Draws::new(SEED_NOTE_SALT ^ number as u64);
    ToolCall::new(
        "create_note",
        json!({
            "title": format!("{} note {number:04}", title(&mut draws, 2)),
            "body": sentence(&mut draws, 20, 40),
            "tags": tags(&mut draws, 0, 2),
        }),
    )
}

fn seed_comment(number: usize, tasks: &[String]) -> ToolCall {
    let mut draws = Draws::new(SEED_COMMENT_SALT ^ number as u64);
    ToolCall::new(
        "create_comment",
        json!({
            "target_type": "task",
            "target_id": pick(&mut draws, tasks),
            "body": sentence(&mut draws, 5, 15),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic() {
        let call = seed_task(7);
        assert!(
            call.arguments["title"]
                .as_str()
                .is_some_and(|t| t.ends_with(" 0007"))
        );
        assert_eq!(seed_task(7), call, "seeding is deterministic");
    }
}

//! The operations of the workspace load and their weighted mix.
//!
//! Reads and writes are two classes: `--write-percent` splits the draws between them, and
//! within each class every operation keeps a fixed share, so the mix of a run is one number.

/// One operation of the mix: a tool and how its arguments are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `get_task` of a seeded task.
    GetTask,
    /// `list_tasks` filtered by a tag or a status.
    ListTasks,
    /// `search` for one or two vocabulary words.
    Search,
    /// `fetch` of a seeded task or note.
    Fetch,
    /// `list_comments` of a seeded task.
    ListComments,
    /// `create_task` with a fresh title.
    CreateTask,
    /// `patch_task` of the task last read, with the version read.
    PatchTask,
    /// `process_task` with an action that fits the status last read.
    ProcessTask,
    /// `create_comment` on a seeded task.
    CreateComment,
}

impl Op {
    /// Every operation, in the order of the mix.
    pub const ALL: [Op; 9] = [
        Op::GetTask,
        Op::ListTasks,
        Op::Search,
        Op::Fetch,
        Op::ListComments,
        Op::CreateTask,
        Op::PatchTask,
        Op::ProcessTask,
        Op::CreateComment,
    ];

    /// The tool called.
    pub fn tool(self) -> &'static str {
        match self {
            Op::GetTask => "get_task",
            Op::ListTasks => "list_tasks",
            Op::Search => "search",
            Op::Fetch => "fetch",
            Op::ListComments => "list_comments",
            Op::CreateTask => "create_task",
            Op::PatchTask => "patch_task",
            Op::ProcessTask => "process_task",
            Op::CreateComment => "create_comment",
        }
    }

    /// Whether the operation writes.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::CreateTask | Op::PatchTask | Op::ProcessTask | Op::CreateComment
        )
    }

    /// `reads` or `writes`.
    pub fn class(self) -> &'static str {
        if self.writes() { "writes" } else { "reads" }
    }

    /// Share of the operation within its class, in percent; each class sums to 100.
    fn share_in_class(self) -> u64 {
        match self {
            Op::GetTask => 30,
            Op::ListTasks => 20,
            Op::Search => 20,
            Op::Fetch => 15,
            Op::ListComments => 15,
            Op::CreateTask => 20,
            Op::PatchTask => 40,
            Op::ProcessTask => 20,
            Op::CreateComment => 20,
        }
    }

    /// Whether a refusal of this operation under contention is expected (a conflict).
    pub(super) fn may_conflict(self) -> bool {
        matches!(self, Op::PatchTask | Op::ProcessTask)
    }

    pub(super) fn index(self) -> usize {
        Op::ALL
            .iter()
            .position(|&op| op == self)
            .unwrap_or_default()
    }
}

/// The mix for `write_percent`: each operation's weight, in hundredths of a percent.
pub(super) fn mix(write_percent: u64) -> Vec<(Op, u64)> {
    let write_percent = write_percent.min(100);
    Op::ALL
        .into_iter()
        .map(|op| {
            let class_share = if op.writes() {
                write_percent
            } else {
                100 - write_percent
            };
            (op, op.share_in_class() * class_share)
        })
        .collect()
}

/// `get_task:24,list_tasks:16,…`: each tool's share of the draws in percent.
pub(super) fn describe_mix(mix: &[(Op, u64)]) -> String {
    mix.iter()
        .map(|(op, weight)| format!("{}:{}", op.tool(), *weight as f64 / 100.0))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_gets_its_share_of_the_mix() {
        let weights = mix(20);
        let share = |writes: bool| -> u64 {
            weights
                .iter()
                .filter(|(op, _)| op.writes() == writes)
                .map(|(_, weight)| weight)
                .sum()
        };
        assert_eq!(share(false), 8000, "reads are 80.00%");
        assert_eq!(share(true), 2000, "writes are 20.00%");
        assert_eq!(
            describe_mix(&weights),
            "get_task:24,list_tasks:16,search:16,fetch:12,list_comments:12,create_task:4,\
             patch_task:8,process_task:4,create_comment:4"
        );
        assert!(mix(0).iter().all(|(op, w)| !op.writes() || *w == 0));
    }
}

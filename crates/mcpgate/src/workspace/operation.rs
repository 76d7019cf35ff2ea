//! The eight operations every kind offers, named once: the MCP tools (`list_tasks`,
//! `get_task`, …) and the REST endpoints are both generated from this list.

use super::Kind;

/// One operation on one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Page through records.
    List,
    /// One record by ID or slug.
    Get,
    /// A new record.
    Create,
    /// Replace every field (versioned).
    Update,
    /// JSON Merge Patch (versioned).
    Patch,
    /// Remove with children.
    Delete,
    /// Hide from default lists.
    Archive,
    /// A named transition.
    Process,
}

impl Op {
    /// Every operation, in the order tools and endpoints are listed.
    pub const ALL: [Op; 8] = [
        Op::List,
        Op::Get,
        Op::Create,
        Op::Update,
        Op::Patch,
        Op::Delete,
        Op::Archive,
        Op::Process,
    ];

    /// Whether the operation changes data (and so needs `workspace.write` and a writer role).
    pub fn writes(self) -> bool {
        !matches!(self, Op::List | Op::Get)
    }

    /// The MCP tool name: `list_chat_messages`, `process_task`.
    pub fn tool(self, kind: Kind) -> String {
        let verb = match self {
            Op::List => return format!("list_{}", kind.plural()),
            Op::Get => "get",
            Op::Create => "create",
            Op::Update => "update",
            Op::Patch => "patch",
            Op::Delete => "delete",
            Op::Archive => "archive",
            Op::Process => "process",
        };
        format!("{verb}_{}", kind.singular())
    }
}

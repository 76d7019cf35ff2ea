//! The prose of the document: each collection's tag description and each record operation's
//! description, written per `Op` and filled in from the kind (its label, plural, default
//! order, children and transitions), so the 40 operations read as if written one by one.
//!
//! Kept apart from `operations` so that the structure of an operation (parameters, bodies,
//! responses) reads without the paragraphs of text around it.

use crate::workspace::{Kind, Op};

/// What a collection's tag says about it.
pub(super) fn tag_description(kind: Kind) -> &'static str {
    match kind {
        Kind::Note => "Titled markdown notes, with tags; pin the ones to read first.",
        Kind::Task => "Tasks with a status lifecycle, priority, due date, assignee and tags.",
        Kind::Comment => "Comments on a note, task or chat; resolve and reopen them.",
        Kind::Chat => "Titled conversations; their messages are the chat_messages collection.",
        Kind::ChatMessage => "Messages in a chat, oldest first; pin the ones worth keeping.",
    }
}

/// How a record of `kind` is named in a path.
fn key_phrase(kind: Kind) -> &'static str {
    if kind.has_title() {
        "by ID or slug"
    } else {
        "by ID"
    }
}

/// An operation's `description`; it ends by naming the MCP tool that does the same.
pub(super) fn description(op: Op, kind: Kind) -> String {
    let label = kind.label();
    let plural = kind.plural().replace('_', " ");
    let key = key_phrase(kind);
    let tool = op.tool(kind);
    let same = format!(" The MCP tool `{tool}` does the same.");
    let text = match op {
        Op::List => {
            let order = if kind.default_descending() {
                "newest first"
            } else {
                "oldest first"
            };
            format!(
                "One page of the {plural} in your workspace, {order}. Archived {plural} are left \
                 out unless `archived` asks for them. A page may end before `limit` to stay \
                 under the size cap; pass `next_cursor` back as `cursor` (with the same \
                 filters) for the next page. Unknown query parameters are refused with 400."
            )
        }
        Op::Get => format!(
            "One {label} {key}. The `ETag` is its version: send it as `If-None-Match` to \
             revalidate (304 when unchanged) or as `If-Match` to change it."
        ),
        Op::Create => {
            let intro = match kind {
                Kind::Comment => {
                    "Comment on a note, task or chat (give its type and ID or slug).".to_owned()
                }
                Kind::ChatMessage => "Add a message to a chat (by chat ID or slug).".to_owned(),
                _ => format!(
                    "Create a {label}. A slug is made from the title (unique in your \
                     workspace) and works wherever the ID does."
                ),
            };
            format!(
                "{intro} Answers 201 with the {label}, its `Location` and its `ETag` (version 1)."
            )
        }
        Op::Update => format!(
            "Replace every field of a {label} ({key}); fields left out return to their defaults. \
             `If-Match` must carry the version you read (the `ETag`): without it the answer is \
             428, and if the {label} changed since, nothing is written and the 412 names \
             `current_version`. To change a few fields, use PATCH."
        ),
        Op::Patch => format!(
            "Change some fields of a {label} ({key}) with a JSON Merge Patch (RFC 7396): members \
             replace, `null` removes an optional field, objects merge. Send it as \
             `application/merge-patch+json` (or `application/json`). `If-Match` is required as \
             for PUT."
        ),
        Op::Delete => {
            let children = match kind {
                Kind::Note | Kind::Task => " Its comments are deleted with it.",
                Kind::Chat => " Its messages and comments are deleted with it.",
                _ => "",
            };
            format!(
                "Delete a {label} ({key}) for good.{children} The answer counts the children \
                 deleted. `If-Match` is optional: when given, a changed {label} is not \
                 deleted (412). To hide it reversibly, archive it instead."
            )
        }
        Op::Archive => format!(
            "Archive a {label} ({key}): it leaves default lists and search but is kept; the \
             `unarchive` action restores it. Archiving an archived {label} changes nothing. \
             No body; `If-Match` is optional."
        ),
        Op::Process => {
            let actions = kind.transitions_summary();
            format!(
                "Apply a named state change to a {label} ({key}): {actions}. An action that does \
                 not apply to the current state is refused with 409 and the reason. `If-Match` \
                 is optional."
            )
        }
    };
    format!("{text}{same}")
}

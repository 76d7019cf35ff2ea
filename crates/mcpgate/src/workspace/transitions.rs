//! The named transitions `process_*` applies: each kind's small state machine, and the error
//! that explains a move the current state does not allow.

use super::Kind;
use super::fields::{
    ChatFields, ChatStatus, CommentFields, CommentStatus, TaskFields, TaskStatus, enum_name,
    to_value, typed,
};

/// A transition that does not apply to the record's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The action is not one of the kind's transitions.
    #[error("unknown action {action:?}; {kind} actions are: {known}")]
    Unknown {
        /// What was asked.
        action: String,
        /// The kind.
        kind: Kind,
        /// The valid actions, comma-separated.
        known: String,
    },
    /// The action exists but not from the current state.
    #[error("cannot {action} a {kind} that is {state}; {hint}")]
    Invalid {
        /// What was asked.
        action: String,
        /// The kind.
        kind: Kind,
        /// The current state.
        state: String,
        /// What would be valid instead.
        hint: String,
    },
}

/// Apply the named `action` to `fields` of `kind` (not archived state; the caller handles
/// `unarchive`). Returns the new fields.
pub fn transition(
    kind: Kind,
    fields: &serde_json::Value,
    action: &str,
) -> Result<serde_json::Value, TransitionError> {
    let invalid = |state: &str, hint: &str| TransitionError::Invalid {
        action: action.to_owned(),
        kind,
        state: state.to_owned(),
        hint: hint.to_owned(),
    };
    let unknown = || TransitionError::Unknown {
        action: action.to_owned(),
        kind,
        known: kind
            .transitions()
            .iter()
            .map(|t| t.action)
            .collect::<Vec<_>>()
            .join(", "),
    };
    let corrupt = || invalid("unreadable", "the stored record does not match its schema");
    match kind {
        Kind::Note | Kind::ChatMessage => {
            let mut value = fields.clone();
            let pinned = value
                .get("pinned")
                .and_then(|p| p.as_bool())
                .ok_or_else(corrupt)?;
            let want = match action {
                "pin" => true,
                "unpin" => false,
                _ => return Err(unknown()),
            };
            if pinned == want {
                let state = if pinned { "pinned" } else { "not pinned" };
                let hint = if pinned {
                    "unpin it first"
                } else {
                    "pin it first"
                };
                return Err(invalid(state, hint));
            }
            value["pinned"] = serde_json::Value::Bool(want);
            Ok(value)
        }
        Kind::Task => {
            let mut f: TaskFields = typed(fields).map_err(|_| corrupt())?;
            use TaskStatus::*;
            let state = enum_name(&f.status);
            f.status = match (action, f.status) {
                ("start", Todo) => InProgress,
                ("complete", Todo | InProgress) => Done,
                ("reopen", Done | Cancelled) => Todo,
                ("cancel", Todo | InProgress) => Cancelled,
                ("start", _) => return Err(invalid(&state, "only a todo task can be started")),
                ("complete" | "cancel", _) => {
                    return Err(invalid(&state, "reopen it first"));
                }
                ("reopen", _) => {
                    return Err(invalid(&state, "only done or cancelled tasks reopen"));
                }
                _ => return Err(unknown()),
            };
            Ok(to_value(&f))
        }
        Kind::Comment => {
            let mut f: CommentFields = typed(fields).map_err(|_| corrupt())?;
            f.status = match (action, f.status) {
                ("resolve", CommentStatus::Open) => CommentStatus::Resolved,
                ("reopen", CommentStatus::Resolved) => CommentStatus::Open,
                ("resolve", _) => return Err(invalid("resolved", "it is already resolved")),
                ("reopen", _) => return Err(invalid("open", "it is already open")),
                _ => return Err(unknown()),
            };
            Ok(to_value(&f))
        }
        Kind::Chat => {
            let mut f: ChatFields = typed(fields).map_err(|_| corrupt())?;
            f.status = match (action, f.status) {
                ("close", ChatStatus::Open) => ChatStatus::Closed,
                ("reopen", ChatStatus::Closed) => ChatStatus::Open,
                ("close", _) => return Err(invalid("closed", "it is already closed")),
                ("reopen", _) => return Err(invalid("open", "it is already open")),
                _ => return Err(unknown()),
            };
            Ok(to_value(&f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn task_lifecycle_allows_only_documented_moves() {
        let todo = json!({"title": "t", "description": "", "status": "todo", "priority": "normal", "tags": []});
        let started = transition(Kind::Task, &todo, "start").expect("todo starts");
        assert_eq!(started["status"], "in_progress");
        let done = transition(Kind::Task, &started, "complete").expect("completes");
        assert_eq!(done["status"], "done");
        let e = transition(Kind::Task, &done, "start").unwrap_err();
        assert!(
            e.to_string().contains("cannot start a task that is done"),
            "{e}"
        );
        let e = transition(Kind::Task, &done, "fly").unwrap_err();
        assert!(
            e.to_string().contains("start, complete, reopen, cancel"),
            "{e}"
        );
        assert_eq!(
            transition(Kind::Task, &done, "reopen").expect("reopens")["status"],
            "todo"
        );
    }

    #[test]
    fn pinning_twice_is_an_invalid_transition() {
        let note = json!({"title": "n", "body": "", "tags": [], "pinned": true});
        assert!(transition(Kind::Note, &note, "pin").is_err());
        assert_eq!(
            transition(Kind::Note, &note, "unpin").expect("unpins")["pinned"],
            false
        );
    }
}

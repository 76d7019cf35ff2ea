//! The five kinds of workspace record and what each one allows: its names on the wire, its ID
//! prefix, which list filters apply, and its named transitions.

use serde::{Deserialize, Serialize};

/// A kind of workspace record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A markdown note.
    Note,
    /// A task with a status, priority and due date.
    Task,
    /// A comment on a note, task or chat.
    Comment,
    /// A conversation.
    Chat,
    /// One message in a chat.
    ChatMessage,
}

/// A named state change that `process_*` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The action name callers pass.
    pub action: &'static str,
    /// What it does, for tool descriptions and docs.
    pub description: &'static str,
}

const fn t(action: &'static str, description: &'static str) -> Transition {
    Transition {
        action,
        description,
    }
}

const UNARCHIVE: Transition = t(
    "unarchive",
    "archived -> active: show the record in default lists again",
);

impl Kind {
    /// Every kind, in the order tools and endpoints are listed.
    pub const ALL: [Kind; 5] = [
        Kind::Note,
        Kind::Task,
        Kind::Comment,
        Kind::Chat,
        Kind::ChatMessage,
    ];

    /// The singular name: `note`, `chat_message`.
    pub const fn singular(self) -> &'static str {
        match self {
            Kind::Note => "note",
            Kind::Task => "task",
            Kind::Comment => "comment",
            Kind::Chat => "chat",
            Kind::ChatMessage => "chat_message",
        }
    }

    /// The plural name, also the REST collection: `notes`, `chat_messages`.
    pub const fn plural(self) -> &'static str {
        match self {
            Kind::Note => "notes",
            Kind::Task => "tasks",
            Kind::Comment => "comments",
            Kind::Chat => "chats",
            Kind::ChatMessage => "chat_messages",
        }
    }

    /// Human name for messages: `note`, `chat message`.
    pub const fn label(self) -> &'static str {
        match self {
            Kind::ChatMessage => "chat message",
            other => other.singular(),
        }
    }

    /// The prefix of this kind's IDs.
    pub const fn id_prefix(self) -> &'static str {
        match self {
            Kind::Note => "note",
            Kind::Task => "task",
            Kind::Comment => "cmt",
            Kind::Chat => "chat",
            Kind::ChatMessage => "msg",
        }
    }

    /// The kind whose ID prefix starts `id`, if any.
    pub fn of_id(id: &str) -> Option<Kind> {
        let (prefix, _) = id.split_once('_')?;
        Kind::ALL.into_iter().find(|k| k.id_prefix() == prefix)
    }

    /// The kind named `name` (singular or plural).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.singular() == name || k.plural() == name)
    }

    /// Whether records of this kind have a title (and so a slug).
    pub const fn has_title(self) -> bool {
        matches!(self, Kind::Note | Kind::Task | Kind::Chat)
    }

    /// The statuses records of this kind move between, if they have one.
    pub const fn statuses(self) -> &'static [&'static str] {
        match self {
            Kind::Task => &["todo", "in_progress", "done", "cancelled"],
            Kind::Comment => &["open", "resolved"],
            Kind::Chat => &["open", "closed"],
            Kind::Note | Kind::ChatMessage => &[],
        }
    }

    /// Whether records of this kind carry tags.
    pub const fn has_tags(self) -> bool {
        matches!(self, Kind::Note | Kind::Task)
    }

    /// The parent field, for kinds that belong to another record.
    pub const fn parent_field(self) -> Option<&'static str> {
        match self {
            Kind::Comment => Some("target_id"),
            Kind::ChatMessage => Some("chat_id"),
            _ => None,
        }
    }

    /// Default list order: conversations read oldest first, everything else newest first.
    pub const fn default_descending(self) -> bool {
        !matches!(self, Kind::ChatMessage)
    }

    /// The named transitions `process_*` accepts for this kind.
    pub fn transitions(self) -> &'static [Transition] {
        const NOTE: &[Transition] = &[
            t("pin", "unpinned -> pinned"),
            t("unpin", "pinned -> unpinned"),
            UNARCHIVE,
        ];
        const TASK: &[Transition] = &[
            t("start", "todo -> in_progress"),
            t("complete", "todo or in_progress -> done"),
            t("reopen", "done or cancelled -> todo"),
            t("cancel", "todo or in_progress -> cancelled"),
            UNARCHIVE,
        ];
        const COMMENT: &[Transition] = &[
            t("resolve", "open -> resolved"),
            t("reopen", "resolved -> open"),
            UNARCHIVE,
        ];
        const CHAT: &[Transition] = &[
            t("close", "open -> closed"),
            t("reopen", "closed -> open"),
            UNARCHIVE,
        ];
        const MESSAGE: &[Transition] = &[
            t(
                "pin",
                "unpinned -> pinned: mark a message worth keeping (decisions, answers)",
            ),
            t("unpin", "pinned -> unpinned"),
            UNARCHIVE,
        ];
        match self {
            Kind::Note => NOTE,
            Kind::Task => TASK,
            Kind::Comment => COMMENT,
            Kind::Chat => CHAT,
            Kind::ChatMessage => MESSAGE,
        }
    }
}

impl Kind {
    /// The transitions as prose for descriptions: `` `start` (todo -> in_progress), … ``.
    pub fn transitions_summary(self) -> String {
        self.transitions()
            .iter()
            .map(|t| format!("`{}` ({})", t.action, t.description))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.singular())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_prefixes_are_distinct_and_round_trip() {
        for kind in Kind::ALL {
            let id = format!("{}_0190", kind.id_prefix());
            assert_eq!(Kind::of_id(&id), Some(kind));
            assert_eq!(Kind::parse(kind.plural()), Some(kind));
            assert_eq!(Kind::parse(kind.singular()), Some(kind));
        }
        assert_eq!(Kind::of_id("nope"), None);
        assert_eq!(Kind::of_id("user_1"), None);
    }

    #[test]
    fn every_kind_can_be_unarchived() {
        for kind in Kind::ALL {
            assert!(kind.transitions().iter().any(|t| t.action == "unarchive"));
        }
    }
}

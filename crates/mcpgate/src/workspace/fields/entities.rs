//! The fields of each entity (note, task, comment, chat, chat message) as typed structs. Their
//! doc comments and `schemars` attributes are the JSON Schema every door publishes (MCP tool
//! schemas, the REST API, OpenAPI), and serde reads and writes them as stored.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::workspace::Kind;

/// A tag: letters, digits, `_`, `-` and `.`; stored lowercase.
const TAG_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$";

/// A note: a titled markdown document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = note_example())]
pub struct NoteFields {
    /// Title; the note's slug is made from it at creation.
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// Markdown body.
    #[serde(default)]
    #[schemars(length(max = 100000))]
    pub body: String,
    /// Tags (case-insensitive, stored lowercase), at most 20.
    #[serde(default)]
    #[schemars(length(max = 20), inner(regex(pattern = TAG_PATTERN)))]
    pub tags: Vec<String>,
    /// Pinned notes are the ones to read first.
    #[serde(default)]
    pub pinned: bool,
}

fn note_example() -> serde_json::Value {
    serde_json::json!({"title": "Release checklist", "body": "- [ ] tag\n- [ ] publish", "tags": ["release"], "pinned": false})
}

/// Task status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started.
    #[default]
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished.
    Done,
    /// Will not be done.
    Cancelled,
}

/// Task priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

/// A task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = task_example())]
pub struct TaskFields {
    /// Title; the task's slug is made from it at creation.
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// Markdown description.
    #[serde(default)]
    #[schemars(length(max = 20000))]
    pub description: String,
    /// Status. `process_task` moves it along its lifecycle; `update`/`patch` may set it directly.
    #[serde(default)]
    pub status: TaskStatus,
    /// Priority.
    #[serde(default)]
    pub priority: Priority,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date"))]
    pub due: Option<String>,
    /// Who the task is assigned to (a subject name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub assignee: Option<String>,
    /// Tags (case-insensitive, stored lowercase), at most 20.
    #[serde(default)]
    #[schemars(length(max = 20), inner(regex(pattern = TAG_PATTERN)))]
    pub tags: Vec<String>,
}

fn task_example() -> serde_json::Value {
    serde_json::json!({"title": "Rotate the signing key", "description": "Before Friday.", "status": "todo", "priority": "high", "due": "2026-12-01", "assignee": "alice", "tags": ["security"]})
}

/// What a comment is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    /// A note.
    Note,
    /// A task.
    Task,
    /// A chat.
    Chat,
}

impl TargetType {
    /// The kind of record targeted.
    pub fn kind(self) -> Kind {
        match self {
            TargetType::Note => Kind::Note,
            TargetType::Task => Kind::Task,
            TargetType::Chat => Kind::Chat,
        }
    }
}

/// Comment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommentStatus {
    /// Needs attention.
    #[default]
    Open,
    /// Dealt with.
    Resolved,
}

/// A comment on a note, task or chat.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = comment_example())]
pub struct CommentFields {
    /// The kind of record commented on.
    pub target_type: TargetType,
    /// ID or slug of the record commented on; stored as its ID. Cannot change after creation.
    #[schemars(length(min = 1, max = 200))]
    pub target_id: String,
    /// Markdown body.
    #[schemars(length(min = 1, max = 20000))]
    pub body: String,
    /// Status; `process_comment` resolves and reopens.
    #[serde(default)]
    pub status: CommentStatus,
}

fn comment_example() -> serde_json::Value {
    serde_json::json!({"target_type": "task", "target_id": "rotate-the-signing-key", "body": "The old key expires on the 3rd.", "status": "open"})
}

/// Chat status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatStatus {
    /// Active.
    #[default]
    Open,
    /// Finished.
    Closed,
}

/// A chat: a titled conversation.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = chat_example())]
pub struct ChatFields {
    /// Title; the chat's slug is made from it at creation.
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// Status; `process_chat` closes and reopens.
    #[serde(default)]
    pub status: ChatStatus,
}

fn chat_example() -> serde_json::Value {
    serde_json::json!({"title": "Incident 42 retro", "status": "open"})
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    /// A person.
    User,
    /// The AI assistant.
    Assistant,
    /// Instructions.
    System,
    /// A tool's output.
    Tool,
}

/// One message in a chat.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = message_example())]
pub struct ChatMessageFields {
    /// ID or slug of the chat; stored as its ID. Cannot change after creation.
    #[schemars(length(min = 1, max = 200))]
    pub chat_id: String,
    /// Who wrote it.
    pub role: MessageRole,
    /// The message text (markdown).
    #[schemars(length(min = 1, max = 100000))]
    pub content: String,
    /// Pinned messages are worth keeping (decisions, answers).
    #[serde(default)]
    pub pinned: bool,
}

fn message_example() -> serde_json::Value {
    serde_json::json!({"chat_id": "incident-42-retro", "role": "user", "content": "What failed first?", "pinned": false})
}

//! Module `workspace`: eight tools per kind (`list_`, `get_`, `create_`, `update_`, `patch_`,
//! `delete_`, `archive_`, `process_`) for notes, tasks, comments, chats and chat messages, plus
//! `search` and `fetch`. Read tools are always registered; write tools only when
//! `workspace.write` is on, and callers see them only if their role may write.

pub(crate) mod schemas;

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Tool, ToolAnnotations,
};
use serde_json::{Map, Value};

use super::{object, output_schema};
use crate::mcp::{CallContext, Module, ToolSpec};
use crate::workspace::view::{self, Deleted, Document, SearchPage};
use crate::workspace::{Kind, ListRequest, Op, Tenant, WorkspaceError, WorkspaceService};

/// Title of the `search` tool (and summary of `GET /api/v1/search`).
pub const SEARCH_TITLE: &str = "Search the workspace";
/// Title of the `fetch` tool (and summary of `GET /api/v1/fetch/{id}`).
pub const FETCH_TITLE: &str = "Fetch a record";

/// The `workspace` module.
pub struct WorkspaceModule {
    service: Arc<WorkspaceService>,
    write: bool,
}

impl WorkspaceModule {
    /// The module over `service`; write tools only if `write`.
    pub fn new(service: Arc<WorkspaceService>, write: bool) -> Self {
        Self { service, write }
    }
}

impl Op {
    /// Annotations that are true of the operation. `destructive` means it may overwrite or
    /// remove what is there; `idempotent` that repeating the same call changes nothing more
    /// (a repeated versioned write is refused as a conflict).
    fn annotations(self) -> ToolAnnotations {
        let (read_only, destructive, idempotent) = match self {
            Op::List | Op::Get => (true, false, true),
            Op::Create => (false, false, false),
            Op::Update | Op::Patch => (false, true, true),
            Op::Delete => (false, true, true),
            Op::Archive => (false, false, true),
            Op::Process => (false, false, false),
        };
        ToolAnnotations::new()
            .read_only(read_only)
            .destructive(destructive)
            .idempotent(idempotent)
            .open_world(false)
    }

    /// The tool's title, also the REST operation's summary.
    pub(crate) fn title(self, kind: Kind) -> String {
        let label = kind.label();
        match self {
            Op::List => format!("List {}", kind.plural().replace('_', " ")),
            Op::Get => format!("Get a {label}"),
            Op::Create => format!("Create a {label}"),
            Op::Update => format!("Replace a {label}"),
            Op::Patch => format!("Patch a {label}"),
            Op::Delete => format!("Delete a {label}"),
            Op::Archive => format!("Archive a {label}"),
            Op::Process => format!("Change a {label}'s state"),
        }
    }

    fn description(self, kind: Kind) -> String {
        let label = kind.label();
        let plural = kind.plural().replace('_', " ");
        let key = if kind.has_title() {
            "by ID or slug"
        } else {
            "by ID"
        };
        let children = match kind {
            Kind::Note | Kind::Task => " Its comments are deleted with it.",
            Kind::Chat => " Its messages and comments are deleted with it.",
            _ => "",
        };
        match self {
            Op::List => {
                let mut filters = vec!["archived state", "update time"];
                if !kind.statuses().is_empty() {
                    filters.insert(0, "status");
                }
                if kind.has_tags() {
                    filters.insert(0, "tag");
                }
                if let Some(parent) = kind.parent_field() {
                    filters.insert(0, parent);
                }
                let order = if kind.default_descending() { "newest first" } else { "oldest first" };
                format!(
                    "List {plural} in your workspace, {order}. Filter by {}; archived {plural} are left out unless asked for. Pass `next_cursor` back as `cursor` for the next page.",
                    filters.join(", ")
                )
            }
            Op::Get => format!("Get one {label} {key}, with its version for later updates."),
            Op::Create => match kind {
                Kind::Comment => "Comment on a note, task or chat (give its type and ID or slug). Returns the comment with its ID and version.".to_owned(),
                Kind::ChatMessage => "Add a message to a chat (by chat ID or slug). Returns the message with its ID and version.".to_owned(),
                _ => format!("Create a {label}. A slug is made from the title (unique in your workspace) and can be used wherever the ID is. Returns the {label} with its ID and version."),
            },
            Op::Update => format!("Replace every field of a {label} ({key}); fields left out return to their defaults. Requires the version you read: if the {label} changed since, nothing is written and the error names the current version. To change a few fields use patch_{}.", kind.singular()),
            Op::Patch => format!("Change some fields of a {label} ({key}) with a JSON Merge Patch (RFC 7396). Requires the version you read: if the {label} changed since, nothing is written and the error names the current version."),
            Op::Delete => format!("Delete a {label} ({key}) for good.{children} To hide it reversibly, use archive_{} instead.", kind.singular()),
            Op::Archive => format!("Archive a {label} ({key}): it leaves default lists and search but is kept; `process_{}` with action `unarchive` restores it. Archiving an archived {label} changes nothing.", kind.singular()),
            Op::Process => {
                let actions = kind.transitions_summary();
                format!("Apply a named state change to a {label} ({key}): {actions}. A change that does not apply to the current state is refused with the reason.")
            }
        }
    }

    fn input_schema(self, kind: Kind, service: &WorkspaceService) -> Value {
        match self {
            Op::List => schemas::list(kind, service.limits()),
            Op::Get => schemas::by_id(kind),
            Op::Create => schemas::create(kind),
            Op::Update => schemas::update(kind),
            Op::Patch => schemas::patch(kind),
            Op::Delete | Op::Archive => schemas::by_id_with_version(kind),
            Op::Process => schemas::process(kind),
        }
    }

    fn output_schema(self, kind: Kind) -> Arc<Map<String, Value>> {
        match self {
            Op::List => Arc::new(object(view::page_schema(kind))),
            Op::Delete => output_schema::<Deleted>(),
            _ => Arc::new(object(view::record_schema(kind))),
        }
    }
}

/// Turn a tool's answer into JSON without copying values that already are JSON.
trait IntoJson {
    fn into_json(self) -> serde_json::Result<Value>;
}

impl IntoJson for Value {
    fn into_json(self) -> serde_json::Result<Value> {
        Ok(self)
    }
}

impl IntoJson for crate::workspace::Page {
    fn into_json(self) -> serde_json::Result<Value> {
        let mut page = Map::new();
        page.insert("items".into(), Value::Array(self.items));
        if let Some(cursor) = self.next_cursor {
            page.insert("next_cursor".into(), Value::String(cursor));
        }
        Ok(Value::Object(page))
    }
}

macro_rules! serialized_json {
    ($($t:ty),*) => {$(
        impl IntoJson for $t {
            fn into_json(self) -> serde_json::Result<Value> {
                serde_json::to_value(self)
            }
        }
    )*};
}
serialized_json!(Deleted, SearchPage, Document);

/// Tool arguments as a JSON object (missing arguments are an empty object).
fn arguments(params: &CallToolRequestParams) -> Map<String, Value> {
    params.arguments.clone().unwrap_or_default()
}

fn text_arg(args: &Map<String, Value>, name: &str) -> String {
    args.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn int_arg(args: &Map<String, Value>, name: &str) -> Option<i64> {
    args.get(name).and_then(Value::as_i64)
}

/// A failed call as the caller should read it: an `isError` result with actionable text.
/// Store failures are logged with their cause and reported without it.
pub fn failure(error: &WorkspaceError) -> CallToolResult {
    if let WorkspaceError::Store(cause) = error {
        tracing::error!(error = %cause, "workspace store failed");
    }
    CallToolResult::error(vec![ContentBlock::text(error.to_string())])
}

/// A result as tool output. Records are already JSON values and move in as they are; typed
/// shapes (pages, search results, documents) are converted once.
fn answer<T: IntoJson>(result: Result<T, WorkspaceError>) -> Result<CallToolResponse, ErrorData> {
    let result = match result.map(IntoJson::into_json) {
        Ok(Ok(value)) => CallToolResult::structured(value),
        Ok(Err(e)) => CallToolResult::error(vec![ContentBlock::text(format!(
            "could not encode the result: {e}"
        ))]),
        Err(e) => failure(&e),
    };
    Ok(result.into())
}

async fn run(
    service: Arc<WorkspaceService>,
    kind: Kind,
    op: Op,
    params: CallToolRequestParams,
    cx: CallContext,
) -> Result<CallToolResponse, ErrorData> {
    let t = Tenant::of(&cx.principal);
    let mut args = arguments(&params);
    let id = text_arg(&args, "id");
    match op {
        Op::List => match ListRequest::from_arguments(args) {
            Ok(request) => answer(service.list(&t, kind, request).await),
            Err(e) => answer::<Value>(Err(e)),
        },
        Op::Get => answer(service.get(&t, kind, &id).await),
        Op::Create => answer(service.create(&t, kind, &Value::Object(args)).await),
        Op::Update => {
            let version = int_arg(&args, "version").unwrap_or(0);
            args.remove("id");
            args.remove("version");
            answer(
                service
                    .update(&t, kind, &id, version, &Value::Object(args))
                    .await,
            )
        }
        Op::Patch => {
            let version = int_arg(&args, "version").unwrap_or(0);
            let patch = args.remove("patch").unwrap_or(Value::Null);
            answer(service.patch(&t, kind, &id, version, &patch).await)
        }
        Op::Delete => answer(
            service
                .delete(&t, kind, &id, int_arg(&args, "version"))
                .await,
        ),
        Op::Archive => answer(
            service
                .archive(&t, kind, &id, int_arg(&args, "version"))
                .await,
        ),
        Op::Process => {
            let action = text_arg(&args, "action");
            answer(
                service
                    .process(&t, kind, &id, &action, int_arg(&args, "version"))
                    .await,
            )
        }
    }
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

impl Module for WorkspaceModule {
    fn name(&self) -> &'static str {
        "workspace"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let mut specs = Vec::new();
        for kind in Kind::ALL {
            for op in Op::ALL {
                if op.writes() && !self.write {
                    continue;
                }
                let tool = Tool::new(
                    op.tool(kind),
                    op.description(kind),
                    Arc::new(object(op.input_schema(kind, &self.service))),
                )
                .with_title(op.title(kind))
                .with_annotations(op.annotations())
                .with_raw_output_schema(op.output_schema(kind));
                let service = Arc::clone(&self.service);
                specs.push(ToolSpec::new(tool, move |params, cx| {
                    run(Arc::clone(&service), kind, op, params, cx)
                }));
            }
        }
        let limits = self.service.limits().clone();
        let search = Tool::new(
            "search",
            "Search your workspace's notes, tasks, comments, chats and chat messages by words, best matches first. Returns IDs, titles, links and snippets; read a whole record with `fetch`. Archived records are not searched.",
            Arc::new(object(schemas::search(&limits))),
        )
        .with_title(SEARCH_TITLE)
        .with_annotations(read_only())
        .with_raw_output_schema(output_schema::<SearchPage>());
        let fetch = Tool::new(
            "fetch",
            "Read one workspace record in full by the ID `search` returned: its title, text (a chat includes its messages) and metadata.",
            Arc::new(object(schemas::fetch())),
        )
        .with_title(FETCH_TITLE)
        .with_annotations(read_only())
        .with_raw_output_schema(output_schema::<Document>());
        let service = Arc::clone(&self.service);
        specs.push(ToolSpec::new(search, move |params, cx| {
            let service = Arc::clone(&service);
            async move {
                let t = Tenant::of(&cx.principal);
                let args = arguments(&params);
                let limit = int_arg(&args, "limit").and_then(|l| u32::try_from(l).ok());
                let cursor = args.get("cursor").and_then(Value::as_str);
                answer(
                    service
                        .search(&t, &text_arg(&args, "query"), limit, cursor)
                        .await,
                )
            }
        }));
        let service = Arc::clone(&self.service);
        specs.push(ToolSpec::new(fetch, move |params, cx| {
            let service = Arc::clone(&service);
            async move {
                let t = Tenant::of(&cx.principal);
                answer(
                    service
                        .fetch(&t, &text_arg(&arguments(&params), "id"))
                        .await,
                )
            }
        }));
        specs
    }
}

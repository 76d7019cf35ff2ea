//! What a module is: a named set of explicitly registered tools, and optionally resources,
//! prompts and completions. Nothing is exposed that a module did not register.

use std::sync::{Arc, Weak};

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CompleteRequestParams,
    CompleteResult, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
    Prompt, ReadResourceRequestParams, ReadResourceResponse, Resource, ResourceTemplate, Tool,
    UpdateTaskParams,
};

use super::CallContext;

/// What a source's changes are reported to (the catalog).
pub(crate) trait Refresh: Send + Sync {
    /// Rebuild from every source's current offer, and announce what changed.
    fn refresh(&self);
}

/// How a source tells the catalog its offer changed. Holds the catalog weakly: a source that
/// outlives it changes nothing. Call it after the change, never from inside the source's own
/// `tools()`/`resources()`/`prompts()` (the catalog is rebuilding then, and waits for itself).
#[derive(Clone)]
pub struct SourceChanges {
    catalog: Weak<dyn Refresh>,
}

impl SourceChanges {
    pub(crate) fn new(catalog: Weak<dyn Refresh>) -> Self {
        Self { catalog }
    }

    /// Rebuild the catalog from every source's current offer, and announce what changed.
    pub fn changed(&self) {
        if let Some(catalog) = self.catalog.upgrade() {
            catalog.refresh();
        }
    }
}

impl std::fmt::Debug for SourceChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceChanges")
    }
}

/// A boxed, sendable future.
pub type BoxFuture<T> = futures::future::BoxFuture<'static, T>;

/// The code behind one tool. `Err` is a protocol error (the request itself is unservable);
/// failures the caller should read are `Ok` results with `isError: true`.
pub type ToolHandler = Arc<
    dyn Fn(CallToolRequestParams, CallContext) -> BoxFuture<Result<CallToolResponse, ErrorData>>
        + Send
        + Sync,
>;

/// One registered tool: its description and its code.
#[derive(Clone)]
pub struct ToolSpec {
    /// What `tools/list` shows.
    pub tool: Tool,
    /// What `tools/call` runs.
    pub handler: ToolHandler,
}

impl ToolSpec {
    /// A tool from its description and an async function.
    pub fn new<F, Fut>(tool: Tool, f: F) -> Self
    where
        F: Fn(CallToolRequestParams, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResponse, ErrorData>> + Send + 'static,
    {
        Self {
            tool,
            handler: Arc::new(move |params, cx| Box::pin(f(params, cx))),
        }
    }
}

impl std::fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSpec")
            .field("name", &self.tool.name)
            .finish()
    }
}

/// A native module. Tools are required; resources, prompts and completions are optional. The
/// `Option`-returning methods answer `None` for a URI or name the module does not own, so the
/// handler can ask each module in turn.
#[allow(unused_variables)]
pub trait Module: Send + Sync + 'static {
    /// The module's name, as used in `MCPGATE_MODULES`: unique in the catalog.
    fn name(&self) -> &str;

    /// The module's tools now, in the order they are listed. The catalog asks again whenever
    /// the module reports a change.
    fn tools(self: Arc<Self>) -> Vec<ToolSpec>;

    /// Called once when the module joins a catalog: keep `changes` and call
    /// [`SourceChanges::changed`] when the tools, resources, templates or prompts offered
    /// change (never from inside one of these listing methods).
    fn attach(&self, changes: SourceChanges) {}

    /// Whether the module offers (or may come to offer) resources or templates: the server
    /// then advertises the resources capability.
    fn offers_resources(&self) -> bool {
        !self.resources().is_empty() || !self.resource_templates().is_empty()
    }

    /// Whether the module offers (or may come to offer) prompts: the server then advertises
    /// the prompts capability.
    fn offers_prompts(&self) -> bool {
        !self.prompts().is_empty()
    }

    /// Concrete resources.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    /// Resource templates.
    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        Vec::new()
    }

    /// Read a resource this module owns.
    fn read_resource(
        self: Arc<Self>,
        params: &ReadResourceRequestParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<ReadResourceResponse, ErrorData>>> {
        None
    }

    /// Prompts.
    fn prompts(&self) -> Vec<Prompt> {
        Vec::new()
    }

    /// Render a prompt this module owns.
    fn get_prompt(
        self: Arc<Self>,
        params: &GetPromptRequestParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetPromptResponse, ErrorData>>> {
        None
    }

    /// Whether the module answers `completion/complete`.
    fn provides_completions(&self) -> bool {
        false
    }

    /// Complete an argument of a prompt or resource template this module owns.
    fn complete(
        self: Arc<Self>,
        params: &CompleteRequestParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<CompleteResult, ErrorData>>> {
        None
    }

    /// Whether some of the module's tools may answer with a task (the
    /// `io.modelcontextprotocol/tasks` extension). The handler then advertises the extension
    /// and routes `tasks/get`, `tasks/update` and `tasks/cancel` to the modules.
    fn provides_tasks(&self) -> bool {
        false
    }

    /// `tasks/get` for a task this module created for the caller in `cx`. `None` for any other
    /// task id, so a task is invisible to everyone but its creator.
    fn get_task(
        self: Arc<Self>,
        params: &GetTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetTaskResult, ErrorData>>> {
        None
    }

    /// `tasks/update`: deliver input responses to a task this module created for the caller.
    fn update_task(
        self: Arc<Self>,
        params: &UpdateTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        None
    }

    /// `tasks/cancel`: ask a task this module created for the caller to stop.
    fn cancel_task(
        self: Arc<Self>,
        params: &CancelTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        None
    }
}

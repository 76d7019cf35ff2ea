//! What a module is: a named set of explicitly registered tools, and optionally resources,
//! prompts and completions. Nothing is exposed that a module did not register.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Prompt, ReadResourceRequestParams,
    ReadResourceResponse, Resource, ResourceTemplate, Tool,
};

use super::CallContext;

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
    /// The module's name, as used in `MCPGATE_MODULES`.
    fn name(&self) -> &'static str;

    /// The module's tools, in the order they are listed.
    fn tools(self: Arc<Self>) -> Vec<ToolSpec>;

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
}

//! Module `conformance`: the fixtures the official MCP conformance suite calls (tools, resources,
//! prompts, completions and multi-round input), so `mcpgate serve` can be checked against both
//! protocol eras. Off by default; enable it with `MCPGATE_MODULES=system,conformance`.
//!
//! The fixtures follow the names and payloads of the suite's reference "everything" server. Each
//! concern lives in its own file:
//! - [`content`]: tools that return fixed content (text, image, audio, resources, errors).
//! - [`notify`]: tools that emit log and progress notifications or announce list changes.
//! - [`interactive`]: tools that need the client's help (sampling, elicitation), asked through
//!   [`mcp::rounds`](crate::mcp::rounds) so they work in legacy sessions and over multi-round
//!   input alike; the questions themselves are built by [`questions`].
//! - [`mrtr`]: the `input_required` fixtures of the 2026-07-28 protocol.
//! - [`resources`] and [`prompts`]: the fixture resources, templates, prompts and completions.
//! - [`tasks`]: tools that answer with a task (the `io.modelcontextprotocol/tasks` extension),
//!   kept per creator in a [`TaskStore`].

pub mod content;
pub mod interactive;
pub mod mrtr;
pub mod notify;
pub mod prompts;
pub mod questions;
pub mod resources;
pub mod tasks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CompleteRequestParams,
    CompleteResult, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
    Prompt, ReadResourceRequestParams, ReadResourceResponse, Resource, ResourceTemplate, Tool,
    UpdateTaskParams,
};

use crate::mcp::rounds::{self, Exchange, Round, Step};
use crate::mcp::{BoxFuture, CallContext, Module, SourceChanges, StateSealer, TaskStore, ToolSpec};

/// The conformance fixture module.
#[derive(Debug)]
pub struct ConformanceModule {
    /// Seals and opens the `requestState` of multi-round fixtures.
    sealer: StateSealer,
    /// Whether the optional prompt that `test_trigger_prompt_change` toggles is listed.
    extra_prompt: AtomicBool,
    /// Whether the optional tool that `test_trigger_tool_change` toggles is listed.
    extra_tool: AtomicBool,
    /// How the module tells the catalog its offer changed.
    changes: OnceLock<SourceChanges>,
    /// Tasks started by the task fixtures.
    tasks: TaskStore,
}

impl Default for ConformanceModule {
    fn default() -> Self {
        Self::new()
    }
}

impl ConformanceModule {
    /// The module, with a fresh random request-state key.
    pub fn new() -> Self {
        Self {
            sealer: StateSealer::new(),
            extra_prompt: AtomicBool::new(false),
            extra_tool: AtomicBool::new(false),
            changes: OnceLock::new(),
            tasks: TaskStore::default(),
        }
    }

    /// The tasks started by the task fixtures.
    pub fn tasks(&self) -> &TaskStore {
        &self.tasks
    }

    /// The request-state sealer shared by the multi-round fixtures.
    pub fn sealer(&self) -> &StateSealer {
        &self.sealer
    }

    /// Add or remove the optional prompt; returns whether it is now listed. The catalog
    /// announces the change.
    pub fn toggle_extra_prompt(&self) -> bool {
        let listed = !self.extra_prompt.fetch_xor(true, Ordering::AcqRel);
        self.changed();
        listed
    }

    /// Add or remove the optional tool; returns whether it is now listed. The catalog
    /// announces the change.
    pub fn toggle_extra_tool(&self) -> bool {
        let listed = !self.extra_tool.fetch_xor(true, Ordering::AcqRel);
        self.changed();
        listed
    }

    /// Whether the optional tool is listed.
    pub fn has_extra_tool(&self) -> bool {
        self.extra_tool.load(Ordering::Acquire)
    }

    fn changed(&self) {
        if let Some(changes) = self.changes.get() {
            changes.changed();
        }
    }

    /// Whether the optional prompt is listed.
    pub fn has_extra_prompt(&self) -> bool {
        self.extra_prompt.load(Ordering::Acquire)
    }
}

/// A tool whose every call is driven by `decide` through [`rounds::drive`], with the module's
/// sealer.
fn driven_tool<T, F>(tool: Tool, module: Arc<ConformanceModule>, decide: F) -> ToolSpec
where
    T: Into<CallToolResponse> + Send + 'static,
    F: Fn(&CallToolRequestParams, &Exchange) -> Result<Step<T>, ErrorData> + Send + Sync + 'static,
{
    let decide = Arc::new(decide);
    ToolSpec::new(tool, move |params, cx| {
        let module = Arc::clone(&module);
        let decide = Arc::clone(&decide);
        async move {
            let round = Round::tool_call(&params);
            let outcome = rounds::drive(&cx, module.sealer(), round, |exchange| {
                decide(&params, exchange)
            })
            .await?;
            Ok(outcome.into_tool_response())
        }
    })
}

impl Module for ConformanceModule {
    fn name(&self) -> &'static str {
        "conformance"
    }

    fn attach(&self, changes: SourceChanges) {
        let _ = self.changes.set(changes);
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let mut tools = content::tools();
        tools.extend(notify::tools(Arc::clone(&self)));
        tools.extend(interactive::tools(Arc::clone(&self)));
        tools.extend(mrtr::tools(Arc::clone(&self)));
        tools.extend(tasks::tools(self));
        tools
    }

    fn resources(&self) -> Vec<Resource> {
        resources::list()
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        resources::templates()
    }

    fn read_resource(
        self: Arc<Self>,
        params: &ReadResourceRequestParams,
        _cx: CallContext,
    ) -> Option<BoxFuture<Result<ReadResourceResponse, ErrorData>>> {
        let result = resources::read(&params.uri)?;
        Some(Box::pin(async move { Ok(result.into()) }))
    }

    fn prompts(&self) -> Vec<Prompt> {
        prompts::list(self.has_extra_prompt())
    }

    fn get_prompt(
        self: Arc<Self>,
        params: &GetPromptRequestParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetPromptResponse, ErrorData>>> {
        prompts::get(self, params, cx)
    }

    fn provides_completions(&self) -> bool {
        true
    }

    fn complete(
        self: Arc<Self>,
        params: &CompleteRequestParams,
        _cx: CallContext,
    ) -> Option<BoxFuture<Result<CompleteResult, ErrorData>>> {
        let result = prompts::complete(params).or_else(|| resources::complete(params))?;
        Some(Box::pin(async move { result }))
    }

    fn provides_tasks(&self) -> bool {
        true
    }

    fn get_task(
        self: Arc<Self>,
        params: &GetTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<GetTaskResult, ErrorData>>> {
        let result = self.tasks.get(&params.task_id, &cx.principal)?;
        Some(Box::pin(async move { result }))
    }

    fn update_task(
        self: Arc<Self>,
        params: &UpdateTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        let responses = params.input_responses.clone();
        let result = self
            .tasks
            .update(&params.task_id, responses, &cx.principal)?;
        Some(Box::pin(async move { result }))
    }

    fn cancel_task(
        self: Arc<Self>,
        params: &CancelTaskParams,
        cx: CallContext,
    ) -> Option<BoxFuture<Result<(), ErrorData>>> {
        let result = self.tasks.cancel(&params.task_id, &cx.principal)?;
        Some(Box::pin(async move { result }))
    }
}

//! Which source answers a request that is not a tool call (resources, prompts, completions,
//! tasks), and the capabilities a server with a given set of sources announces.

use std::sync::Arc;

use rmcp::model::{
    CompleteRequestParams, Implementation, JsonObject, PromptsCapability, Reference,
    ResourcesCapability, ServerCapabilities, ServerConfig, TASKS_EXTENSION_ID, ToolsCapability,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};

use tracing::Instrument as _;

use super::{Handler, ServerIdentity, mcp_span, parent_span};
use crate::edge::Principal;
use crate::mcp::{BoxFuture, CallContext, Catalog, Module, Snapshot};

impl Handler {
    /// Ask the sources `owners` picks from the current snapshot, in order; the first that owns
    /// the request answers it, tracked for drain. `Ok(None)` when none does.
    pub(super) async fn route<T>(
        &self,
        method: &'static str,
        context: RequestContext<RoleServer>,
        owners: impl FnOnce(&Catalog, &Snapshot, &Principal) -> Vec<Arc<dyn Module>>,
        ask: impl Fn(Arc<dyn Module>, CallContext) -> Option<BoxFuture<Result<T, ErrorData>>>,
    ) -> Result<Option<T>, ErrorData> {
        self.shared.metrics.mcp_request(method);
        let principal = self.principal(&context)?;
        let catalog = &self.shared.catalog;
        let owners = owners(catalog, &catalog.snapshot(), &principal);
        let span = mcp_span(&parent_span(&context), method, &principal, &context);
        let cx = self.call_context(principal, context);
        for module in owners {
            if let Some(answer) = ask(module, cx.clone()) {
                return self
                    .shared
                    .lifecycle
                    .calls()
                    .track_future(answer)
                    .instrument(span)
                    .await
                    .map(Some);
            }
        }
        Ok(None)
    }
}

pub(super) fn server_config(
    identity: &ServerIdentity,
    modules: &[Arc<dyn Module>],
) -> ServerConfig {
    let mut caps = ServerCapabilities::default();
    let mut tools = ToolsCapability::default();
    tools.list_changed = Some(true);
    caps.tools = Some(tools);
    if modules.iter().any(|m| m.offers_resources()) {
        let mut resources = ResourcesCapability::default();
        resources.subscribe = Some(true);
        resources.list_changed = Some(true);
        caps.resources = Some(resources);
    }
    if modules.iter().any(|m| m.offers_prompts()) {
        let mut prompts = PromptsCapability::default();
        prompts.list_changed = Some(true);
        caps.prompts = Some(prompts);
    }
    if modules.iter().any(|m| m.provides_completions()) {
        caps.completions = Some(Default::default());
    }
    if modules.iter().any(|m| m.provides_tasks()) {
        caps.extensions
            .get_or_insert_with(Default::default)
            .insert(TASKS_EXTENSION_ID.to_owned(), JsonObject::new());
    }
    caps.logging = Some(Default::default());
    let mut info = ServerConfig::new(caps).with_server_info(Implementation::new(
        identity.name.clone(),
        identity.version.clone(),
    ));
    if let Some(text) = &identity.instructions {
        info = info.with_instructions(text.clone());
    }
    info
}

/// The sources that may own a task (a task id is private to its creator: each is asked).
pub(super) fn task_owners(_: &Catalog, snapshot: &Snapshot, _: &Principal) -> Vec<Arc<dyn Module>> {
    snapshot
        .sources
        .iter()
        .filter(|s| s.provides_tasks())
        .cloned()
        .collect()
}

/// The source of the prompt or resource template a completion is for, if the caller may see
/// it.
pub(super) fn completion_owner(
    catalog: &Catalog,
    snapshot: &Snapshot,
    principal: &Principal,
    request: &CompleteRequestParams,
) -> Vec<Arc<dyn Module>> {
    let owner = match &request.r#ref {
        Reference::Prompt(prompt) => catalog.prompt_source(snapshot, principal, &prompt.name),
        Reference::Resource(resource) => {
            catalog.template_source(snapshot, principal, &resource.uri)
        }
        _ => None,
    };
    owner.into_iter().collect()
}

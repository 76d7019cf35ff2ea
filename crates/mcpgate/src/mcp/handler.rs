//! The one `ServerHandler`: every MCP request from stdio or HTTP lands here. It resolves the
//! caller, looks the tool up in the catalog (answering "unknown" for tools the caller may not
//! see), validates arguments, runs the tool under the drain tracker, and records metrics
//! ([`call`]); other requests go to the source that owns them ([`routing`]).

#![allow(deprecated)] // Legacy logging and resource subscriptions are still served.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CancelTaskParams, CompleteRequestParams,
    CompleteResult, CustomRequest, CustomResult, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, GetTaskParams, GetTaskResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

mod call;
mod routing;

pub(crate) use call::rate_limited;

use super::context::is_modern;
use super::{CallContext, Catalog, EventBus, RequestSpan, SessionState, changes, unknown_task};
use crate::edge::Principal;
use crate::lifecycle::Lifecycle;
use crate::telemetry::{Metrics, ToolMetrics};
use routing::{completion_owner, server_config, task_owners};

/// How the server introduces itself.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// `serverInfo.name`.
    pub name: String,
    /// `serverInfo.version`.
    pub version: String,
    /// Optional instructions for the model.
    pub instructions: Option<String>,
}

struct Shared {
    catalog: Catalog,
    /// Where calls of unknown tools are counted (their names are caller-controlled, so they
    /// never become labels).
    unknown_tool: ToolMetrics,
    events: EventBus,
    metrics: Metrics,
    default_principal: Principal,
    info: ServerConfig,
    list_ttl: Duration,
    lifecycle: Lifecycle,
}

/// The MCP handler. Cheap to clone; [`Handler::for_new_session`] gives each legacy session (and
/// each stateless request) its own [`SessionState`] over the shared catalog.
#[derive(Clone)]
pub struct Handler {
    shared: Arc<Shared>,
    session: Arc<SessionState>,
}

/// What the handler is built from.
pub struct HandlerParts {
    /// What the server offers, live.
    pub catalog: Catalog,
    /// Change events.
    pub events: EventBus,
    /// Metrics registry.
    pub metrics: Metrics,
    /// The principal for callers that bring none (stdio).
    pub default_principal: Principal,
    /// Name, version, instructions.
    pub identity: ServerIdentity,
    /// How long clients may cache list results.
    pub list_ttl: Duration,
    /// In-flight calls (the drain waits for them) and the draining signal (listen streams and
    /// change forwarding end).
    pub lifecycle: Lifecycle,
}

impl Handler {
    /// Build the handler.
    pub fn new(parts: HandlerParts) -> Self {
        let info = server_config(&parts.identity, &parts.catalog.snapshot().sources);
        let unknown_tool = parts.metrics.tool("<unknown>");
        Self {
            shared: Arc::new(Shared {
                unknown_tool,
                catalog: parts.catalog,
                events: parts.events,
                metrics: parts.metrics,
                default_principal: parts.default_principal,
                info,
                list_ttl: parts.list_ttl,
                lifecycle: parts.lifecycle,
            }),
            session: Arc::default(),
        }
    }

    /// A handler for a new session: same catalog, fresh session state.
    pub fn for_new_session(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            session: Arc::default(),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    /// The caller of this request. Over HTTP the edge always inserts a principal into the
    /// request's parts; a request with parts but no principal is refused rather than run as the
    /// default principal. Over stdio there are no parts, and the configured principal applies.
    fn principal(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        match context.extensions.get::<http::request::Parts>() {
            Some(parts) => parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
                ErrorData::internal_error("request reached the handler unauthenticated", None)
            }),
            None => Ok(self.shared.default_principal.clone()),
        }
    }

    fn call_context(
        &self,
        principal: Principal,
        request: RequestContext<RoleServer>,
    ) -> CallContext {
        CallContext {
            principal,
            request,
            events: self.shared.events.clone(),
            session: Arc::clone(&self.session),
        }
    }

    fn request_id(context: &RequestContext<RoleServer>) -> String {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.headers.get("x-request-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| context.id.to_string())
    }

    /// Add cache hints (a 2026-07-28 field) for modern callers; legacy results stay as their
    /// protocol defines them.
    fn cache<T>(
        &self,
        context: &RequestContext<RoleServer>,
        result: T,
        set: impl FnOnce(T, u64, CacheScope) -> T,
    ) -> T {
        if !is_modern(context) {
            return result;
        }
        // Lists are filtered by the caller's role, so they must not be shared across callers.
        set(
            result,
            self.shared.list_ttl.as_millis() as u64,
            CacheScope::Private,
        )
    }
}

/// The span of one MCP request (exported spans only: a debug span, off without an exporter),
/// under `parent` (its HTTP request), or under the trace context in the request's `_meta`
/// (SEP-414), which wins; with the caller's subject and org, never a credential.
fn mcp_span(
    parent: &tracing::Span,
    method: &'static str,
    principal: &Principal,
    context: &RequestContext<RoleServer>,
) -> tracing::Span {
    let span = tracing::debug_span!(
        parent: parent,
        "mcp.request",
        method,
        subject = %principal.subject,
        org = %principal.org,
    );
    crate::telemetry::continue_trace(&span, &|name| {
        context.meta.get(name)?.as_str().map(str::to_owned)
    });
    span
}

/// The span an MCP request's own span goes under: the current one, or the HTTP request's that
/// a legacy session's request brings along.
fn parent_span(context: &RequestContext<RoleServer>) -> tracing::Span {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestSpan>())
        .map_or_else(tracing::Span::current, |RequestSpan(span)| span.clone())
}

/// The span of a list request, entered for its (synchronous) work.
fn list_span(
    method: &'static str,
    principal: &Principal,
    context: &RequestContext<RoleServer>,
) -> tracing::span::EnteredSpan {
    mcp_span(&parent_span(context), method, principal, context).entered()
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared.catalog.snapshot().tool(name).cloned()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.shared.metrics.mcp_request("tools/list");
        let principal = self.principal(&context)?;
        let _span = list_span("tools/list", &principal, &context);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (tools, next) = self
            .shared
            .catalog
            .tools_page(&principal, cursor)
            .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(self.cache(&context, result, |r, ttl, scope| {
            r.with_ttl_ms(ttl).with_cache_scope(scope)
        }))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, context).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.shared.metrics.mcp_request("resources/list");
        let principal = self.principal(&context)?;
        let _span = list_span("resources/list", &principal, &context);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (items, next) = self
            .shared
            .catalog
            .resources_page(&principal, cursor)
            .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(self.cache(&context, result, |r, ttl, scope| {
            r.with_ttl_ms(ttl).with_cache_scope(scope)
        }))
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.shared.metrics.mcp_request("resources/templates/list");
        let principal = self.principal(&context)?;
        let _span = list_span("resources/templates/list", &principal, &context);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (items, next) = self
            .shared
            .catalog
            .templates_page(&principal, cursor)
            .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(self.cache(&context, result, |r, ttl, scope| {
            r.with_ttl_ms(ttl).with_cache_scope(scope)
        }))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let answer = self
            .route(
                "resources/read",
                context,
                |catalog, snapshot, principal| {
                    let owner = catalog.resource_source(snapshot, principal, &request.uri);
                    owner.into_iter().collect()
                },
                |module, cx| module.read_resource(&request, cx),
            )
            .await?;
        answer.ok_or_else(|| {
            ErrorData::resource_not_found(
                format!("Resource not found: {}", request.uri),
                Some(serde_json::json!({ "uri": request.uri })),
            )
        })
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.shared.metrics.mcp_request("prompts/list");
        let principal = self.principal(&context)?;
        let _span = list_span("prompts/list", &principal, &context);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (items, next) = self
            .shared
            .catalog
            .prompts_page(&principal, cursor)
            .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(self.cache(&context, result, |r, ttl, scope| {
            r.with_ttl_ms(ttl).with_cache_scope(scope)
        }))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let answer = self
            .route(
                "prompts/get",
                context,
                |catalog, snapshot, principal| {
                    let owner = catalog.prompt_source(snapshot, principal, &request.name);
                    owner.into_iter().collect()
                },
                |module, cx| module.get_prompt(&request, cx),
            )
            .await?;
        answer.ok_or_else(|| {
            ErrorData::invalid_params(
                format!("Unknown prompt: {}", request.name),
                Some(serde_json::json!({ "prompt": request.name })),
            )
        })
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let answer = self
            .route(
                "completion/complete",
                context,
                |catalog, snapshot, principal| {
                    completion_owner(catalog, snapshot, principal, &request)
                },
                |module, cx| module.complete(&request, cx),
            )
            .await?;
        Ok(answer.unwrap_or_default())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared.metrics.mcp_request("logging/setLevel");
        self.principal(&context)?;
        self.session.set_log_level(request.level);
        Ok(())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared.metrics.mcp_request("resources/subscribe");
        self.principal(&context)?;
        self.session.subscribe(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared.metrics.mcp_request("resources/unsubscribe");
        self.principal(&context)?;
        self.session.unsubscribe(&request.uri);
        Ok(())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let answer = self
            .route("tasks/get", context, task_owners, |module, cx| {
                module.get_task(&request, cx)
            })
            .await?;
        answer.ok_or_else(|| unknown_task(&request.task_id))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let answer = self
            .route("tasks/update", context, task_owners, |module, cx| {
                module.update_task(&request, cx)
            })
            .await?;
        answer.ok_or_else(|| unknown_task(&request.task_id))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let answer = self
            .route("tasks/cancel", context, task_owners, |module, cx| {
                module.cancel_task(&request, cx)
            })
            .await?;
        answer.ok_or_else(|| unknown_task(&request.task_id))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.shared.metrics.mcp_request("subscriptions/listen");
        self.principal(context.request_context())?;
        changes::forward_to_listener(
            &self.shared.events,
            &context,
            self.shared.lifecycle.draining(),
        )
        .await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // A legacy session is live: it hears about changes until it ends or the server drains.
        let forward = changes::forward_to_session(
            self.shared.events.subscribe(),
            context.peer,
            Arc::downgrade(&self.session),
            self.session.closed(),
            self.shared.lifecycle.draining().clone(),
        );
        self.shared.lifecycle.calls().spawn(forward);
    }

    /// What rmcp could not read as a request it knows: a standard method whose params are
    /// malformed (over stdio; HTTP refuses those before rmcp) is -32602 saying why, anything
    /// else an unknown method.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let raw = request
            .params
            .as_ref()
            .and_then(|params| serde_json::value::to_raw_value(params).ok());
        if let Some((code, problem)) = super::params::typed_params(&request.method, raw.as_deref())
        {
            return Err(ErrorData::new(
                ErrorCode(i32::try_from(code).unwrap_or(ErrorCode::INVALID_PARAMS.0)),
                format!("Invalid params for {}: {problem}", request.method),
                None,
            ));
        }
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {}", request.method),
            None,
        ))
    }
}

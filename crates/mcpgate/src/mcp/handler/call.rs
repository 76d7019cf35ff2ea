//! `tools/call`: the caller is authorized by the catalog's one decision (a tool it may not use
//! is answered as unknown), arguments are validated against the tool's schema, the tool runs
//! under the drain tracker in a span with the request id (its HTTP request's when there is
//! one), and its outcome is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use tracing::Instrument;

use super::Handler;
use super::mcp_span;
use crate::edge::Decision;
use crate::mcp::context::is_modern;
use crate::mcp::{Refused, RequestSpan};
use crate::telemetry::ToolOutcome;

impl Handler {
    /// `tools/call`: authorize, validate, run under the drain tracker, record.
    pub(super) async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.shared.metrics.mcp_request("tools/call");
        let principal = self.principal(&context)?;
        let name = request.name.to_string();
        let started = Instant::now();
        let granted = match self.shared.catalog.authorize(&principal, &name).await {
            Ok(granted) => granted,
            Err(Refused::Limited(decision)) => {
                if let Some(entry) = self.shared.catalog.snapshot().entry(&name) {
                    entry
                        .metrics
                        .record(ToolOutcome::ProtocolError, started.elapsed());
                }
                return Err(rate_limited(&name, &decision));
            }
            // Unknown, switched off, or withheld from this caller: all look the same, so a
            // caller learns nothing about tools it may not use.
            Err(Refused::Unknown | Refused::Disabled | Refused::Denied { .. }) => {
                self.shared
                    .unknown_tool
                    .record(ToolOutcome::ProtocolError, Duration::ZERO);
                return Err(ErrorData::invalid_params(
                    format!("Unknown tool: {name}"),
                    Some(serde_json::json!({ "tool": name })),
                ));
            }
        };
        let entry = granted.entry();
        let tool_metrics = &entry.metrics;
        // Validate in place: the arguments move into a JSON value and back, never copied.
        let mut request = request;
        let arguments = serde_json::Value::Object(request.arguments.take().unwrap_or_default());
        let checked = entry.validate(&arguments);
        if let serde_json::Value::Object(map) = arguments {
            request.arguments = Some(map);
        }
        if let Err(message) = checked {
            tool_metrics.record(ToolOutcome::InvalidArguments, started.elapsed());
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        // A stateless HTTP request is served inside its request span, which already carries the
        // request id; a legacy session's call runs in the session's task, under the span its
        // request brought along; stdio gets a span here.
        let parts = context.extensions.get::<http::request::Parts>();
        let carried = parts.and_then(|parts| parts.extensions.get::<RequestSpan>());
        let span = match (parts, carried) {
            (Some(_), _) if is_modern(&context) => tracing::Span::current(),
            (_, Some(RequestSpan(span))) => span.clone(),
            _ => tracing::info_span!(
                "tool_call",
                tool = %name,
                request_id = %Self::request_id(&context),
            ),
        };
        // Exported spans only (debug spans, off without an exporter): the MCP request and the
        // tool under it.
        let mcp = mcp_span(&span, "tools/call", &principal, &context);
        let tool_span = tracing::debug_span!(parent: &mcp, "tool", tool = %name);
        let subject = Arc::clone(&principal.subject);
        let cx = self.call_context(principal, context);
        // The source knows the tool by its own name (a prefixed source's tool is listed as
        // `prefix` + that name).
        if *entry.offered_as != *request.name {
            request.name = entry.offered_as.to_string().into();
        }
        let call = (entry.spec.handler)(request, cx);
        let result = self
            .shared
            .lifecycle
            .calls()
            .track_future(call)
            .instrument(tool_span)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => ToolOutcome::ToolError,
            Ok(_) => ToolOutcome::Ok,
            Err(_) => ToolOutcome::ProtocolError,
        };
        let elapsed = started.elapsed();
        tool_metrics.record(outcome, elapsed);
        span.in_scope(|| {
            tracing::debug!(
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                ?outcome,
                tool = %name,
                subject = %subject,
                "tool call finished"
            );
        });
        result
    }
}

/// JSON-RPC error code of a tool call refused by its rate limit (in the implementation range).
pub const RATE_LIMITED: i32 = -32010;

/// The error of a rate-limited tool call: when to retry, in seconds and milliseconds. A
/// degraded refusal (the shared limiter could not decide and its failure policy refuses) is an
/// internal error instead: the caller is not over any rate, the server has an outage.
pub(crate) fn rate_limited(tool: &str, decision: &Decision) -> ErrorData {
    let retry = decision
        .retry_after
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(1));
    let (code, message) = if decision.degraded {
        (
            rmcp::model::ErrorCode::INTERNAL_ERROR,
            format!("rate limits cannot be checked right now for tool {tool}; retry in"),
        )
    } else {
        (
            rmcp::model::ErrorCode(RATE_LIMITED),
            format!("rate limit exceeded for tool {tool}; retry in"),
        )
    };
    ErrorData::new(
        code,
        format!("{message} {} s", retry.as_secs_f64().ceil()),
        Some(serde_json::json!({
            "tool": tool,
            "retryAfterSeconds": retry.as_secs_f64().ceil() as u64,
            "retryAfterMs": retry.as_millis() as u64,
            "limit": decision.limit,
        })),
    )
}

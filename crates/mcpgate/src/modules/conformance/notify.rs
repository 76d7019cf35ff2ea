//! Tools that talk while they work or announce changes: log messages (gated by the level the
//! client asked for), progress against the request's token, and list-change triggers for
//! `subscriptions/listen` streams and legacy sessions.

#![allow(deprecated)] // Logging is deprecated in 2026-07-28 but still served to clients that ask.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, LoggingLevel, Tool, ToolAnnotations};
use serde_json::json;

use super::ConformanceModule;
use super::content::read_only;
use crate::mcp::{CallContext, ToolSpec};
use crate::modules::no_arguments;

/// The tool `test_trigger_tool_change` adds and removes.
pub const DYNAMIC_TOOL: &str = "test_dynamic_tool";

/// The logger name on every fixture log message.
const LOGGER: &str = "conformance";

/// The pause between notifications, so clients see them arrive one by one.
const STEP: Duration = Duration::from_millis(50);

/// Wait one [`STEP`]; `false` if the request was cancelled meanwhile.
async fn pause(cx: &CallContext) -> bool {
    tokio::select! {
        () = tokio::time::sleep(STEP) => true,
        () = cx.request.ct.cancelled() => false,
    }
}

fn cancelled() -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text("cancelled")])
}

fn text(message: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message)])
}

/// The notification fixtures, in listing order.
pub fn tools(module: Arc<ConformanceModule>) -> Vec<ToolSpec> {
    let with_logging = Tool::new(
        "test_tool_with_logging",
        "Send three info log messages while running.",
        no_arguments(),
    )
    .with_annotations(read_only());
    let logging = Tool::new(
        "test_logging_tool",
        "Log at debug, info, warning and error; only levels the client asked for are sent, and \
         nothing at all if it asked for no log messages.",
        no_arguments(),
    )
    .with_annotations(read_only());
    let progress = Tool::new(
        "test_tool_with_progress",
        "Report progress 0, 50 and 100 of 100 against the request's progress token.",
        no_arguments(),
    )
    .with_annotations(read_only());
    let tool_change = Tool::new(
        "test_trigger_tool_change",
        "Add or remove the tool test_dynamic_tool; the tool-list change reaches every listener.",
        no_arguments(),
    )
    .with_annotations(ToolAnnotations::new().read_only(false).destructive(false));
    let prompt_change = Tool::new(
        "test_trigger_prompt_change",
        "Add or remove the prompt test_dynamic_prompt; the prompt-list change reaches every \
         listener.",
        no_arguments(),
    )
    .with_annotations(ToolAnnotations::new().read_only(false).destructive(false));

    let dynamic = module.has_extra_tool().then(|| {
        let tool = Tool::new(
            DYNAMIC_TOOL,
            "Listed only while test_trigger_tool_change has added it.",
            no_arguments(),
        )
        .with_annotations(read_only());
        ToolSpec::new(tool, |_, _| async {
            Ok(text("test_dynamic_tool is here").into())
        })
    });
    let tool_module = Arc::clone(&module);
    let mut tools = vec![
        ToolSpec::new(with_logging, |_, cx| async move {
            let messages = [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ];
            for (i, message) in messages.into_iter().enumerate() {
                if i > 0 && !pause(&cx).await {
                    return Ok(cancelled().into());
                }
                cx.log(LoggingLevel::Info, LOGGER, json!(message)).await;
            }
            Ok(text("Tool with logging executed successfully").into())
        }),
        ToolSpec::new(logging, |_, cx| async move {
            for (level, message) in [
                (LoggingLevel::Debug, "debug detail"),
                (LoggingLevel::Info, "informational message"),
                (LoggingLevel::Warning, "warning message"),
                (LoggingLevel::Error, "error message"),
            ] {
                cx.log(level, LOGGER, json!(message)).await;
            }
            Ok(text("Logging tool finished").into())
        }),
        ToolSpec::new(progress, |_, cx| async move {
            for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                if i > 0 && !pause(&cx).await {
                    return Ok(cancelled().into());
                }
                let message = format!("Completed step {step} of 100");
                cx.progress(step, Some(100.0), Some(message)).await;
            }
            Ok(text("Progress test completed").into())
        }),
        ToolSpec::new(tool_change, move |_, _| {
            let listed = tool_module.toggle_extra_tool();
            async move {
                let state = if listed { "added" } else { "removed" };
                Ok(text(format!("{DYNAMIC_TOOL} {state}")).into())
            }
        }),
        ToolSpec::new(prompt_change, move |_, _| {
            let listed = module.toggle_extra_prompt();
            async move {
                let state = if listed { "added" } else { "removed" };
                Ok(text(format!("test_dynamic_prompt {state}")).into())
            }
        }),
    ];
    tools.extend(dynamic);
    tools
}

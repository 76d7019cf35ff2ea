//! Task fixtures for the `io.modelcontextprotocol/tasks` extension: tools that answer with a
//! task the client polls (`tasks/get`), feeds (`tasks/update`) and cancels (`tasks/cancel`).
//!
//! Tasks live in the module's [`TaskStore`](crate::mcp::TaskStore), bound to their
//! creator. A task is only created for a request whose client declared the extension;
//! otherwise task-optional tools run synchronously (asking for input through `input_required`
//! if they need it) and task-only tools fail with `-32021`.

use std::sync::Arc;
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ContentBlock, ElicitResult,
    ElicitationAction, InputRequest, Tool, ToolAnnotations,
};
use rmcp::task_manager::{TaskContext, TaskExit, TaskFuture};
use serde_json::{Value, json};

use super::ConformanceModule;
use super::questions;
use crate::mcp::rounds::{self, Exchange, Outcome, Round, Step};
use crate::mcp::{CallContext, ToolSpec};
use crate::modules::{no_arguments, object};

/// The longest `slow_compute` may run.
const MAX_SECONDS: u64 = 300;

/// Whether this request's client declared the tasks extension.
fn tasks_declared(cx: &CallContext) -> bool {
    cx.request
        .client_capabilities()
        .is_some_and(|c| c.supports_tasks())
}

/// The refusal of a task-only tool for a client without the tasks extension.
fn tasks_required() -> ErrorData {
    ErrorData::missing_required_client_capability(
        ClientCapabilities::builder().enable_tasks().build(),
    )
}

fn text(message: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message)])
}

/// A string argument, or `default` (the catalog has already checked the schema).
fn string_argument(params: &CallToolRequestParams, name: &str, default: &str) -> String {
    params
        .arguments
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_owned()
}

/// Ask whether to go ahead, under the form field `confirm`.
fn ask_confirmation(message: &str) -> Result<InputRequest, ErrorData> {
    questions::elicitation(
        message,
        json!({
            "type": "object",
            "properties": {"confirm": {"type": "boolean"}},
            "required": ["confirm"]
        }),
    )
}

fn ask_name() -> Result<InputRequest, ErrorData> {
    questions::elicitation(
        "What is your name?",
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
    )
}

/// Whether an elicitation answer accepted with `confirm: true`.
fn confirmed(answer: &ElicitResult) -> bool {
    answer.action == ElicitationAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|c| c.get("confirm"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

/// The `name` field of an elicitation answer, if the user gave one.
fn answered_name(answer: &ElicitResult) -> Option<String> {
    let name = answer.content.as_ref()?.get("name")?.as_str()?;
    Some(name.to_owned())
}

/// Decode a `tasks/update` answer as an elicitation result.
fn elicit_answer(value: Value) -> Result<ElicitResult, TaskExit> {
    serde_json::from_value(value).map_err(|e| {
        TaskExit::Error(ErrorData::invalid_params(
            format!("the input response is not an elicitation result: {e}"),
            None,
        ))
    })
}

fn deletion_outcome(filename: &str, confirmed: bool) -> CallToolResult {
    text(if confirmed {
        format!("Deleted {filename} (simulated)")
    } else {
        format!("Kept {filename}")
    })
}

/// The task fixtures, in listing order.
pub fn tools(module: Arc<ConformanceModule>) -> Vec<ToolSpec> {
    vec![
        greet(),
        slow_compute(Arc::clone(&module)),
        failing_job(Arc::clone(&module)),
        protocol_error_job(Arc::clone(&module)),
        confirm_delete(Arc::clone(&module)),
        multi_input(Arc::clone(&module)),
        tool_with_task(module),
    ]
}

fn greet() -> ToolSpec {
    let schema = object(json!({
        "type": "object",
        "properties": {"name": {"type": "string", "description": "Who to greet"}},
        "required": ["name"]
    }));
    let tool = Tool::new(
        "greet",
        "Greet someone, synchronously (never a task).",
        Arc::new(schema),
    )
    .with_annotations(super::content::read_only());
    ToolSpec::new(tool, |params, _| async move {
        let name = string_argument(&params, "name", "world");
        Ok(text(format!("Hello, {name}!")).into())
    })
}

fn slow_compute(module: Arc<ConformanceModule>) -> ToolSpec {
    let schema = object(json!({
        "type": "object",
        "properties": {
            "seconds": {"type": "integer", "minimum": 0, "maximum": MAX_SECONDS, "description": "How long to work"},
            "label": {"type": "string", "description": "A label echoed in the result"}
        },
        "required": ["seconds"]
    }));
    let tool = Tool::new(
        "slow_compute",
        "Work for the given number of seconds. Runs as a task when the client supports tasks \
         (cancellable with tasks/cancel), otherwise synchronously.",
        Arc::new(schema),
    )
    .with_annotations(ToolAnnotations::new().read_only(true).destructive(false));
    ToolSpec::new(tool, move |params, cx| {
        let module = Arc::clone(&module);
        async move {
            let seconds = params
                .arguments
                .as_ref()
                .and_then(|a| a.get("seconds"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(MAX_SECONDS);
            let label = string_argument(&params, "label", "job");
            let done = format!("Computed {label} in {seconds}s");
            let work = Duration::from_secs(seconds);
            if !tasks_declared(&cx) {
                tokio::select! {
                    () = tokio::time::sleep(work) => {}
                    () = cx.request.ct.cancelled() => {
                        return Err(ErrorData::internal_error("the request was cancelled", None));
                    }
                }
                return Ok(text(done).into());
            }
            let created = module.tasks().spawn(&cx.principal, move |task| {
                Box::pin(async move {
                    tokio::select! {
                        () = tokio::time::sleep(work) => Ok(text(done)),
                        () = task.cancelled() => Err(TaskExit::Cancelled),
                    }
                })
            });
            Ok(created.into())
        }
    })
}

fn failing_job(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "failing_job",
        "A task-only job that finishes after about a second with a tool error (isError). \
         Requires the tasks extension.",
        no_arguments(),
    );
    task_only(module, tool, |_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(CallToolResult::error(vec![ContentBlock::text(
                "The job failed (as it always does)",
            )]))
        })
    })
}

fn protocol_error_job(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "protocol_error_job",
        "A task-only job that ends with a protocol-level error, so the task settles as failed. \
         Requires the tasks extension.",
        no_arguments(),
    );
    task_only(module, tool, |_| {
        Box::pin(async {
            Err(TaskExit::Error(ErrorData::internal_error(
                "the job hit an internal error",
                None,
            )))
        })
    })
}

/// A tool that only runs as a task: refused unless the request declared the tasks extension,
/// otherwise `work` runs as a task owned by the caller.
fn task_only(
    module: Arc<ConformanceModule>,
    tool: Tool,
    work: fn(TaskContext) -> TaskFuture,
) -> ToolSpec {
    ToolSpec::new(tool, move |_, cx| {
        let module = Arc::clone(&module);
        async move {
            if !tasks_declared(&cx) {
                return Err(tasks_required());
            }
            Ok(module.tasks().spawn(&cx.principal, work).into())
        }
    })
}

fn confirm_delete(module: Arc<ConformanceModule>) -> ToolSpec {
    let schema = object(json!({
        "type": "object",
        "properties": {"filename": {"type": "string", "description": "The file to delete"}},
        "required": ["filename"]
    }));
    let tool = Tool::new(
        "confirm_delete",
        "Pretend to delete a file after the user confirms. As a task it waits in input_required \
         for tasks/update; without tasks it asks through input_required results.",
        Arc::new(schema),
    )
    .with_annotations(ToolAnnotations::new().read_only(true).destructive(false));
    ToolSpec::new(tool, move |params, cx| {
        let module = Arc::clone(&module);
        async move {
            let filename = string_argument(&params, "filename", "file");
            let question = ask_confirmation(&format!("Delete {filename}?"))?;
            if !tasks_declared(&cx) {
                let decide = |exchange: &Exchange| match exchange.elicited("confirm")? {
                    Some(answer) => Ok(Step::Done(deletion_outcome(&filename, confirmed(&answer)))),
                    None => Ok(Step::ask([("confirm", question.clone())])),
                };
                let outcome =
                    rounds::drive(&cx, module.sealer(), Round::tool_call(&params), decide);
                return Ok(outcome.await?.into_tool_response());
            }
            if cx
                .request
                .client_capabilities()
                .is_none_or(|c| c.elicitation.is_none())
            {
                return Err(ErrorData::missing_required_client_capability(
                    ClientCapabilities::builder().enable_elicitation().build(),
                ));
            }
            let created = module.tasks().spawn(&cx.principal, move |task| {
                Box::pin(async move {
                    let answer = elicit_answer(task.request_input("confirm", question).await?)?;
                    Ok(deletion_outcome(&filename, confirmed(&answer)))
                })
            });
            Ok(created.into())
        }
    })
}

fn multi_input(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "multi_input",
        "Ask for a name and a confirmation at the same time. As a task both questions are \
         pending together and may be answered one tasks/update at a time.",
        no_arguments(),
    );
    ToolSpec::new(tool, move |params, cx| {
        let module = Arc::clone(&module);
        async move {
            let name_question = ask_name()?;
            let confirm_question = ask_confirmation("Proceed?")?;
            let finish = |name: Option<String>, go: bool| {
                let name = name.unwrap_or_else(|| "anonymous".to_owned());
                text(format!("name={name}, confirmed={go}"))
            };
            if !tasks_declared(&cx) {
                let decide = |exchange: &Exchange| match (
                    exchange.elicited("name")?,
                    exchange.elicited("confirm")?,
                ) {
                    (Some(name), Some(go)) => {
                        Ok(Step::Done(finish(answered_name(&name), confirmed(&go))))
                    }
                    _ => Ok(Step::ask([
                        ("name", name_question.clone()),
                        ("confirm", confirm_question.clone()),
                    ])),
                };
                let outcome =
                    rounds::drive(&cx, module.sealer(), Round::tool_call(&params), decide);
                return Ok(outcome.await?.into_tool_response());
            }
            let created = module.tasks().spawn(&cx.principal, move |task| {
                Box::pin(async move {
                    let (name, go) = tokio::join!(
                        task.request_input("name", name_question),
                        task.request_input("confirm", confirm_question),
                    );
                    let name = elicit_answer(name?)?;
                    let go = elicit_answer(go?)?;
                    Ok(finish(answered_name(&name), confirmed(&go)))
                })
            });
            Ok(created.into())
        }
    })
}

fn tool_with_task(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "test_tool_with_task",
        "Ask the user's name through input_required, then finish the work as a task whose \
         result greets them. Requires the tasks extension.",
        no_arguments(),
    );
    ToolSpec::new(tool, move |params, cx| {
        let module = Arc::clone(&module);
        async move {
            if !tasks_declared(&cx) {
                return Err(tasks_required());
            }
            let decide = |exchange: &Exchange| match exchange.elicited("user_name")? {
                Some(answer) => Ok(Step::Done(
                    answered_name(&answer).unwrap_or_else(|| "friend".to_owned()),
                )),
                None => Ok(Step::ask([("user_name", ask_name()?)])),
            };
            let round = Round::tool_call(&params);
            match rounds::drive(&cx, module.sealer(), round, decide).await? {
                Outcome::InputRequired(questions) => Ok(questions.into()),
                Outcome::Done(name) => {
                    let created = module.tasks().spawn(&cx.principal, move |_| {
                        Box::pin(async move {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Ok(text(format!("Hello, {name}! (finished as a task)")))
                        })
                    });
                    Ok(created.into())
                }
            }
        }
    })
}

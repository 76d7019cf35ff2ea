//! The fixture prompts: a simple one, one with arguments (and completions for them), one with
//! an embedded resource, one with an image, one that needs the user's input first
//! (`input_required`), and one that `test_trigger_prompt_change` adds and removes.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage,
    Reference, Role,
};
use serde_json::json;

use super::ConformanceModule;
use super::content::TEST_IMAGE_PNG;
use super::questions;
use crate::mcp::rounds::{self, Exchange, Round, Step};
use crate::mcp::{BoxFuture, CallContext};

const SIMPLE: &str = "test_simple_prompt";
const WITH_ARGUMENTS: &str = "test_prompt_with_arguments";
const EMBEDDED_RESOURCE: &str = "test_prompt_with_embedded_resource";
const WITH_IMAGE: &str = "test_prompt_with_image";
const INPUT_REQUIRED: &str = "test_input_required_result_prompt";
/// Listed only while toggled on by `test_trigger_prompt_change`.
const DYNAMIC: &str = "test_dynamic_prompt";

/// Completion candidates per argument of [`WITH_ARGUMENTS`].
const ARG1_VALUES: &[&str] = &["alpha", "beta", "gamma", "testValue1"];
const ARG2_VALUES: &[&str] = &["delta", "epsilon", "testValue2"];

fn argument(name: &str, description: &str, required: bool) -> PromptArgument {
    PromptArgument::new(name)
        .with_description(description)
        .with_required(required)
}

/// The prompts, in listing order; `extra` adds the toggled prompt.
pub fn list(extra: bool) -> Vec<Prompt> {
    let mut prompts = vec![
        Prompt::new(SIMPLE, Some("A simple prompt without arguments"), None),
        Prompt::new(
            WITH_ARGUMENTS,
            Some("A prompt that substitutes its arguments"),
            Some(vec![
                argument("arg1", "First test argument", true),
                argument("arg2", "Second test argument", false),
            ]),
        ),
        Prompt::new(
            EMBEDDED_RESOURCE,
            Some("A prompt that embeds the resource it is given"),
            Some(vec![argument(
                "resourceUri",
                "URI of the resource to embed",
                true,
            )]),
        ),
        Prompt::new(WITH_IMAGE, Some("A prompt that includes an image"), None),
        Prompt::new(
            INPUT_REQUIRED,
            Some("A prompt that first asks the user for context (input_required)"),
            None,
        ),
    ];
    if extra {
        prompts.push(Prompt::new(
            DYNAMIC,
            Some("A prompt added by test_trigger_prompt_change"),
            None,
        ));
    }
    prompts
}

/// Render the prompt `params.name`, or `None` when it is not one of ours (or is toggled off).
pub fn get(
    module: Arc<ConformanceModule>,
    params: &GetPromptRequestParams,
    cx: CallContext,
) -> Option<BoxFuture<Result<GetPromptResponse, ErrorData>>> {
    if params.name == INPUT_REQUIRED {
        let params = params.clone();
        return Some(Box::pin(async move {
            let round = Round::prompt_get(&params);
            let outcome = rounds::drive(&cx, module.sealer(), round, ask_context).await?;
            Ok(outcome.into())
        }));
    }
    if params.name == DYNAMIC && !module.has_extra_prompt() {
        return None;
    }
    let result = render(&params.name, params.arguments.as_ref())?;
    Some(Box::pin(async move { result.map(Into::into) }))
}

/// A required string argument, or an invalid-params error naming it.
fn required<'a>(arguments: Option<&'a JsonObject>, name: &str) -> Result<&'a str, ErrorData> {
    arguments
        .and_then(|a| a.get(name))
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            ErrorData::invalid_params(
                format!("missing string argument {name:?}"),
                Some(json!({ "argument": name })),
            )
        })
}

fn optional<'a>(arguments: Option<&'a JsonObject>, name: &str) -> &'a str {
    arguments
        .and_then(|a| a.get(name))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

/// The messages of a prompt that needs no input, or `None` for a name that is not ours.
fn render(
    name: &str,
    arguments: Option<&JsonObject>,
) -> Option<Result<GetPromptResult, ErrorData>> {
    let user = |text: String| PromptMessage::new_text(Role::User, text);
    let result = match name {
        SIMPLE => Ok(GetPromptResult::new(vec![user(
            "This is a simple prompt for testing.".into(),
        )])),
        WITH_ARGUMENTS => required(arguments, "arg1").map(|arg1| {
            let arg2 = optional(arguments, "arg2");
            GetPromptResult::new(vec![user(format!(
                "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
            ))])
        }),
        EMBEDDED_RESOURCE => required(arguments, "resourceUri").map(|uri| {
            GetPromptResult::new(vec![
                PromptMessage::new_resource(
                    Role::User,
                    uri.to_owned(),
                    Some("text/plain".into()),
                    Some("Embedded resource content for testing.".into()),
                    None,
                    None,
                    None,
                ),
                user("Please process the embedded resource above.".into()),
            ])
        }),
        WITH_IMAGE => Ok(GetPromptResult::new(vec![
            PromptMessage::new(Role::User, ContentBlock::image(TEST_IMAGE_PNG, "image/png")),
            user("Please analyze the image above.".into()),
        ])),
        DYNAMIC => Ok(GetPromptResult::new(vec![user(
            "This prompt is listed while test_trigger_prompt_change has it switched on.".into(),
        )])),
        _ => return None,
    };
    Some(result)
}

/// The `input_required` prompt: ask for context under `user_context`, then render with it.
fn ask_context(exchange: &Exchange) -> Result<Step<GetPromptResult>, ErrorData> {
    let context = exchange.elicited("user_context")?.and_then(|answer| {
        answer
            .content
            .as_ref()?
            .get("context")?
            .as_str()
            .map(str::to_owned)
    });
    match context {
        Some(context) => Ok(Step::Done(
            GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("Answer using this context: {context}"),
            )])
            .with_description("A prompt rendered with user-supplied context"),
        )),
        None => Ok(Step::ask([(
            "user_context",
            questions::elicitation(
                "What context should the prompt use?",
                json!({
                    "type": "object",
                    "properties": {"context": {"type": "string"}},
                    "required": ["context"]
                }),
            )?,
        )])),
    }
}

/// Complete an argument of [`WITH_ARGUMENTS`], or `None` for other references.
pub fn complete(params: &CompleteRequestParams) -> Option<Result<CompleteResult, ErrorData>> {
    let Reference::Prompt(prompt) = &params.r#ref else {
        return None;
    };
    if prompt.name != WITH_ARGUMENTS {
        return None;
    }
    let candidates = match params.argument.name.as_str() {
        "arg1" => ARG1_VALUES,
        "arg2" => ARG2_VALUES,
        _ => &[],
    };
    let values = candidates
        .iter()
        .filter(|v| v.starts_with(params.argument.value.as_str()))
        .map(|v| (*v).to_owned())
        .collect();
    Some(
        CompletionInfo::new(values)
            .map(CompleteResult::new)
            .map_err(|e| ErrorData::internal_error(e, None)),
    )
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ArgumentInfo, PromptReference};

    use super::*;
    use crate::modules::object;

    #[test]
    fn arguments_are_substituted_and_required_ones_enforced() {
        let args = object(json!({"arg1": "testValue1", "arg2": "testValue2"}));
        let result = render(WITH_ARGUMENTS, Some(&args))
            .expect("ours")
            .expect("renders");
        let text = serde_json::to_string(&result.messages).expect("json");
        assert!(
            text.contains("testValue1") && text.contains("testValue2"),
            "{text}"
        );
        let err = render(WITH_ARGUMENTS, None)
            .expect("ours")
            .expect_err("arg1 missing");
        assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        assert!(render("no_such_prompt", None).is_none());
    }

    #[test]
    fn the_toggled_prompt_is_listed_only_when_on() {
        let names = |extra| list(extra).into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert!(!names(false).contains(&DYNAMIC.to_owned()));
        assert!(names(true).contains(&DYNAMIC.to_owned()));
    }

    #[test]
    fn prompt_arguments_complete_by_prefix() {
        let params = CompleteRequestParams::new(
            Reference::Prompt(PromptReference::new(WITH_ARGUMENTS)),
            ArgumentInfo::new("arg1", "test"),
        );
        let result = complete(&params).expect("ours").expect("completes");
        assert_eq!(result.completion.values, ["testValue1"]);
    }
}

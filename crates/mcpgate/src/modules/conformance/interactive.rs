//! Tools that need the client's help: a sampling call, form elicitations (plain, with
//! defaults, with every enum shape), a tool that requires the sampling capability, and an
//! elicitation answered over the response stream. All are driven by
//! [`rounds`](crate::mcp::rounds), so a legacy session gets real server-to-client requests and a
//! 2026-07-28 client gets `input_required` results.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ElicitResult, Tool};
use serde_json::{Value, json};

use super::ConformanceModule;
use super::driven_tool;
use super::questions;
use crate::mcp::ToolSpec;
use crate::mcp::rounds::{Exchange, Step};
use crate::modules::{no_arguments, object};

/// The key every single-question fixture asks under.
const ANSWER: &str = "answer";

fn text(message: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message)])
}

/// A required string argument (the catalog has already checked the schema).
fn string_argument<'a>(params: &'a CallToolRequestParams, name: &str) -> &'a str {
    params
        .arguments
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `action=<action>, content=<json>` for an elicitation answer.
fn describe(answer: &ElicitResult) -> String {
    let action = serde_json::to_value(&answer.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let content = answer.content.clone().unwrap_or_else(|| json!({}));
    format!("action={action}, content={content}")
}

/// Ask one elicitation under [`ANSWER`], then finish with `done(answer)`.
fn elicit_once(
    exchange: &Exchange,
    message: &str,
    schema: Value,
    done: impl FnOnce(&ElicitResult) -> String,
) -> Result<Step<CallToolResult>, ErrorData> {
    match exchange.elicited(ANSWER)? {
        Some(answer) => Ok(Step::Done(text(done(&answer)))),
        None => Ok(Step::ask([(
            ANSWER,
            questions::elicitation(message, schema)?,
        )])),
    }
}

/// The form `test_elicitation` asks for.
fn user_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"}
        },
        "required": ["username", "email"]
    })
}

/// A form whose every primitive field has a default (SEP-1034).
fn defaults_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": {"type": "boolean", "description": "Verification status", "default": true}
        },
        "required": []
    })
}

/// Titled options `value1..3` with the given titles.
fn titled(titles: [&str; 3]) -> Value {
    json!([
        {"const": "value1", "title": titles[0]},
        {"const": "value2", "title": titles[1]},
        {"const": "value3", "title": titles[2]}
    ])
}

/// Every enum shape of SEP-1330.
fn enums_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Select one option",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string",
                "description": "Select one option with titles",
                "oneOf": titled(["First Option", "Second Option", "Third Option"])
            },
            "legacyEnum": {
                "type": "string",
                "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "description": "Select multiple options",
                "minItems": 1,
                "maxItems": 3,
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
            },
            "titledMulti": {
                "type": "array",
                "description": "Select multiple options with titles",
                "minItems": 1,
                "maxItems": 3,
                "items": {"anyOf": titled(["First Choice", "Second Choice", "Third Choice"])}
            }
        },
        "required": []
    })
}

/// The interactive fixtures, in listing order.
pub fn tools(module: Arc<ConformanceModule>) -> Vec<ToolSpec> {
    vec![
        sampling_tool(Arc::clone(&module)),
        elicitation_tool(Arc::clone(&module)),
        defaults_tool(Arc::clone(&module)),
        enums_tool(Arc::clone(&module)),
        missing_capability_tool(Arc::clone(&module)),
        streaming_elicitation_tool(module),
    ]
}

fn sampling_tool(module: Arc<ConformanceModule>) -> ToolSpec {
    let schema = object(json!({
        "type": "object",
        "properties": {"prompt": {"type": "string", "description": "The prompt to send to the model"}},
        "required": ["prompt"]
    }));
    let tool = Tool::new(
        "test_sampling",
        "Ask the client's model to answer a prompt (sampling/createMessage).",
        Arc::new(schema),
    );
    driven_tool(tool, module, |params, exchange| {
        match exchange.sampled(ANSWER)? {
            Some(answer) => Ok(Step::Done(text(format!(
                "LLM response: {}",
                questions::sampled_text(&answer)
            )))),
            None => Ok(Step::ask([(
                ANSWER,
                questions::sampling(string_argument(params, "prompt"), 100),
            )])),
        }
    })
}

fn elicitation_tool(module: Arc<ConformanceModule>) -> ToolSpec {
    let schema = object(json!({
        "type": "object",
        "properties": {"message": {"type": "string", "description": "The message to show the user"}},
        "required": ["message"]
    }));
    let tool = Tool::new(
        "test_elicitation",
        "Ask the user for a username and email (elicitation/create, form mode).",
        Arc::new(schema),
    );
    driven_tool(tool, module, |params, exchange| {
        let message = string_argument(params, "message");
        elicit_once(exchange, message, user_schema(), |a| {
            format!("User response: {}", describe(a))
        })
    })
}

fn defaults_tool(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "test_elicitation_sep1034_defaults",
        "Ask the user for a form whose fields all have default values (SEP-1034).",
        no_arguments(),
    );
    driven_tool(tool, module, |_, exchange| {
        let message = "Please review and update the form fields with defaults";
        elicit_once(exchange, message, defaults_schema(), |a| {
            format!("Elicitation completed: {}", describe(a))
        })
    })
}

fn enums_tool(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "test_elicitation_sep1330_enums",
        "Ask the user to pick from every enum shape: untitled and titled, single and multiple, \
         and the legacy enumNames form (SEP-1330).",
        no_arguments(),
    );
    driven_tool(tool, module, |_, exchange| {
        let message = "Please select options from the enum fields";
        elicit_once(exchange, message, enums_schema(), |a| {
            format!("Elicitation completed: {}", describe(a))
        })
    })
}

fn missing_capability_tool(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "test_missing_capability",
        "Ask the client's model for a one-word greeting. Needs the sampling capability; without \
         it the call fails with -32021.",
        no_arguments(),
    );
    driven_tool(tool, module, |_, exchange| {
        match exchange.sampled(ANSWER)? {
            Some(answer) => Ok(Step::Done(text(format!(
                "The model said: {}",
                questions::sampled_text(&answer)
            )))),
            None => Ok(Step::ask([(
                ANSWER,
                questions::sampling("Say hello in one word.", 20),
            )])),
        }
    })
}

fn streaming_elicitation_tool(module: Arc<ConformanceModule>) -> ToolSpec {
    let tool = Tool::new(
        "test_streaming_elicitation",
        "Ask the user to confirm. Under 2026-07-28 the question travels in the result \
         (input_required), never as a request on the response stream.",
        no_arguments(),
    );
    driven_tool(tool, module, |_, exchange| {
        let schema = json!({
            "type": "object",
            "properties": {"confirmed": {"type": "boolean", "description": "Go ahead?"}},
            "required": ["confirmed"]
        });
        elicit_once(exchange, "Shall I continue?", schema, |a| {
            format!("Streaming elicitation completed: {}", describe(a))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `requestedSchema` of the first question a fixture schema produces, as sent.
    fn wire_schema(schema: Value) -> Value {
        let ask = questions::elicitation("m", schema).expect("the fixture schema is valid");
        serde_json::to_value(ask).expect("serialize")["params"]["requestedSchema"].clone()
    }

    #[test]
    fn enum_shapes_reach_the_client_unchanged() {
        let sent = wire_schema(enums_schema());
        let fields = &sent["properties"];
        assert_eq!(
            fields["untitledSingle"]["enum"],
            json!(["option1", "option2", "option3"])
        );
        assert_eq!(fields["titledSingle"]["oneOf"][1]["title"], "Second Option");
        assert_eq!(
            fields["legacyEnum"]["enumNames"],
            json!(["Option One", "Option Two", "Option Three"])
        );
        assert_eq!(fields["untitledMulti"]["items"]["enum"][0], "option1");
        assert_eq!(
            fields["titledMulti"]["items"]["anyOf"][2]["const"],
            "value3"
        );
    }

    #[test]
    fn defaults_reach_the_client_unchanged() {
        let sent = wire_schema(defaults_schema());
        let fields = &sent["properties"];
        assert_eq!(fields["name"]["default"], "John Doe");
        assert_eq!(fields["age"]["default"], 30);
        assert_eq!(fields["score"]["default"], 95.5);
        assert_eq!(fields["status"]["default"], "active");
        assert_eq!(fields["verified"]["default"], true);
        assert_eq!(
            wire_schema(user_schema())["required"],
            json!(["username", "email"])
        );
    }

    #[test]
    fn an_answer_finishes_and_no_answer_asks() {
        let mut exchange = Exchange::default();
        let step = elicit_once(&exchange, "m", user_schema(), |_| String::new()).expect("asks");
        assert!(matches!(step, Step::Ask { ref requests, .. } if requests.contains_key(ANSWER)));
        exchange.responses.insert(
            ANSWER.into(),
            json!({"action": "accept", "content": {"username": "u"}}),
        );
        let step = elicit_once(&exchange, "m", user_schema(), describe).expect("finishes");
        let Step::Done(result) = step else {
            panic!("expected a finished step")
        };
        let text = result.content[0].as_text().expect("text").text.clone();
        assert_eq!(text, r#"action=accept, content={"username":"u"}"#);
    }
}

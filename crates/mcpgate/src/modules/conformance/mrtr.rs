//! The `input_required` fixtures of the 2026-07-28 protocol (multi round-trip requests): single
//! elicitation, sampling and roots questions, a state round trip, several questions at once,
//! three rounds with evolving state, tamper detection, and questions limited to the client's
//! declared capabilities. Each is a [`Step`] decision driven by [`rounds`](crate::mcp::rounds);
//! the carried state is sealed by the module's [`StateSealer`](crate::mcp::StateSealer).

#![allow(deprecated)] // Sampling and roots are deprecated in 2026-07-28 but still served.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, ContentBlock, ElicitResult, ElicitationAction, InputRequest, JsonObject, Tool,
};
use serde_json::{Value, json};

use super::ConformanceModule;
use super::driven_tool;
use super::questions;
use crate::mcp::ToolSpec;
use crate::mcp::rounds::{Exchange, Step};
use crate::modules::no_arguments;

fn text(message: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message)])
}

/// A one-field string form.
fn ask_string(message: &str, field: &str) -> Result<InputRequest, ErrorData> {
    questions::elicitation(
        message,
        json!({
            "type": "object",
            "properties": {field: {"type": "string"}},
            "required": [field]
        }),
    )
}

/// A yes/no form under the field `ok`.
fn ask_confirmation() -> Result<InputRequest, ErrorData> {
    questions::elicitation(
        "Please confirm",
        json!({
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"]
        }),
    )
}

/// The accepted value of `field`, or `None` if the user declined, cancelled or left it out.
fn accepted<'a>(answer: &'a ElicitResult, field: &str) -> Option<&'a Value> {
    if answer.action != ElicitationAction::Accept {
        return None;
    }
    answer.content.as_ref()?.get(field)
}

fn accepted_str(answer: &ElicitResult, field: &str) -> Option<String> {
    accepted(answer, field)?.as_str().map(str::to_owned)
}

/// The `input_required` fixtures, in listing order.
pub fn tools(module: Arc<ConformanceModule>) -> Vec<ToolSpec> {
    let tool = |name: &'static str, description: &'static str| {
        Tool::new(name, description, no_arguments())
    };
    vec![
        driven_tool(
            tool(
                "test_input_required_result_elicitation",
                "Ask the user's name (key user_name), then greet them.",
            ),
            Arc::clone(&module),
            |_, exchange| greet(exchange),
        ),
        driven_tool(
            tool(
                "test_input_required_result_sampling",
                "Ask the client's model for the capital of France (key capital_question).",
            ),
            Arc::clone(&module),
            |_, exchange| capital(exchange),
        ),
        driven_tool(
            tool(
                "test_input_required_result_list_roots",
                "Ask for the client's roots (key client_roots) and list them.",
            ),
            Arc::clone(&module),
            |_, exchange| list_roots(exchange),
        ),
        driven_tool(
            tool(
                "test_input_required_result_request_state",
                "Ask for a confirmation with sealed requestState; answers state-ok once the \
                 echoed state verifies.",
            ),
            Arc::clone(&module),
            |_, exchange| confirm(exchange, "state-ok"),
        ),
        driven_tool(
            tool(
                "test_input_required_result_multiple_inputs",
                "Ask for a name, a model greeting and the roots in one round.",
            ),
            Arc::clone(&module),
            |_, exchange| collect(exchange, all_three_questions()?),
        ),
        driven_tool(
            tool(
                "test_input_required_result_multi_round",
                "Ask a name, then a favourite colour, over three rounds with evolving state.",
            ),
            Arc::clone(&module),
            |_, exchange| two_questions(exchange),
        ),
        driven_tool(
            tool(
                "test_input_required_result_tampered_state",
                "Ask for a confirmation with sealed requestState; a modified state is refused \
                 with -32602.",
            ),
            Arc::clone(&module),
            |_, exchange| confirm(exchange, "state verified"),
        ),
        driven_tool(
            tool(
                "test_input_required_result_capabilities",
                "Ask only what the client declared it can answer: elicitation, sampling, roots.",
            ),
            module,
            |_, exchange| {
                let caps = &exchange.capabilities;
                let mut questions = all_three_questions()?;
                questions.retain(|(_, request)| match request {
                    InputRequest::Elicitation(_) => caps.elicitation.is_some(),
                    InputRequest::CreateMessage(_) => caps.sampling.is_some(),
                    InputRequest::ListRoots(_) => caps.roots.is_some(),
                    _ => false,
                });
                if questions.is_empty() {
                    // Nothing the client can answer: ask for a name anyway, which is refused
                    // with -32021 naming elicitation.
                    return Ok(Step::ask([(
                        "user_name",
                        ask_string("What is your name?", "name")?,
                    )]));
                }
                collect(exchange, questions)
            },
        ),
    ]
}

fn greet(exchange: &Exchange) -> Result<Step<CallToolResult>, ErrorData> {
    match exchange.elicited("user_name")? {
        Some(answer) => Ok(Step::Done(text(match accepted_str(&answer, "name") {
            Some(name) => format!("Hello, {name}!"),
            None => "Hello, whoever you are!".to_owned(),
        }))),
        None => Ok(Step::ask([(
            "user_name",
            ask_string("What is your name?", "name")?,
        )])),
    }
}

fn capital(exchange: &Exchange) -> Result<Step<CallToolResult>, ErrorData> {
    match exchange.sampled("capital_question")? {
        Some(answer) => Ok(Step::Done(text(format!(
            "The model answered: {}",
            questions::sampled_text(&answer)
        )))),
        None => Ok(Step::ask([(
            "capital_question",
            questions::sampling("What is the capital of France?", 100),
        )])),
    }
}

fn list_roots(exchange: &Exchange) -> Result<Step<CallToolResult>, ErrorData> {
    match exchange.roots("client_roots")? {
        Some(answer) => {
            let uris: Vec<&str> = answer.roots.iter().map(|r| r.uri.as_str()).collect();
            Ok(Step::Done(text(format!(
                "The client has {} root(s): {}",
                uris.len(),
                uris.join(", ")
            ))))
        }
        None => Ok(Step::ask([("client_roots", questions::roots())])),
    }
}

/// Ask for a confirmation carrying sealed state; finish with `verified` only when the answer
/// comes back together with the state (which [`rounds::drive`](crate::mcp::rounds::drive) has
/// already verified).
fn confirm(exchange: &Exchange, verified: &str) -> Result<Step<CallToolResult>, ErrorData> {
    let answer = exchange.elicited("confirm")?;
    match (&exchange.state, answer) {
        (Some(state), Some(answer)) if state.get("awaiting") == Some(&json!("confirm")) => {
            let ok = accepted(&answer, "ok")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Ok(Step::Done(text(format!("{verified}: confirmed={ok}"))))
        }
        _ => Ok(Step::ask([("confirm", ask_confirmation()?)])
            .with_state(json!({"awaiting": "confirm"}))),
    }
}

/// A name, a model greeting and the client's roots.
fn all_three_questions() -> Result<Vec<(&'static str, InputRequest)>, ErrorData> {
    Ok(vec![
        ("user_name", ask_string("What is your name?", "name")?),
        ("greeting", questions::sampling("Generate a greeting", 50)),
        ("client_roots", questions::roots()),
    ])
}

/// Gather answers to all `wanted` questions, across rounds if the client answers only some:
/// the answers so far travel in the sealed state, and only the missing ones are asked again.
fn collect(
    exchange: &Exchange,
    wanted: Vec<(&'static str, InputRequest)>,
) -> Result<Step<CallToolResult>, ErrorData> {
    let mut collected: JsonObject = exchange
        .state
        .as_ref()
        .and_then(|s| s.get("collected"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, request) in &wanted {
        // Decoding validates the answer's shape for the question asked.
        let line = match request {
            InputRequest::Elicitation(_) => exchange
                .elicited(key)?
                .map(|a| format!("name={}", accepted_str(&a, "name").unwrap_or_default())),
            InputRequest::CreateMessage(_) => exchange
                .sampled(key)?
                .map(|a| format!("greeting={}", questions::sampled_text(&a))),
            InputRequest::ListRoots(_) => exchange
                .roots(key)?
                .map(|a| format!("roots={}", a.roots.len())),
            _ => None,
        };
        if let (Some(line), Some(value)) = (line, exchange.responses.get(*key)) {
            collected.insert((*key).to_owned(), json!({"summary": line, "answer": value}));
        }
    }
    let missing: Vec<(&str, InputRequest)> = wanted
        .into_iter()
        .filter(|(key, _)| !collected.contains_key(*key))
        .collect();
    if missing.is_empty() {
        let summary: Vec<&str> = collected
            .values()
            .filter_map(|v| v.get("summary").and_then(Value::as_str))
            .collect();
        return Ok(Step::Done(text(format!(
            "Received: {}",
            summary.join("; ")
        ))));
    }
    Ok(Step::Ask {
        requests: missing
            .into_iter()
            .map(|(key, request)| (key.to_owned(), request))
            .collect(),
        state: Some(json!({ "collected": collected })),
    })
}

/// Round 1 asks a name, round 2 a colour (the name carried in sealed state), round 3 finishes.
fn two_questions(exchange: &Exchange) -> Result<Step<CallToolResult>, ErrorData> {
    let name = exchange
        .state
        .as_ref()
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let ask_colour = |name: &str| -> Result<Step<CallToolResult>, ErrorData> {
        Ok(Step::ask([(
            "step2",
            ask_string("Step 2: What is your favorite color?", "color")?,
        )])
        .with_state(json!({"round": 2, "name": name})))
    };
    match name {
        Some(name) => match exchange.elicited("step2")? {
            Some(answer) => {
                let colour = accepted_str(&answer, "color").unwrap_or_else(|| "nothing".into());
                Ok(Step::Done(text(format!("{name} likes {colour}."))))
            }
            None => ask_colour(&name),
        },
        None => match exchange
            .elicited("step1")?
            .and_then(|a| accepted_str(&a, "name"))
        {
            Some(name) => ask_colour(&name),
            None => Ok(
                Step::ask([("step1", ask_string("Step 1: What is your name?", "name")?)])
                    .with_state(json!({"round": 1})),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(content: Value) -> Value {
        json!({"action": "accept", "content": content})
    }

    fn finished_text(step: Step<CallToolResult>) -> String {
        let Step::Done(result) = step else {
            panic!("expected a finished step, got {step:?}")
        };
        result.content[0].as_text().expect("text").text.clone()
    }

    #[test]
    fn multi_round_carries_the_name_into_the_last_round() {
        let mut exchange = Exchange::default();
        let Step::Ask { state, requests } = two_questions(&exchange).expect("round 1") else {
            panic!("round 1 asks")
        };
        assert!(requests.contains_key("step1"));
        exchange.state = state;
        exchange
            .responses
            .insert("step1".into(), accept(json!({"name": "Alice"})));
        let Step::Ask { state, requests } = two_questions(&exchange).expect("round 2") else {
            panic!("round 2 asks")
        };
        assert!(requests.contains_key("step2"));
        assert_eq!(state.as_ref().expect("state")["name"], "Alice");
        exchange.state = state;
        exchange.responses.clear();
        exchange
            .responses
            .insert("step2".into(), accept(json!({"color": "blue"})));
        let text = finished_text(two_questions(&exchange).expect("round 3"));
        assert_eq!(text, "Alice likes blue.");
    }

    #[test]
    fn collect_asks_again_only_for_what_is_missing() {
        let mut exchange = Exchange::default();
        exchange
            .responses
            .insert("user_name".into(), accept(json!({"name": "Alice"})));
        let wanted = all_three_questions().expect("questions");
        let Step::Ask { requests, state } = collect(&exchange, wanted).expect("asks") else {
            panic!("two answers are still missing")
        };
        let keys: Vec<&str> = requests.keys().map(String::as_str).collect();
        assert_eq!(keys, ["client_roots", "greeting"]);
        exchange.state = state;
        exchange.responses.clear();
        exchange.responses.insert(
            "greeting".into(),
            json!({"role": "assistant", "content": {"type": "text", "text": "Hi"}, "model": "m"}),
        );
        exchange.responses.insert(
            "client_roots".into(),
            json!({"roots": [{"uri": "file:///r", "name": "R"}]}),
        );
        let wanted = all_three_questions().expect("questions");
        let text = finished_text(collect(&exchange, wanted).expect("done"));
        assert_eq!(text, "Received: roots=1; greeting=Hi; name=Alice");
    }

    #[test]
    fn confirmation_needs_the_state_it_handed_out() {
        let mut exchange = Exchange::default();
        exchange
            .responses
            .insert("confirm".into(), accept(json!({"ok": true})));
        // An answer without the state starts over instead of finishing.
        assert!(matches!(
            confirm(&exchange, "v"),
            Ok(Step::Ask { state: Some(_), .. })
        ));
        exchange.state = Some(json!({"awaiting": "confirm"}));
        assert_eq!(
            finished_text(confirm(&exchange, "v").expect("done")),
            "v: confirmed=true"
        );
    }

    #[test]
    fn a_malformed_answer_is_invalid_params() {
        let mut exchange = Exchange::default();
        exchange.responses.insert("user_name".into(), json!(12345));
        let err = greet(&exchange).expect_err("malformed");
        assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        exchange.responses.clear();
        exchange
            .responses
            .insert("wrong_key".into(), accept(json!({"x": 1})));
        assert!(matches!(greet(&exchange), Ok(Step::Ask { .. })));
    }
}

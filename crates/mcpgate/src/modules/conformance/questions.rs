//! How fixtures phrase what they ask the client (form elicitations, sampling prompts, roots
//! requests) and how a sampling answer reads. Which capability each question needs is checked
//! by [`rounds`](crate::mcp::rounds), which sends them.

#![allow(deprecated)] // Sampling and roots are deprecated in 2026-07-28 but still served.

use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest,
    ElicitRequestParams, ElicitationSchema, InputRequest, ListRootsRequest, SamplingMessage,
};
use serde_json::Value;

/// An `elicitation/create` request in form mode. `schema` is the requested JSON schema; a
/// schema outside what elicitation allows is a bug in the fixture, reported as internal.
pub fn elicitation(message: &str, schema: Value) -> Result<InputRequest, ErrorData> {
    let schema: ElicitationSchema = serde_json::from_value(schema).map_err(|e| {
        ErrorData::internal_error(format!("fixture elicitation schema is invalid: {e}"), None)
    })?;
    Ok(InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.to_owned(),
            requested_schema: schema,
        },
    )))
}

/// A `sampling/createMessage` request with one user text message.
pub fn sampling(prompt: &str, max_tokens: u32) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(prompt)],
        max_tokens,
    )))
}

/// A `roots/list` request.
pub fn roots() -> InputRequest {
    InputRequest::ListRoots(ListRootsRequest::default())
}

/// The first text of a sampling answer, or a placeholder when the model sent no text.
pub fn sampled_text(answer: &CreateMessageResult) -> String {
    answer
        .message
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_else(|| "(no text in the model's answer)".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requests_serialize_as_the_spec_shapes() {
        let ask = elicitation(
            "What is your name?",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        )
        .expect("valid schema");
        let wire = serde_json::to_value(&ask).expect("serialize");
        assert_eq!(wire["method"], "elicitation/create");
        assert_eq!(wire["params"]["message"], "What is your name?");
        assert_eq!(
            wire["params"]["requestedSchema"]["required"],
            json!(["name"])
        );
        let wire = serde_json::to_value(sampling("Hi", 50)).expect("serialize");
        assert_eq!(wire["method"], "sampling/createMessage");
        assert_eq!(wire["params"]["maxTokens"], 50);
        let wire = serde_json::to_value(roots()).expect("serialize");
        assert_eq!(wire["method"], "roots/list");
    }
}

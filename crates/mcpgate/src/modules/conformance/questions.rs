//! How fixtures phrase what they ask the client (form elicitations, sampling prompts, roots
//! requests), which capability each question needs, and how a sampling answer reads.

#![allow(deprecated)] // Sampling and roots are deprecated in 2026-07-28 but still served.

use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequest, ElicitRequestParams, ElicitationSchema, InputRequest, InputRequests,
    ListRootsRequest, SamplingMessage,
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

/// Refuse requests the client has no capability for, naming every missing capability.
pub fn require_capabilities(
    requests: &InputRequests,
    capabilities: &ClientCapabilities,
) -> Result<(), ErrorData> {
    let mut missing = ClientCapabilities::default();
    let mut any = false;
    for request in requests.values() {
        match request {
            InputRequest::Elicitation(_) if capabilities.elicitation.is_none() => {
                missing.elicitation = Some(Default::default());
                any = true;
            }
            InputRequest::CreateMessage(_) if capabilities.sampling.is_none() => {
                missing.sampling = Some(Default::default());
                any = true;
            }
            InputRequest::ListRoots(_) if capabilities.roots.is_none() => {
                missing.roots = Some(Default::default());
                any = true;
            }
            _ => {}
        }
    }
    if any {
        Err(ErrorData::missing_required_client_capability(missing))
    } else {
        Ok(())
    }
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

    #[test]
    fn missing_capabilities_are_named() {
        let requests: InputRequests = [
            ("a".to_owned(), sampling("x", 1)),
            ("b".to_owned(), roots()),
        ]
        .into_iter()
        .collect();
        let mut capabilities = ClientCapabilities::default();
        capabilities.sampling = Some(Default::default());
        let err = require_capabilities(&requests, &capabilities).expect_err("roots missing");
        let data = err.data.expect("data");
        assert_eq!(data["requiredCapabilities"], json!({"roots": {}}));
        capabilities.roots = Some(Default::default());
        assert!(require_capabilities(&requests, &capabilities).is_ok());
    }
}

//! Server-to-client rounds: how a tool or prompt handler asks its caller for something (an
//! elicitation, a sampling call, the roots) and finishes once it has the answers, in either
//! protocol era.
//!
//! A handler is written as a pure decision over an [`Exchange`](crate::mcp::rounds::Exchange)
//! (the answers to the last round and the state carried from it) that either finishes or asks
//! again ([`Step`](crate::mcp::rounds::Step)). [`drive`](crate::mcp::rounds::drive) runs that
//! decision:
//! - under 2026-07-28 it answers with an `InputRequiredResult` and the client retries the
//!   request with `inputResponses` and the sealed `requestState` (multi round-trip requests);
//! - in a legacy session it sends the requests to the client itself, as peer requests on the
//!   session (`rounds/peer.rs`), and decides again with the answers, until the handler
//!   finishes.
//!
//! Either way only requests the client declared a capability for are sent; anything else is
//! refused with `-32021` naming the missing capability. State carried between rounds is sealed
//! by the [`StateSealer`](crate::mcp::StateSealer) the handler's module owns, bound to the
//! caller and the request.
//!
//! Nothing here knows which module asks: the conformance fixtures drive their questions through
//! it, and so can any module, or a gateway relaying an upstream's questions to its caller.

#![allow(deprecated)] // Sampling and roots are deprecated in 2026-07-28 but still served.

mod peer;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, CreateMessageResult, ElicitResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, JsonObject, ListRootsResult,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::CallContext;
use super::request_state::{Binding, StateSealer};

/// What a handler sees when it decides: the client's answers to the previous round and the
/// state it carried over (already verified).
#[derive(Debug, Default)]
pub struct Exchange {
    /// Answers keyed as the previous round asked. Unknown keys are ignored by handlers.
    pub responses: InputResponses,
    /// State from the previous round, if it carried any.
    pub state: Option<Value>,
    /// What the client said it can do.
    pub capabilities: ClientCapabilities,
}

impl Exchange {
    /// The answer under `key`, decoded as `T`; `None` if the client sent none. An answer that
    /// does not decode is an invalid-params error, not a reason to ask again.
    pub fn answer<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ErrorData> {
        let Some(value) = self.responses.get(key) else {
            return Ok(None);
        };
        serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| {
                ErrorData::invalid_params(
                    format!("inputResponses.{key} is not a valid answer: {e}"),
                    Some(serde_json::json!({ "inputResponse": key })),
                )
            })
    }

    /// The elicitation answer under `key`.
    pub fn elicited(&self, key: &str) -> Result<Option<ElicitResult>, ErrorData> {
        self.answer(key)
    }

    /// The sampling answer under `key`.
    pub fn sampled(&self, key: &str) -> Result<Option<CreateMessageResult>, ErrorData> {
        self.answer(key)
    }

    /// The roots answer under `key`.
    pub fn roots(&self, key: &str) -> Result<Option<ListRootsResult>, ErrorData> {
        self.answer(key)
    }
}

/// A handler's decision.
#[derive(Debug)]
pub enum Step<T> {
    /// Ask the client for these inputs, carrying `state` into the next round.
    Ask {
        /// The requests, keyed as the answers will come back.
        requests: InputRequests,
        /// State for the next round; sealed before it leaves the server.
        state: Option<Value>,
    },
    /// Finished.
    Done(T),
}

impl<T> Step<T> {
    /// Ask for `requests` without carrying state.
    pub fn ask<const N: usize>(requests: [(&str, InputRequest); N]) -> Self {
        Self::Ask {
            requests: requests
                .into_iter()
                .map(|(key, request)| (key.to_owned(), request))
                .collect(),
            state: None,
        }
    }

    /// Carry `state` into the next round (only meaningful on [`Step::Ask`]).
    pub fn with_state(self, state: Value) -> Self {
        match self {
            Self::Ask { requests, .. } => Self::Ask {
                requests,
                state: Some(state),
            },
            done => done,
        }
    }
}

/// How a driven request ends.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The handler finished.
    Done(T),
    /// The client must answer and retry (2026-07-28 only).
    InputRequired(InputRequiredResult),
}

impl<T: Into<CallToolResponse>> Outcome<T> {
    /// The `tools/call` answer: the finished result (complete or a task) or the questions.
    pub fn into_tool_response(self) -> CallToolResponse {
        match self {
            Outcome::Done(result) => result.into(),
            Outcome::InputRequired(result) => result.into(),
        }
    }
}

impl From<Outcome<GetPromptResult>> for GetPromptResponse {
    fn from(outcome: Outcome<GetPromptResult>) -> Self {
        match outcome {
            Outcome::Done(result) => result.into(),
            Outcome::InputRequired(result) => result.into(),
        }
    }
}

/// The request being driven, as the client sent it.
#[derive(Debug)]
pub struct Round<'a> {
    /// `tools/call` or `prompts/get`.
    pub method: &'static str,
    /// Tool or prompt name.
    pub name: &'a str,
    /// Its arguments.
    pub arguments: Option<&'a JsonObject>,
    /// `inputResponses` from a retry.
    pub input_responses: Option<InputResponses>,
    /// `requestState` from a retry.
    pub request_state: Option<String>,
}

impl<'a> Round<'a> {
    /// The round of a `tools/call`.
    pub fn tool_call(params: &'a CallToolRequestParams) -> Self {
        Self {
            method: "tools/call",
            name: &params.name,
            arguments: params.arguments.as_ref(),
            input_responses: params.input_responses.clone(),
            request_state: params.request_state.clone(),
        }
    }

    /// The round of a `prompts/get`.
    pub fn prompt_get(params: &'a GetPromptRequestParams) -> Self {
        Self {
            method: "prompts/get",
            name: &params.name,
            arguments: params.arguments.as_ref(),
            input_responses: params.input_responses.clone(),
            request_state: params.request_state.clone(),
        }
    }
}

/// Run `decide` for `round` in the caller's protocol era (see the module docs).
pub async fn drive<T, F>(
    cx: &CallContext,
    sealer: &StateSealer,
    round: Round<'_>,
    decide: F,
) -> Result<Outcome<T>, ErrorData>
where
    F: Fn(&Exchange) -> Result<Step<T>, ErrorData>,
{
    let capabilities = cx.request.client_capabilities().unwrap_or_default();
    if !cx.is_modern() {
        return peer::drive(cx, capabilities, decide).await;
    }
    let binding = Binding::new(&cx.principal, round.method, round.name, round.arguments);
    let state = match round.request_state.as_deref() {
        Some(sealed) => Some(sealer.open(sealed, &binding)?),
        None => None,
    };
    let exchange = Exchange {
        responses: round.input_responses.unwrap_or_default(),
        state,
        capabilities,
    };
    match decide(&exchange)? {
        Step::Done(result) => Ok(Outcome::Done(result)),
        Step::Ask { requests, state } => {
            require_capabilities(&requests, &exchange.capabilities)?;
            let sealed = state
                .map(|state| sealer.seal(&state, &binding))
                .transpose()?;
            Ok(Outcome::InputRequired(InputRequiredResult::new(
                Some(requests),
                sealed,
            )))
        }
    }
}

/// Put `requests` (one `input_required` round of someone else's, such as an upstream's) to a
/// legacy caller as peer requests on its session; its answers, keyed as asked. Requests it has
/// no capability for are refused with `-32021` before anything is sent.
pub async fn answer_in_session(
    cx: &CallContext,
    requests: InputRequests,
) -> Result<InputResponses, ErrorData> {
    let capabilities = cx.request.client_capabilities().unwrap_or_default();
    require_capabilities(&requests, &capabilities)?;
    peer::answer(cx, requests).await
}

/// Refuse requests the client has no capability for, naming every missing capability.
fn require_capabilities(
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
    use rmcp::model::{
        CreateMessageRequest, CreateMessageRequestParams, ListRootsRequest, SamplingMessage,
    };
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_decode_or_fail_as_invalid_params() {
        let mut exchange = Exchange::default();
        exchange.responses.insert(
            "ok".into(),
            json!({"action": "accept", "content": {"name": "Alice"}}),
        );
        exchange.responses.insert("bad".into(), json!(12345));
        let ok = exchange.elicited("ok").expect("decodes").expect("present");
        assert_eq!(ok.content, Some(json!({"name": "Alice"})));
        assert!(
            exchange
                .elicited("absent")
                .expect("absent is fine")
                .is_none()
        );
        let err = exchange.elicited("bad").expect_err("a number is no answer");
        assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn missing_capabilities_are_named() {
        let sampling = InputRequest::CreateMessage(CreateMessageRequest::new(
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text("x")], 1),
        ));
        let roots = InputRequest::ListRoots(ListRootsRequest::default());
        let requests: InputRequests = [("a".to_owned(), sampling), ("b".to_owned(), roots)]
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

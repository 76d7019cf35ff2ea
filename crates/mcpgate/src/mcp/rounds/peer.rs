//! Rounds in a legacy session (2025-11-25 and earlier): the server asks the client itself, one
//! peer request per question on the caller's session, and decides again with the answers.

#![allow(deprecated)] // Sampling and roots are deprecated in 2026-07-28 but still served.

use rmcp::ErrorData;
use rmcp::model::{ClientCapabilities, InputRequest, InputRequests, InputResponses, ServerRequest};
use serde_json::Value;

use super::{Exchange, Outcome, Step, require_capabilities};
use crate::mcp::CallContext;

/// At most this many rounds are driven in a legacy session before giving up.
const MAX_ROUNDS: usize = 10;

/// Ask the client directly, round after round, until `decide` finishes.
pub(super) async fn drive<T, F>(
    cx: &CallContext,
    capabilities: ClientCapabilities,
    decide: F,
) -> Result<Outcome<T>, ErrorData>
where
    F: Fn(&Exchange) -> Result<Step<T>, ErrorData>,
{
    let mut exchange = Exchange {
        capabilities,
        ..Exchange::default()
    };
    for _ in 0..MAX_ROUNDS {
        let (requests, state) = match decide(&exchange)? {
            Step::Done(result) => return Ok(Outcome::Done(result)),
            Step::Ask { requests, state } => (requests, state),
        };
        require_capabilities(&requests, &exchange.capabilities)?;
        exchange.responses = answer(cx, requests).await?;
        exchange.state = state;
    }
    Err(ErrorData::internal_error(
        format!("the request did not finish within {MAX_ROUNDS} rounds of client input"),
        None,
    ))
}

/// Ask the caller each of `requests` in turn; the answers, keyed as asked.
pub(super) async fn answer(
    cx: &CallContext,
    requests: InputRequests,
) -> Result<InputResponses, ErrorData> {
    let mut responses = InputResponses::new();
    for (key, request) in requests {
        let answer = ask(cx, request).await?;
        responses.insert(key, answer);
    }
    Ok(responses)
}

/// Send one question to the caller as a peer request and wait for its answer, unless the
/// request is cancelled first.
async fn ask(cx: &CallContext, request: InputRequest) -> Result<Value, ErrorData> {
    let request = match request {
        InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
        InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
        InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
        other => {
            return Err(ErrorData::internal_error(
                format!("unsupported input request: {other:?}"),
                None,
            ));
        }
    };
    let answer = tokio::select! {
        answer = cx.request.peer.send_request(request) => answer,
        () = cx.request.ct.cancelled() => {
            return Err(ErrorData::internal_error("the request was cancelled", None));
        }
    };
    let answer = answer.map_err(|e| {
        tracing::debug!(error = %e, "client did not answer an input request");
        ErrorData::internal_error(format!("the client did not answer: {e}"), None)
    })?;
    serde_json::to_value(answer)
        .map_err(|e| ErrorData::internal_error(format!("unreadable client answer: {e}"), None))
}

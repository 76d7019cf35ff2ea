//! What the params of a standard MCP method must look like, for the JSON-RPC answer to a
//! request whose params do not: -32602 (or -32700), never "method not found".

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// JSON-RPC: the body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: the method's params are wrong.
pub const INVALID_PARAMS: i64 = -32602;

/// Why the params of the standard method `method` do not read as its params, if they do not:
/// -32700 when they are not parseable at all (a lone surrogate, nesting past the limit), else
/// -32602. `None` for params that read, and for methods not listed here: rmcp reads those,
/// and answers the methods the 2026-07-28 era removed (`initialize`, `logging/setLevel`,
/// `resources/subscribe`…) with its own -32601 there, whatever their params.
///
/// HTTP asks before rmcp reads the body; stdio asks when rmcp, unable to read a standard
/// method's params, hands the request over as a custom one.
pub fn typed_params(method: &str, params: Option<&RawValue>) -> Option<(i64, String)> {
    use rmcp::model as m;
    fn read<T: DeserializeOwned>(raw: &RawValue) -> Option<(i64, String)> {
        let e = serde_json::from_str::<T>(raw.get()).err()?;
        let code = if e.is_data() {
            INVALID_PARAMS
        } else {
            PARSE_ERROR
        };
        Some((code, e.to_string()))
    }
    fn required<T: DeserializeOwned>(params: Option<&RawValue>) -> Option<(i64, String)> {
        match params {
            None => Some((INVALID_PARAMS, "\"params\" is required".to_owned())),
            Some(raw) => read::<T>(raw),
        }
    }
    fn optional<T: DeserializeOwned>(params: Option<&RawValue>) -> Option<(i64, String)> {
        params.and_then(read::<T>)
    }
    match method {
        "tools/call" => required::<m::CallToolRequestParams>(params),
        "resources/read" => required::<m::ReadResourceRequestParams>(params),
        "prompts/get" => required::<m::GetPromptRequestParams>(params),
        "completion/complete" => required::<m::CompleteRequestParams>(params),
        "tools/list" | "resources/list" | "resources/templates/list" | "prompts/list" => {
            optional::<m::PaginatedRequestParams>(params)
        }
        _ => None,
    }
}

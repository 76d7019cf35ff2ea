//! The responses every operation shares, under `components/responses`: 304, and one problem
//! response per error status with an example of each problem type it can carry, plus the
//! `Problem` and `EdgeError` schemas they use.
//!
//! `problems` is the index into them by status, so an operation lists its error statuses and
//! gets a `$ref` each; the examples' wording mirrors what the API and the edge really answer.

use serde_json::{Map, Value, json};

use super::{header_ref, response_ref, schema_ref};
use crate::http::api::problem::{PROBLEM_JSON, ProblemType, TYPE_BASE};

/// The problem responses an operation can give, by status. An authenticated operation (one
/// that lists 401) can also be refused by the gate and the policy: 403, 429 and 503.
pub(super) fn problems(statuses: &[u16]) -> Vec<(String, Value)> {
    let mut statuses = statuses.to_vec();
    if statuses.contains(&401) {
        for gate in [403, 429, 503] {
            if !statuses.contains(&gate) {
                statuses.push(gate);
            }
        }
        statuses.sort_unstable();
    }
    statuses
        .iter()
        .map(|status| {
            let name = match status {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                405 => "ReadOnly",
                409 => "Conflict",
                412 => "PreconditionFailed",
                413 => "PayloadTooLarge",
                415 => "UnsupportedMediaType",
                422 => "UnprocessableContent",
                428 => "PreconditionRequired",
                429 => "TooManyRequests",
                503 => "Unavailable",
                _ => "ServerError",
            };
            (status.to_string(), response_ref(name))
        })
        .collect()
}

/// `components/responses`: the problem responses `problems` points at, and `NotModified`.
pub(super) fn responses() -> Value {
    json!({
        "NotModified": {
            "description": "Not modified: the version in `If-None-Match` is current.",
            "headers": {"ETag": header_ref("ETag")},
        },
        "BadRequest": problem_response(
            "Bad request: a body that is not JSON, an unknown or repeated query parameter, a malformed `If-Match`, or a cursor this server did not mint for this query.",
            &[ProblemType::BadRequest, ProblemType::UnknownParameter, ProblemType::BadCursor],
            json!({}),
        ),
        "Unauthorized": problem_response(
            "The credential was refused.",
            &[ProblemType::Unauthorized],
            json!({"WWW-Authenticate": header_ref("WWW-Authenticate")}),
        ),
        "Forbidden": {
            "description": "You may not use this operation (your role, a per-tool rule, or a scope your token lacks: then `WWW-Authenticate` names it); or the edge refused the request's Host or Origin.",
            "content": {
                PROBLEM_JSON: {"schema": schema_ref("Problem"), "example": {
                    "type": ProblemType::Forbidden.uri(), "title": ProblemType::Forbidden.title(),
                    "status": 403, "detail": example_detail(ProblemType::Forbidden),
                }},
                "application/json": {"schema": schema_ref("EdgeError"), "example": {
                    "error": "forbidden_origin", "message": "requests from this Origin are not allowed",
                }},
            },
        },
        "NotFound": problem_response(
            "No such record in your workspace (or no such parent, for a list filter).",
            &[ProblemType::NotFound],
            json!({}),
        ),
        "ReadOnly": problem_response(
            "Writes are switched off on this server.",
            &[ProblemType::ReadOnly],
            json!({"Allow": header_ref("Allow")}),
        ),
        "Conflict": problem_response(
            "The state change does not apply to the record's current state, or a slug names more than one record.",
            &[ProblemType::InvalidTransition, ProblemType::AmbiguousSlug],
            json!({}),
        ),
        "PreconditionFailed": problem_response(
            "The record is no longer at the version in `If-Match`; nothing was written. `current_version` is the version to read and retry with.",
            &[ProblemType::VersionConflict],
            json!({}),
        ),
        "PayloadTooLarge": {
            "description": "The body is over the server's size limit (`MCPGATE_MAX_BODY_BYTES`); answered by the edge.",
            "content": {"application/json": {"schema": schema_ref("EdgeError"), "example": {
                "error": "payload_too_large",
                "message": "the request body is larger than the limit of 1048576 bytes",
            }}},
        },
        "UnsupportedMediaType": problem_response(
            "The body is not in a media type this operation takes.",
            &[ProblemType::UnsupportedMediaType],
            json!({"Accept-Patch": header_ref("Accept-Patch")}),
        ),
        "UnprocessableContent": problem_response(
            "A field (or a query parameter's value) failed validation; `field` names it.",
            &[ProblemType::InvalidField],
            json!({}),
        ),
        "PreconditionRequired": problem_response(
            "`If-Match` is required: send the version you read.",
            &[ProblemType::PreconditionRequired],
            json!({}),
        ),
        "TooManyRequests": problem_response(
            "Over your rate limit; retry after `Retry-After` seconds.",
            &[ProblemType::RateLimited],
            json!({
                "Retry-After": header_ref("Retry-After"),
                "RateLimit-Limit": header_ref("RateLimit-Limit"),
                "RateLimit-Remaining": header_ref("RateLimit-Remaining"),
                "RateLimit-Reset": header_ref("RateLimit-Reset"),
            }),
        ),
        "Unavailable": {
            "description": "The server is shedding load, or cannot check credentials right now (its signing keys are unreachable), or cannot check rate limits right now (its shared limiter is unreachable); retry after `Retry-After` seconds.",
            "headers": {"Retry-After": header_ref("Retry-After")},
            "content": {
                PROBLEM_JSON: {"schema": schema_ref("Problem"), "example": {
                    "type": ProblemType::AuthUnavailable.uri(), "title": ProblemType::AuthUnavailable.title(),
                    "status": 503, "detail": example_detail(ProblemType::AuthUnavailable),
                }},
                "application/json": {"schema": schema_ref("EdgeError"), "example": {
                    "error": "overloaded", "message": "the server is handling as many requests as it may; retry shortly",
                }},
            },
        },
        "ServerError": problem_response(
            "The store failed; the cause is logged, not shown. Retry later.",
            &[ProblemType::StoreFailure],
            json!({}),
        ),
    })
}

/// A problem response: the problem schema, an example, and any headers.
fn problem_response(description: &str, types: &[ProblemType], headers: Value) -> Value {
    let mut examples = Map::new();
    for t in types {
        let mut example = json!({
            "type": t.uri(),
            "title": t.title(),
            "status": t.status().as_u16(),
            "detail": example_detail(*t),
        });
        match t {
            ProblemType::InvalidField => example["field"] = json!("title"),
            ProblemType::VersionConflict => example["current_version"] = json!(4),
            ProblemType::UnknownParameter => example["field"] = json!("colour"),
            _ => {}
        }
        examples.insert(
            t.slug().to_owned(),
            json!({"summary": t.title(), "value": example}),
        );
    }
    let mut response = json!({
        "description": description,
        "content": {PROBLEM_JSON: {"schema": schema_ref("Problem"), "examples": examples}},
    });
    if headers.as_object().is_some_and(|h| !h.is_empty()) {
        response["headers"] = headers;
    }
    response
}

fn example_detail(t: ProblemType) -> &'static str {
    match t {
        ProblemType::BadRequest => {
            "the body is not valid JSON: EOF while parsing a value at line 1 column 0"
        }
        ProblemType::UnknownParameter => {
            "unknown query parameter \"colour\"; this operation takes: archived, cursor, limit, order, sort, tag, updated_since"
        }
        ProblemType::BadCursor => {
            "invalid cursor: the cursor belongs to a list with other filters or sort"
        }
        ProblemType::Unauthorized => {
            "a dev token looks like dev:<user>:<org>:<role>, with role one of viewer, editor, admin"
        }
        ProblemType::Forbidden => "ann may not use create_task",
        ProblemType::NotFound => "task \"rotate-the-signing-key\" not found",
        ProblemType::MethodNotAllowed => "PUT is not allowed on /api/v1/notes",
        ProblemType::ReadOnly => "this server is read-only; set MCPGATE_WORKSPACE_WRITE=true",
        ProblemType::InvalidTransition => {
            "cannot start a task that is done; only a todo task can be started"
        }
        ProblemType::AmbiguousSlug => "\"retro\" names more than one record; use its ID",
        ProblemType::VersionConflict => {
            "task task_01936f2e8c7d7b5e9a3b4c5d6e7f8091 is at version 4, not the one in If-Match; read it again and retry with If-Match: \"4\""
        }
        ProblemType::UnsupportedMediaType => {
            "the body must be sent as application/json (got \"text/plain\")"
        }
        ProblemType::InvalidField => "title: \"\" is shorter than 1 character",
        ProblemType::PreconditionRequired => {
            "send the version you read as If-Match: \"<version>\" (the record's ETag), so a change made since is not overwritten"
        }
        ProblemType::RateLimited => "rate limit exceeded; retry in 2 s",
        ProblemType::StoreFailure => "the workspace store failed; try again later",
        ProblemType::AuthUnavailable => "the token signing keys are not available right now",
        ProblemType::RateLimitUnavailable => {
            "rate limits cannot be checked right now; retry in 1 s"
        }
    }
}

pub(super) fn problem_schema() -> Value {
    let types: Vec<String> = ProblemType::ALL.iter().map(|t| t.uri()).collect();
    json!({
        "type": "object",
        "title": "Problem",
        "description": format!(
            "An error, as RFC 9457 problem details (`application/problem+json`). `type` is a \
             stable URI per kind of problem ({TYPE_BASE}<slug>; an identifier, it need not \
             resolve), `title` is fixed per type, `detail` says what happened this time."
        ),
        "properties": {
            "type": {
                "type": "string", "format": "uri",
                "description": "What kind of problem this is; branch on this, not on `detail`.",
                "examples": types,
            },
            "title": {"type": "string", "description": "A short summary of the type."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
            "detail": {"type": "string", "description": "What went wrong in this request, and what to do about it."},
            "field": {
                "type": "string",
                "description": "The input at fault (422, some 400s): a body field (`tags/0` for nested ones) or a query parameter.",
            },
            "current_version": {
                "type": "integer", "minimum": 1,
                "description": "412 only: the record's current version; read it again and retry with `If-Match: \"<current_version>\"`.",
            },
        },
        "required": ["type", "title", "status", "detail"],
    })
}

pub(super) fn edge_error_schema() -> Value {
    json!({
        "type": "object",
        "title": "EdgeError",
        "description": "A refusal by the request edge, before the API sees the request (body over the size limit, a Host or Origin this server does not serve).",
        "properties": {
            "error": {"type": "string", "description": "A code such as `payload_too_large`, `forbidden_origin`.", "examples": ["payload_too_large"]},
            "message": {"type": "string", "description": "What was refused and why."}
        },
        "required": ["error", "message"]
    })
}

//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every refusal of the REST API is a [`Problem`]; [`Problem::workspace`] is the one mapping from
//! a [`WorkspaceError`], [`Problem::auth`] the one from an [`AuthError`], and everything the
//! handlers refuse themselves (read-only server, role, media type, preconditions, malformed
//! input) names its [`ProblemType`] here too.
//!
//! `type` is a stable URI per kind of problem, `https://mcpgate.dev/problems/<slug>` (see
//! [`ProblemType::ALL`]), so clients can branch on it without parsing `detail`; the URIs are
//! identifiers and need not resolve. `title` is fixed per type; `detail` says what happened in
//! this request. Two extension members: `field` (the input at fault, for 422 and some 400s) and
//! `current_version` (for 412, the version to send in `If-Match` after reading the record again).
//!
//! Bodies over the size limit (413) and Host/Origin refusals are answered by the edge, before
//! the API sees the request, with the edge's own `{"error", "message"}` JSON.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::edge::{Challenges, Refusal};
use crate::workspace::WorkspaceError;
use crate::workspace::fields::FieldError;

/// The media type of every problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The prefix of every problem `type` URI.
pub const TYPE_BASE: &str = "https://mcpgate.dev/problems/";

/// The kinds of problem the API answers with: each has one status, slug and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// 400: a body that is not JSON, a malformed header or path.
    BadRequest,
    /// 400: a query parameter the operation does not take (or one given twice).
    UnknownParameter,
    /// 400: a cursor this server did not mint for this query.
    BadCursor,
    /// 401: a credential that was refused.
    Unauthorized,
    /// 403: the caller's role may not write.
    Forbidden,
    /// 404: no such record in the caller's workspace, or no such API path.
    NotFound,
    /// 405: the path does not take this method.
    MethodNotAllowed,
    /// 405: writes are switched off on this server.
    ReadOnly,
    /// 409: a state change that does not apply to the record's current state.
    InvalidTransition,
    /// 409: a slug that names more than one record.
    AmbiguousSlug,
    /// 412: the `If-Match` version is not the current one.
    VersionConflict,
    /// 415: a body in a media type the operation does not take.
    UnsupportedMediaType,
    /// 422: a field (or query parameter value) that fails validation.
    InvalidField,
    /// 428: a replace or patch without `If-Match`.
    PreconditionRequired,
    /// 429: over the caller's rate limit (`Retry-After`, `RateLimit-*`).
    RateLimited,
    /// 500: the store failed (the cause is logged, not shown).
    StoreFailure,
    /// 503: credentials cannot be checked right now (the signing keys are unreachable).
    AuthUnavailable,
    /// 503: rate limits cannot be checked right now (the shared limiter is unreachable and its
    /// failure policy refuses).
    RateLimitUnavailable,
}

impl ProblemType {
    /// Every problem type, for the OpenAPI document.
    pub const ALL: [ProblemType; 18] = [
        ProblemType::BadRequest,
        ProblemType::UnknownParameter,
        ProblemType::BadCursor,
        ProblemType::Unauthorized,
        ProblemType::Forbidden,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::ReadOnly,
        ProblemType::InvalidTransition,
        ProblemType::AmbiguousSlug,
        ProblemType::VersionConflict,
        ProblemType::UnsupportedMediaType,
        ProblemType::InvalidField,
        ProblemType::PreconditionRequired,
        ProblemType::RateLimited,
        ProblemType::StoreFailure,
        ProblemType::AuthUnavailable,
        ProblemType::RateLimitUnavailable,
    ];

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::UnknownParameter | Self::BadCursor => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed | Self::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidTransition | Self::AmbiguousSlug => StatusCode::CONFLICT,
            Self::VersionConflict => StatusCode::PRECONDITION_FAILED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidField => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreFailure => StatusCode::INTERNAL_SERVER_ERROR,
            Self::AuthUnavailable | Self::RateLimitUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The last segment of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::UnknownParameter => "unknown-parameter",
            Self::BadCursor => "bad-cursor",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::ReadOnly => "read-only",
            Self::InvalidTransition => "invalid-transition",
            Self::AmbiguousSlug => "ambiguous-slug",
            Self::VersionConflict => "version-conflict",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::InvalidField => "invalid-field",
            Self::PreconditionRequired => "precondition-required",
            Self::RateLimited => "rate-limited",
            Self::StoreFailure => "store-failure",
            Self::AuthUnavailable => "auth-unavailable",
            Self::RateLimitUnavailable => "rate-limit-unavailable",
        }
    }

    /// The `title`: the same for every occurrence of the type.
    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad request",
            Self::UnknownParameter => "Unknown query parameter",
            Self::BadCursor => "Invalid cursor",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::ReadOnly => "Read-only server",
            Self::InvalidTransition => "Invalid state change",
            Self::AmbiguousSlug => "Ambiguous slug",
            Self::VersionConflict => "Version conflict",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::InvalidField => "Invalid field",
            Self::PreconditionRequired => "Precondition required",
            Self::RateLimited => "Too many requests",
            Self::StoreFailure => "Store failure",
            Self::AuthUnavailable => "Authentication unavailable",
            Self::RateLimitUnavailable => "Rate limiting unavailable",
        }
    }

    /// The `type` URI.
    pub fn uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }
}

/// One problem, ready to answer with.
#[derive(Debug, Clone)]
pub struct Problem {
    kind: ProblemType,
    detail: String,
    field: Option<String>,
    current_version: Option<i64>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            field: None,
            current_version: None,
            headers: Vec::new(),
        }
    }

    /// Name the input at fault (omitted when empty: the whole body or query).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// Add a response header (`Allow`, `Accept-Patch`, `WWW-Authenticate`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A field that failed validation: 422 naming it (a problem with the whole body names
    /// none, and its detail is the bare message rather than `": message"`).
    pub fn invalid(error: &FieldError) -> Self {
        let detail = if error.field.is_empty() {
            error.message.clone()
        } else {
            error.to_string()
        };
        Self::new(ProblemType::InvalidField, detail).with_field(error.field.clone())
    }

    /// The one mapping of a service error: NotFound 404, Conflict 412 (the version came from
    /// `If-Match`) with `current_version`, Invalid 422 with `field`, Transition 409, BadCursor
    /// 400, Ambiguous 409, Store 500 (the cause is logged here and not shown).
    pub fn workspace(error: &WorkspaceError) -> Self {
        match error {
            WorkspaceError::NotFound { .. } => Self::new(ProblemType::NotFound, error.to_string()),
            WorkspaceError::Conflict {
                kind, id, current, ..
            } => {
                let mut problem = Self::new(
                    ProblemType::VersionConflict,
                    format!(
                        "{kind} {id} is at version {current}, not the one in If-Match; read it \
                         again and retry with If-Match: \"{current}\""
                    ),
                );
                problem.current_version = Some(*current);
                problem
            }
            WorkspaceError::Invalid(field) => Self::invalid(field),
            WorkspaceError::Transition(_) => {
                Self::new(ProblemType::InvalidTransition, error.to_string())
            }
            WorkspaceError::BadCursor(_) => {
                Self::new(ProblemType::BadCursor, error.to_string()).with_field("cursor")
            }
            WorkspaceError::Ambiguous(_) => {
                Self::new(ProblemType::AmbiguousSlug, error.to_string())
            }
            WorkspaceError::Store(cause) => {
                tracing::error!(error = %cause, "workspace store failed");
                Self::new(
                    ProblemType::StoreFailure,
                    "the workspace store failed; try again later",
                )
            }
        }
    }

    /// A refusal of the gate, with the same status and headers the MCP endpoint sends.
    pub fn gate(refusal: &Refusal, challenges: &Challenges) -> Self {
        let kind = match refusal {
            Refusal::Unauthenticated(e) if e.is_unavailable() => ProblemType::AuthUnavailable,
            Refusal::Unauthenticated(_) => ProblemType::Unauthorized,
            Refusal::InsufficientScope(_) => ProblemType::Forbidden,
            Refusal::Limited(_) => ProblemType::RateLimited,
            Refusal::LimiterUnavailable(_) => ProblemType::RateLimitUnavailable,
        };
        let mut headers = axum::http::HeaderMap::new();
        refusal.write_headers(challenges, &mut headers);
        let mut problem = Self::new(kind, refusal.message());
        for (name, value) in &headers {
            problem = problem.with_header(name.clone(), value.clone());
        }
        problem
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.kind.uri()));
        body.insert("title".into(), json!(self.kind.title()));
        body.insert("status".into(), json!(self.kind.status().as_u16()));
        body.insert("detail".into(), json!(self.detail));
        if let Some(field) = &self.field {
            body.insert("field".into(), json!(field));
        }
        if let Some(version) = self.current_version {
            body.insert("current_version".into(), json!(version));
        }
        Value::Object(body)
    }
}

impl From<WorkspaceError> for Problem {
    fn from(error: WorkspaceError) -> Self {
        Self::workspace(&error)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = (self.kind.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Kind;

    #[test]
    fn types_are_distinct_and_match_their_status() {
        let mut slugs: Vec<&str> = ProblemType::ALL.iter().map(|t| t.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
        for t in ProblemType::ALL {
            assert!(t.status().is_client_error() || t.status().is_server_error());
            assert!(t.uri().starts_with("https://mcpgate.dev/problems/"));
        }
    }

    #[test]
    fn service_errors_map_to_their_status_with_members() {
        let conflict = Problem::workspace(&WorkspaceError::Conflict {
            kind: Kind::Task,
            id: "task_1".into(),
            expected: 1,
            current: 3,
        });
        let body = conflict.body();
        assert_eq!(body["status"], 412);
        assert_eq!(body["current_version"], 3);
        assert_eq!(
            body["type"],
            "https://mcpgate.dev/problems/version-conflict"
        );

        let invalid = Problem::workspace(&WorkspaceError::Invalid(FieldError::new("due", "bad")));
        assert_eq!(invalid.body()["status"], 422);
        assert_eq!(invalid.body()["field"], "due");

        let root = Problem::invalid(&FieldError::new("", "not an object"));
        assert!(
            root.body().get("field").is_none(),
            "an empty field is left out"
        );

        let missing = Problem::workspace(&WorkspaceError::NotFound {
            kind: "note",
            key: "x".into(),
        });
        assert_eq!(missing.body()["status"], 404);
        assert_eq!(
            Problem::workspace(&WorkspaceError::BadCursor("no")).body()["status"],
            400
        );
        assert_eq!(
            Problem::workspace(&WorkspaceError::Ambiguous("x".into())).body()["status"],
            409
        );
    }

    #[test]
    fn store_failures_hide_their_cause() {
        let error = WorkspaceError::Store(crate::store::StoreError::Query(sqlx::Error::Protocol(
            "secret table name".into(),
        )));
        let body = Problem::workspace(&error).body();
        assert_eq!(body["status"], 500);
        assert!(!body.to_string().contains("secret"), "{body}");
    }
}

//! What a request must carry before a handler acts on it: the record it names
//! ([`RecordPath`]: collection, caller, ID or slug, no query) and a body of an accepted media
//! type.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use super::params::no_query;
use super::problem::{Problem, ProblemType};
use crate::edge::Principal;
use crate::workspace::{Kind, Tenant};

/// Media types a record body (create, replace, process) may be sent as.
pub(super) const JSON: &[&str] = &["application/json"];
/// Media types a merge patch may be sent as (RFC 7396, and plain JSON for convenience).
pub(super) const MERGE_PATCH: &[&str] = &["application/merge-patch+json", "application/json"];

/// 415 unless the body's media type (parameters aside) is one of `accepted`.
pub(super) fn media_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), Problem> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence {
        Some(t) if accepted.contains(&t.as_str()) => Ok(()),
        given => {
            let given = given.map_or("no Content-Type".to_owned(), |t| format!("{t:?}"));
            let mut problem = Problem::new(
                ProblemType::UnsupportedMediaType,
                format!(
                    "the body must be sent as {} (got {given})",
                    accepted.join(" or ")
                ),
            );
            if accepted == MERGE_PATCH {
                problem = problem.with_header(
                    HeaderName::from_static("accept-patch"),
                    HeaderValue::from_static("application/merge-patch+json, application/json"),
                );
            }
            Err(problem)
        }
    }
}

/// The record's ID or slug from the path, or a 400 naming what is wrong with it.
pub(super) fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(id)| id)
        .map_err(|e| Problem::new(ProblemType::BadRequest, e.body_text()))
}

/// What every handler on one record starts from: the collection's kind (set by the router),
/// the caller (set by the auth layer), the record's ID or slug from the path, and a query that
/// must be empty. Extracted before the handler runs, in that order of refusal.
pub struct RecordPath {
    /// The collection's kind.
    pub(super) kind: Kind,
    /// The caller.
    pub(super) principal: Principal,
    /// The record's ID or slug.
    pub(super) id: String,
}

impl RecordPath {
    /// The caller's tenant.
    pub(super) fn tenant(&self) -> Tenant {
        Tenant::of(&self.principal)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RecordPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        no_query(&parts.uri)?;
        let id = path_id(Path::<String>::from_request_parts(parts, state).await)?;
        let missing = |what: &str| {
            tracing::error!(
                what,
                "an API request reached its handler without its {what}"
            );
            Problem::new(ProblemType::StoreFailure, "the request could not be served")
        };
        let kind = parts
            .extensions
            .get::<Kind>()
            .copied()
            .ok_or_else(|| missing("collection"))?;
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| missing("principal"))?;
        Ok(Self {
            kind,
            principal,
            id,
        })
    }
}

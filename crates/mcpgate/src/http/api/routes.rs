//! The handlers of `/api/v1`. Each one checks what the HTTP layer owns (query parameters,
//! media type, preconditions, the write gate) and makes one call to the workspace service, the
//! same call the MCP tool of the same meaning makes, for the caller's tenant.
//!
//! Every operation is authorized as its MCP tool (`list_tasks`, `create_note`, …): 403 when
//! the policy withholds the tool (with an `insufficient_scope` challenge when scopes would
//! help). A write is refused, in this order: 405 when the server is read-only, 403 when the
//! caller may not use the tool, 415 for a body that is not JSON, 400/428 for a bad or missing
//! `If-Match`, 400 for a body that does not parse; then the service decides.
//!
//! The checks live beside the handlers: authorization, the write gate and the body in `state`
//! (the [`Api`] every handler shares), query parameters in `params`, the record a path names and
//! the body's media type in `extract`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::conditional::{IfMatch, none_match, record_etag};
use super::extract::{JSON, MERGE_PATCH, RecordPath, media_type, path_id};
use super::params::no_query;
use super::problem::{Problem, ProblemType};
use super::state::{Allow, Api, Refusal};
use crate::edge::Principal;
use crate::workspace::fields::FieldError;
use crate::workspace::{Kind, ListRequest, Op, Tenant};

/// Records may be cached by the caller but must be revalidated (`If-None-Match`); never by a
/// shared cache.
const RECORD_CACHE: &str = "private, no-cache";

/// What a handler gives: its answer, or why it stopped.
type Answer = Result<Response, Refusal>;

/// A JSON answer.
fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A record answer: the record with its `ETag`, revalidated before reuse.
fn record(status: StatusCode, record: &Value) -> Response {
    let mut response = json(status, record);
    let headers = response.headers_mut();
    if let Some(tag) = record_etag(record) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(RECORD_CACHE),
    );
    response
}

type ApiState = State<Arc<Api>>;

/// `GET /api/v1/{collection}`.
pub async fn list(
    State(api): ApiState,
    Extension(kind): Extension<Kind>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
) -> Answer {
    let Some(params) = api.list.get(&kind) else {
        return Err(Problem::new(ProblemType::NotFound, "no such collection").into());
    };
    api.permit_op(&principal, Op::List, kind).await?;
    let query = params.read(&uri)?;
    let request = ListRequest::from_arguments(query)?;
    let page = api
        .service
        .list(&Tenant::of(&principal), kind, request)
        .await?;
    let mut response = json(StatusCode::OK, &page);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(RECORD_CACHE),
    );
    Ok(response)
}

/// `POST /api/v1/{collection}`.
pub async fn create(
    State(api): ApiState,
    Extension(kind): Extension<Kind>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    no_query(&uri)?;
    api.writable(&principal, Allow::Readable, Op::Create, kind)
        .await?;
    media_type(&headers, JSON)?;
    let fields = api.json_body(body).await?;
    let created = api
        .service
        .create(&Tenant::of(&principal), kind, &fields)
        .await?;
    let mut response = record(StatusCode::CREATED, &created);
    if let Some(location) = created
        .get("url")
        .and_then(Value::as_str)
        .and_then(|url| HeaderValue::from_str(url).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/{collection}/{id}`: 304 when `If-None-Match` names the current version.
pub async fn get(State(api): ApiState, target: RecordPath, headers: HeaderMap) -> Answer {
    api.permit_op(&target.principal, Op::Get, target.kind)
        .await?;
    let found = api
        .service
        .get(&target.tenant(), target.kind, &target.id)
        .await?;
    if let Some(tag) = record_etag(&found)
        && none_match(&headers, &tag)
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, tag),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(RECORD_CACHE),
                ),
            ],
        )
            .into_response());
    }
    Ok(record(StatusCode::OK, &found))
}

/// `PUT /api/v1/{collection}/{id}`: replace every field; `If-Match` required.
pub async fn replace(
    State(api): ApiState,
    target: RecordPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    api.writable(&target.principal, Allow::Readable, Op::Update, target.kind)
        .await?;
    media_type(&headers, JSON)?;
    let version = IfMatch::from_headers(&headers)?.required()?;
    let fields = api.json_body(body).await?;
    let updated = api
        .service
        .update(&target.tenant(), target.kind, &target.id, version, &fields)
        .await?;
    Ok(record(StatusCode::OK, &updated))
}

/// `PATCH /api/v1/{collection}/{id}`: a JSON Merge Patch; `If-Match` required.
pub async fn patch(
    State(api): ApiState,
    target: RecordPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    api.writable(&target.principal, Allow::Readable, Op::Patch, target.kind)
        .await?;
    media_type(&headers, MERGE_PATCH)?;
    let version = IfMatch::from_headers(&headers)?.required()?;
    let patch = api.json_body(body).await?;
    let updated = api
        .service
        .patch(&target.tenant(), target.kind, &target.id, version, &patch)
        .await?;
    Ok(record(StatusCode::OK, &updated))
}

/// `DELETE /api/v1/{collection}/{id}`: optional `If-Match`; the answer counts the children.
pub async fn delete(State(api): ApiState, target: RecordPath, headers: HeaderMap) -> Answer {
    api.writable(&target.principal, Allow::Readable, Op::Delete, target.kind)
        .await?;
    let version = IfMatch::from_headers(&headers)?.optional();
    let deleted = api
        .service
        .delete(&target.tenant(), target.kind, &target.id, version)
        .await?;
    Ok(json(StatusCode::OK, &deleted))
}

/// `POST /api/v1/{collection}/{id}/archive`: optional `If-Match`; no body.
pub async fn archive(State(api): ApiState, target: RecordPath, headers: HeaderMap) -> Answer {
    api.writable(
        &target.principal,
        Allow::ActionOnly,
        Op::Archive,
        target.kind,
    )
    .await?;
    let version = IfMatch::from_headers(&headers)?.optional();
    let archived = api
        .service
        .archive(&target.tenant(), target.kind, &target.id, version)
        .await?;
    Ok(record(StatusCode::OK, &archived))
}

/// `POST /api/v1/{collection}/{id}/process`: body `{"action": …}`; optional `If-Match`.
pub async fn process(
    State(api): ApiState,
    target: RecordPath,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    api.writable(
        &target.principal,
        Allow::ActionOnly,
        Op::Process,
        target.kind,
    )
    .await?;
    media_type(&headers, JSON)?;
    let version = IfMatch::from_headers(&headers)?.optional();
    let body = api.json_body(body).await?;
    if let Some(validator) = api.process.get(&target.kind)
        && let Some(error) = validator.iter_errors(&body).next()
    {
        return Err(Problem::invalid(&FieldError::from_schema_error(&error)).into());
    }
    let action = body["action"].as_str().unwrap_or_default();
    let processed = api
        .service
        .process(&target.tenant(), target.kind, &target.id, action, version)
        .await?;
    Ok(record(StatusCode::OK, &processed))
}

/// `GET /api/v1/search?query=…&limit=…&cursor=…`.
pub async fn search(
    State(api): ApiState,
    Extension(principal): Extension<Principal>,
    uri: Uri,
) -> Answer {
    api.permit(&principal, "search").await?;
    let query = api.search.read(&uri)?;
    let text = query.get("query").and_then(Value::as_str).unwrap_or("");
    let limit = query
        .get("limit")
        .and_then(Value::as_u64)
        .and_then(|l| u32::try_from(l).ok());
    let cursor = query.get("cursor").and_then(Value::as_str);
    let page = api
        .service
        .search(&Tenant::of(&principal), text, limit, cursor)
        .await?;
    Ok(json(StatusCode::OK, &page))
}

/// `GET /api/v1/fetch/{id}`.
pub async fn fetch(
    State(api): ApiState,
    Extension(principal): Extension<Principal>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    api.permit(&principal, "fetch").await?;
    no_query(&uri)?;
    let id = path_id(id)?;
    let document = api.service.fetch(&Tenant::of(&principal), &id).await?;
    Ok(json(StatusCode::OK, &document))
}

/// Any other path under `/api/v1`.
pub async fn not_found(uri: Uri) -> Problem {
    Problem::new(
        ProblemType::NotFound,
        format!(
            "no API endpoint at {}; see /openapi.json for the operations",
            uri.path()
        ),
    )
}

/// A path that exists, with a method it does not take (axum adds `Allow`).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::new(
        ProblemType::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

//! The handlers of `/api/v1`. Each one checks what the HTTP layer owns (query parameters,
//! media type, preconditions, the write gate) and makes one call to the workspace service, the
//! same call the MCP tool of the same meaning makes, for the caller's tenant.
//!
//! Every operation is authorized as its MCP tool (`list_tasks`, `create_note`, …): 403 when
//! the policy withholds the tool (with an `insufficient_scope` challenge when scopes would
//! help). A write is refused, in this order: 405 when the server is read-only, 403 when the
//! caller may not use the tool, 415 for a body that is not JSON, 400/428 for a bad or missing
//! `If-Match`, 400 for a body that does not parse; then the service decides.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::conditional::{IfMatch, none_match, record_etag};
use super::problem::{Problem, ProblemType};
use super::shapes::Shapes;
use crate::edge::{self, Challenges, Principal};
use crate::http::edge_layer::read_body;
use crate::mcp::{Catalog, Refused};
use crate::workspace::fields::FieldError;
use crate::workspace::{Kind, ListRequest, Op, Tenant, WorkspaceError, WorkspaceService};

/// Media types a record body (create, replace, process) may be sent as.
const JSON: &[&str] = &["application/json"];
/// Media types a merge patch may be sent as (RFC 7396, and plain JSON for convenience).
pub const MERGE_PATCH: &[&str] = &["application/merge-patch+json", "application/json"];

/// Records may be cached by the caller but must be revalidated (`If-None-Match`); never by a
/// shared cache.
const RECORD_CACHE: &str = "private, no-cache";

/// Who may use which operation, and how often.
pub struct ApiAccess {
    /// The catalog, whose one decision authorizes every tool, as for MCP.
    pub catalog: Catalog,
    /// The challenges of refusals.
    pub challenges: Challenges,
}

/// What the handlers share.
pub struct Api {
    service: Arc<WorkspaceService>,
    write: bool,
    max_body_bytes: usize,
    list: HashMap<Kind, Params>,
    search: Params,
    process: HashMap<Kind, jsonschema::Validator>,
    catalog: Catalog,
    challenges: Challenges,
}

impl Api {
    /// The API over `service`, validating inputs with the tools' schemas in `shapes`.
    pub fn new(
        service: Arc<WorkspaceService>,
        write: bool,
        max_body_bytes: usize,
        shapes: &Shapes,
        access: ApiAccess,
    ) -> Self {
        let list = Kind::ALL
            .into_iter()
            .map(|kind| (kind, Params::new(&shapes.list(kind))))
            .collect();
        let process = Kind::ALL
            .into_iter()
            .map(|kind| (kind, compile(&shapes.process(kind))))
            .collect();
        Self {
            service,
            write,
            max_body_bytes,
            list,
            search: Params::new(&shapes.search()),
            process,
            catalog: access.catalog,
            challenges: access.challenges,
        }
    }

    /// Whether `principal` may use the tool `name` now, decided by the catalog as for the MCP
    /// call: 403 when it is switched off or withheld (with an `insufficient_scope` challenge
    /// when scopes would change that), 429 over the tool's rate limit (503 when the shared
    /// limiter cannot decide and its failure policy refuses).
    async fn permit(&self, principal: &Principal, name: &str) -> Result<(), Problem> {
        let refused = match self.catalog.authorize(principal, name).await {
            Ok(_) => return Ok(()),
            Err(refused) => refused,
        };
        Err(match refused {
            Refused::Unknown => Problem::new(
                ProblemType::Forbidden,
                format!("{name} is not offered by this server"),
            ),
            Refused::Disabled => Problem::new(
                ProblemType::Forbidden,
                format!("{name} is disabled on this server (modules.disabled_tools)"),
            ),
            Refused::Denied { needed_scopes } if needed_scopes.is_empty() => Problem::new(
                ProblemType::Forbidden,
                format!("{} may not use {name}", principal.subject),
            ),
            Refused::Denied { needed_scopes } => Problem::new(
                ProblemType::Forbidden,
                format!("{name} needs the scopes: {}", needed_scopes.join(" ")),
            )
            .with_header(
                header::WWW_AUTHENTICATE,
                self.challenges.insufficient_scope(&needed_scopes),
            ),
            Refused::Limited(decision) => {
                Problem::gate(&edge::Refusal::over_limit(decision), &self.challenges)
            }
        })
    }

    /// May `principal` run `op` on `kind`.
    async fn permit_op(&self, principal: &Principal, op: Op, kind: Kind) -> Result<(), Problem> {
        self.permit(principal, &op.tool(kind)).await
    }

    /// The write gate: 405 on a read-only server (with the methods the path still allows), then
    /// the policy for the operation's tool.
    async fn writable(
        &self,
        principal: &Principal,
        allow: Allow,
        op: Op,
        kind: Kind,
    ) -> Result<(), Problem> {
        if !self.write {
            return Err(Problem::new(
                ProblemType::ReadOnly,
                "this server is read-only; set MCPGATE_WORKSPACE_WRITE=true",
            )
            .with_header(header::ALLOW, HeaderValue::from_static(allow.read_only())));
        }
        self.permit_op(principal, op, kind).await
    }

    /// The request body as JSON. Over the body limit (a chunked body the edge could not refuse
    /// by its declared length) it is the edge's 413.
    async fn json_body(&self, body: Body) -> Result<Value, Refusal> {
        let bytes: Bytes = read_body(body, self.max_body_bytes)
            .await
            .map_err(Refusal::Response)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Refusal::Problem(Problem::new(
                ProblemType::BadRequest,
                format!("the body is not valid JSON: {e}"),
            ))
        })
    }
}

/// Which kind of path a request is on, for the `Allow` of a read-only refusal.
#[derive(Debug, Clone, Copy)]
enum Allow {
    /// A collection or a record: still readable.
    Readable,
    /// `…/archive`, `…/process`: POST only.
    ActionOnly,
}

impl Allow {
    fn read_only(self) -> &'static str {
        match self {
            Allow::Readable => "GET, HEAD",
            // RFC 9110 §10.2.1: an empty Allow means the resource allows no methods.
            Allow::ActionOnly => "",
        }
    }
}

/// The query parameters of one operation, from its tool's input schema.
struct Params {
    names: Vec<String>,
    integers: Vec<String>,
    validator: jsonschema::Validator,
}

impl Params {
    fn new(schema: &Value) -> Self {
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Self {
            names: properties.keys().cloned().collect(),
            integers: properties
                .iter()
                .filter(|(_, s)| s["type"] == "integer")
                .map(|(name, _)| name.clone())
                .collect(),
            validator: compile(schema),
        }
    }

    /// The query of `uri` as a JSON object checked against the schema: an unknown or repeated
    /// parameter is a 400, a value that fails the schema a 422 naming the parameter.
    fn read(&self, uri: &Uri) -> Result<Map<String, Value>, Problem> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| Problem::new(ProblemType::BadRequest, e.body_text()))?;
        let mut object = Map::new();
        for (name, value) in pairs {
            if !self.names.contains(&name) {
                return Err(unknown_parameter(&name, &self.names));
            }
            if object.contains_key(&name) {
                return Err(Problem::new(
                    ProblemType::UnknownParameter,
                    format!("the query parameter {name:?} is given more than once"),
                )
                .with_field(name));
            }
            let value = match value.parse::<i64>() {
                Ok(n) if self.integers.contains(&name) => Value::from(n),
                _ => Value::String(value),
            };
            object.insert(name, value);
        }
        let object = Value::Object(object);
        if let Some(error) = self.validator.iter_errors(&object).next() {
            return Err(Problem::invalid(&FieldError::from_schema_error(&error)));
        }
        match object {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        }
    }
}

fn unknown_parameter(name: &str, known: &[String]) -> Problem {
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    Problem::new(
        ProblemType::UnknownParameter,
        format!("unknown query parameter {name:?}; this operation takes: {known}"),
    )
    .with_field(name)
}

/// Refuse any query parameter (operations that take none).
fn no_query(uri: &Uri) -> Result<(), Problem> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| Problem::new(ProblemType::BadRequest, e.body_text()))?;
    match pairs.first() {
        Some((name, _)) => Err(unknown_parameter(name, &[])),
        None => Ok(()),
    }
}

/// A validator for a schema this crate built (a failure to compile is a bug, caught by tests).
fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("a REST input schema does not compile: {e}: {schema}"))
}

/// Why a handler stopped: a problem, or a response the edge already gives (413).
pub enum Refusal {
    /// A problem+json answer.
    Problem(Problem),
    /// Any other answer.
    Response(Response),
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        Self::Problem(problem)
    }
}

impl From<WorkspaceError> for Refusal {
    fn from(error: WorkspaceError) -> Self {
        Self::Problem(Problem::workspace(&error))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Problem(problem) => problem.into_response(),
            Self::Response(response) => response,
        }
    }
}

type Answer = Result<Response, Refusal>;

/// 415 unless the body's media type (parameters aside) is one of `accepted`.
fn media_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), Problem> {
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

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(id)| id)
        .map_err(|e| Problem::new(ProblemType::BadRequest, e.body_text()))
}

/// What every handler on one record starts from: the collection's kind (set by the router),
/// the caller (set by the auth layer), the record's ID or slug from the path, and a query that
/// must be empty. Extracted before the handler runs, in that order of refusal.
pub struct RecordPath {
    kind: Kind,
    principal: Principal,
    id: String,
}

impl RecordPath {
    fn tenant(&self) -> Tenant {
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

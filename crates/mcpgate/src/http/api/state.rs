//! The state every `/api/v1` handler shares ([`Api`]): the workspace service, the write gate,
//! the body limit, the compiled input checks, and the catalog that authorizes each operation as
//! the MCP tool of the same meaning. [`Refusal`] is why a handler stopped: a problem from any
//! check, or the edge's own answer to a body over the limit.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::params::{Params, compile};
use super::problem::{Problem, ProblemType};
use super::shapes::Shapes;
use crate::edge::{self, Challenges, Principal};
use crate::http::edge_layer::read_body;
use crate::mcp::{Catalog, Refused};
use crate::workspace::{Kind, Op, WorkspaceError, WorkspaceService};

/// Who may use which operation, and how often.
pub struct ApiAccess {
    /// The catalog, whose one decision authorizes every tool, as for MCP.
    pub catalog: Catalog,
    /// The challenges of refusals.
    pub challenges: Challenges,
}

/// What the handlers share.
pub struct Api {
    /// The workspace service, called once per request for the caller's tenant.
    pub(super) service: Arc<WorkspaceService>,
    write: bool,
    max_body_bytes: usize,
    /// The query parameters of each collection's list.
    pub(super) list: HashMap<Kind, Params>,
    /// The query parameters of search.
    pub(super) search: Params,
    /// The body of each kind's `process`.
    pub(super) process: HashMap<Kind, jsonschema::Validator>,
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
    pub(super) async fn permit(&self, principal: &Principal, name: &str) -> Result<(), Problem> {
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
    pub(super) async fn permit_op(
        &self,
        principal: &Principal,
        op: Op,
        kind: Kind,
    ) -> Result<(), Problem> {
        self.permit(principal, &op.tool(kind)).await
    }

    /// The write gate: 405 on a read-only server (with the methods the path still allows), then
    /// the policy for the operation's tool.
    pub(super) async fn writable(
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
    pub(super) async fn json_body(&self, body: Body) -> Result<Value, Refusal> {
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
pub(super) enum Allow {
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

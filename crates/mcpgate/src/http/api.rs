//! The REST API: `/api/v1`, the second door onto the workspace service (the MCP `workspace`
//! tools are the first), with the same principal, tenant and permissions, and its OpenAPI 3.1
//! document at `/openapi.json`.
//!
//! | method | path | does | MCP tool |
//! | --- | --- | --- | --- |
//! | GET | `/api/v1/{C}` | one page (`{items, next_cursor}`), filtered | `list_{C}` |
//! | POST | `/api/v1/{C}` | create: 201, `Location`, `ETag` | `create_*` |
//! | GET | `/api/v1/{C}/{id}` | one record by ID or slug, `ETag`; 304 on `If-None-Match` | `get_*` |
//! | PUT | `/api/v1/{C}/{id}` | replace every field; `If-Match` required | `update_*` |
//! | PATCH | `/api/v1/{C}/{id}` | JSON Merge Patch; `If-Match` required | `patch_*` |
//! | DELETE | `/api/v1/{C}/{id}` | delete with children; `If-Match` optional | `delete_*` |
//! | POST | `/api/v1/{C}/{id}/archive` | archive; `If-Match` optional | `archive_*` |
//! | POST | `/api/v1/{C}/{id}/process` | `{"action": …}`; `If-Match` optional | `process_*` |
//! | GET | `/api/v1/search` | `query`, `limit`, `cursor` | `search` |
//! | GET | `/api/v1/fetch/{id}` | one record as a document | `fetch` |
//! | GET | `/openapi.json` | this API's OpenAPI 3.1 document (no authentication) | |
//!
//! `{C}` is each kind's plural: `notes`, `tasks`, `comments`, `chats`, `chat_messages`.
//!
//! Every `/api/v1` request passes the same [`Gate`] as the MCP endpoint (401/403 with its
//! challenge, 429 over the rate, as problem details), and each operation is authorized by the
//! same [`Policy`] as the tool of the same meaning (403 when the caller may not use it). Errors are RFC 9457 problem details (see
//! `problem`); entity tags are record versions (see `conditional`). The OpenAPI document is
//! public, like `/docs` that renders it: it describes the API, not anyone's data.

mod conditional;
mod extract;
mod openapi;
mod params;
mod problem;
mod routes;
mod shapes;
mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};

use crate::edge::Gate;
use crate::http::edge_layer::{body_for_gate, client_certificate, peer_ip, request_facts};
use crate::state::AppState;
use crate::workspace::Kind;

/// `/api/v1/*` and `/openapi.json`. The OpenAPI document is built and serialized here, once.
pub fn router(state: &AppState) -> Router {
    let service = &state.workspace;
    let shapes = shapes::Shapes::new(service.limits());
    let document = openapi::document(&shapes, &service.limits().public_url);
    let document = Bytes::from(document.to_string());
    let api = Arc::new(state::Api::new(
        Arc::clone(service),
        state.config.workspace.write,
        state.config.http.max_body_bytes,
        &shapes,
        state::ApiAccess {
            catalog: state.catalog.clone(),
            challenges: state.gate.challenges().clone(),
        },
    ));

    let mut v1 = Router::new();
    for kind in Kind::ALL {
        let base = format!("/api/v1/{}", kind.plural());
        v1 = v1.merge(
            Router::new()
                .route(&base, get(routes::list).post(routes::create))
                .route(
                    &format!("{base}/{{id}}"),
                    get(routes::get)
                        .put(routes::replace)
                        .patch(routes::patch)
                        .delete(routes::delete),
                )
                .route(&format!("{base}/{{id}}/archive"), post(routes::archive))
                .route(&format!("{base}/{{id}}/process"), post(routes::process))
                .layer(Extension(kind)),
        );
    }
    let v1 = v1
        .route("/api/v1/search", get(routes::search))
        .route("/api/v1/fetch/{id}", get(routes::fetch))
        .route("/api/v1", any(routes::not_found))
        .route("/api/v1/", any(routes::not_found))
        .route("/api/v1/{*rest}", any(routes::not_found))
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(from_fn_with_state(
            ApiGate {
                gate: state.gate.clone(),
                max_body_bytes: state.config.http.max_body_bytes,
            },
            admit,
        ))
        .with_state(api);

    v1.route(
        "/openapi.json",
        get(move || {
            let document = document.clone();
            async move { openapi_json(document) }
        }),
    )
}

/// The gate of `/api/v1`, and the body limit for gates that read the body.
#[derive(Clone)]
struct ApiGate {
    gate: Gate,
    max_body_bytes: usize,
}

/// Every `/api/v1` request: the caller's principal into the request, or the gate's refusal as
/// a problem; admitted answers carry the `RateLimit-*` fields when a limit applied.
async fn admit(State(api): State<ApiGate>, mut request: Request, next: Next) -> Response {
    let gate = &api.gate;
    let body = match body_for_gate(gate, &mut request, api.max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let facts = body.as_deref().map(|body| request_facts(&request, body));
    let admission = match gate
        .admit(
            request.headers(),
            facts,
            client_certificate(&request),
            peer_ip(&request),
            "/api/v1",
            true,
        )
        .await
    {
        Ok(admission) => admission,
        Err(refusal) => {
            return problem::Problem::gate(&refusal, api.gate.challenges()).into_response();
        }
    };
    request.extensions_mut().insert(admission.principal);
    let mut response = next.run(request).await;
    if let Some(decision) = admission.decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

fn openapi_json(document: Bytes) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        document,
    )
        .into_response()
}

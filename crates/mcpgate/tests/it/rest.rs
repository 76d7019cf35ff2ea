//! The REST API (`/api/v1`) and its OpenAPI document, through the whole router in process:
//! every operation on every collection, conditional requests, filters and paging, problem
//! details, authentication, roles, tenancy and the read-only switch. The scenarios that touch
//! the store run on SQLite and on PostgreSQL (when `MCPGATE_TEST_DATABASE_URL` names a server;
//! always under CI).
//!
//! The fixture and its request builders are in `fixture`; the scenarios, grouped by concern, in
//! `records`, `lists`, `refusals` and `openapi`. Every test keeps its name under `rest::sqlite`,
//! `rest::postgres` or `rest` itself, whichever module its scenario lives in.

mod fixture;
mod lists;
mod openapi;
mod records;
mod refusals;

/// Run each `module::scenario` as one test per backend, named `sqlite::scenario` and
/// `postgres::scenario`.
macro_rules! on_both_backends {
    ($($module:ident :: $scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$module::$scenario(super::fixture::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$module::$scenario(super::fixture::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    records::crud_and_conditional_requests,
    lists::lists_filter_and_page,
    records::archive_process_and_delete,
    lists::search_and_fetch,
    refusals::errors_are_problem_details,
    refusals::authentication_roles_and_tenancy,
    refusals::read_only_server_refuses_writes,
);

/// The OpenAPI document, on SQLite only: it does not depend on the store.
#[tokio::test]
async fn openapi_document_is_served_and_valid() {
    openapi::openapi_document_is_served_and_valid().await;
}

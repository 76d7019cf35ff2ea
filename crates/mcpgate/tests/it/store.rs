//! Both store backends: migrations are applied and readiness follows them; PostgreSQL runs
//! wherever the environment provides it (always in CI).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mcpgate::store::{self, Store};

use crate::support::{app, config, modern_call, oneshot, postgres_database};

async fn readyz(router: &axum::Router) -> (StatusCode, serde_json::Value) {
    let request = Request::get("/readyz")
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = oneshot(router, request).await;
    (status, serde_json::from_str(&body).expect("json"))
}

async fn health_backend(router: &axum::Router) -> String {
    let request = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "health")
        .body(Body::from(modern_call(1, "health", serde_json::json!({}))))
        .expect("request");
    let (_, _, body) = oneshot(router, request).await;
    let message: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        message["result"]["structuredContent"]["status"], "ok",
        "{message}"
    );
    message["result"]["structuredContent"]["components"]["store"]["backend"]
        .as_str()
        .expect("backend")
        .to_owned()
}

#[tokio::test]
async fn sqlite_store_is_migrated_before_it_is_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, &[]);
    let store = store::open(&cfg.store).await.expect("open");
    assert!(
        !store.is_migrated().await.expect("check"),
        "a new database has pending migrations"
    );
    assert_eq!(
        store.migrate().await.expect("migrate"),
        2,
        "instance and workspace"
    );
    assert!(store.is_migrated().await.expect("check"));
    assert_eq!(store.migrate().await.expect("migrate again"), 0);
    store.close().await;

    let (app, _dir) = app(&[]).await;
    let router = app.router();
    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(health_backend(&router).await, "sqlite");
}

#[tokio::test]
async fn postgres_store_migrates_and_serves() {
    let Some(db) = postgres_database().await else {
        return;
    };
    let (app, _dir) = app(&[("MCPGATE_DATABASE_URL", &db.url)]).await;
    let router = app.router();
    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(health_backend(&router).await, "postgres");

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, &[("MCPGATE_DATABASE_URL", &db.url)]);
    let again: std::sync::Arc<dyn Store> = store::open(&cfg.store).await.expect("open");
    assert!(again.is_migrated().await.expect("check"));
    assert_eq!(again.migrate().await.expect("idempotent"), 0);
    again.close().await;
}

#[tokio::test]
async fn unreachable_postgres_fails_start_with_the_setting_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let cfg = config(
        &dir,
        &[
            ("MCPGATE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("MCPGATE_DB_ACQUIRE_TIMEOUT", "2s"),
        ],
    );
    let error = match mcpgate::App::build(cfg).await {
        Ok(_) => panic!("an unreachable database cannot start the app"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("store.database_url"), "{error}");
}

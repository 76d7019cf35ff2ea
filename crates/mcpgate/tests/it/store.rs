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
        3,
        "instance, workspace and tool pins"
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

/// Pins are kept per upstream: first sight never overwrites, an approval does.
async fn tool_pins_round_trip(store: &dyn Store) {
    let pin = |tool: &str, digest: &str| (tool.to_owned(), digest.to_owned());
    store
        .pin_tools("files", &[pin("read", "d1"), pin("write", "d2")], false)
        .await
        .expect("pin");
    store
        .pin_tools("files", &[pin("read", "changed")], false)
        .await
        .expect("first sight only");
    store
        .pin_tools("other", &[pin("read", "o1")], false)
        .await
        .expect("pin");
    let pins = store.tool_pins("files").await.expect("pins");
    assert_eq!(pins.len(), 2);
    assert_eq!(pins["read"], "d1", "a first-sight pin never overwrites");
    store
        .pin_tools("files", &[pin("read", "approved")], true)
        .await
        .expect("approve");
    assert_eq!(
        store.tool_pins("files").await.expect("pins")["read"],
        "approved"
    );
    assert_eq!(store.tool_pins("other").await.expect("pins")["read"], "o1");
    assert!(store.tool_pins("none").await.expect("pins").is_empty());
}

#[tokio::test]
async fn tool_pins_are_kept_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = store::open(&config(&dir, &[]).store).await.expect("open");
    sqlite.migrate().await.expect("migrate");
    tool_pins_round_trip(sqlite.as_ref()).await;
    sqlite.close().await;

    let Some(db) = postgres_database().await else {
        return;
    };
    let cfg = config(&dir, &[("MCPGATE_DATABASE_URL", &db.url)]);
    let postgres = store::open(&cfg.store).await.expect("open");
    postgres.migrate().await.expect("migrate");
    tool_pins_round_trip(postgres.as_ref()).await;
    postgres.close().await;
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

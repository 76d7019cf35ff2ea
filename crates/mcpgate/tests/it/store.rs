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
        6,
        "instance, workspace, tool pins, list filters, tags and search terms"
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

/// Every list query the tools and REST accept, with a cursor or not, in each order: filters on
/// status, parent, tag, archive state and change time.
fn list_queries() -> Vec<mcpgate::workspace::port::ListQuery> {
    use mcpgate::workspace::port::{After, ArchivedFilter, Kind, ListQuery, SortField, SortKey};
    let mut queries = Vec::new();
    let filters = [
        (None, None, None),
        (Some("done"), None, None),
        (None, Some("task-1"), None),
        (Some("done"), Some("task-1"), None),
        (None, None, Some("urgent")),
        (Some("done"), None, Some("urgent")),
        (None, Some("task-1"), Some("urgent")),
    ];
    for sort in [SortField::CreatedAt, SortField::UpdatedAt, SortField::Title] {
        for descending in [false, true] {
            for (status, parent, tag) in filters {
                for archived in [
                    ArchivedFilter::Exclude,
                    ArchivedFilter::Only,
                    ArchivedFilter::Include,
                ] {
                    for after in [false, true] {
                        queries.push(ListQuery {
                            kind: Kind::Task,
                            status: status.map(str::to_owned),
                            tag: tag.map(str::to_owned),
                            parent_id: parent.map(str::to_owned),
                            archived,
                            updated_since: (archived == ArchivedFilter::Include)
                                .then(chrono::Utc::now),
                            sort,
                            descending,
                            after: after.then(|| After {
                                key: match sort {
                                    SortField::Title => SortKey::Text("m".into()),
                                    _ => SortKey::Micros(1_700_000_000_000_000),
                                },
                                id: "01J0000000000000000000000".into(),
                            }),
                            limit: 20,
                        });
                    }
                }
            }
        }
    }
    queries
}

/// A migrated PostgreSQL store over a fresh database (kept while the guard lives), or `None`
/// when none is configured.
async fn migrated_postgres(dir: &tempfile::TempDir) -> Option<(store::PostgresStore, impl Sized)> {
    let db = postgres_database().await?;
    let cfg = config(dir, &[("MCPGATE_DATABASE_URL", &db.url)]);
    let postgres = store::PostgresStore::connect(&cfg.store)
        .await
        .expect("connect");
    postgres.migrate().await.expect("migrate");
    Some((postgres, db))
}

/// A migrated SQLite store in `dir`, and a tenant to ask it for.
async fn migrated_sqlite(
    dir: &tempfile::TempDir,
) -> (store::SqliteStore, mcpgate::workspace::Tenant) {
    use mcpgate::edge::{AuthVia, Principal};
    let principal = Principal::new("alice", "acme", "admin", AuthVia::Default);
    let sqlite = store::SqliteStore::open(&config(dir, &[]).store)
        .await
        .expect("open");
    sqlite.migrate().await.expect("migrate");
    (sqlite, mcpgate::workspace::Tenant::of(&principal))
}

#[tokio::test]
async fn sqlite_reads_a_search_window_newest_first_from_the_full_text_index() {
    use mcpgate::workspace::search::SearchWindow;
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, tenant) = migrated_sqlite(&dir).await;
    for (words, before) in [(vec!["incident"], None), (vec!["inc", "deploy"], Some(99))] {
        let window = SearchWindow {
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            before,
            size: 200,
        };
        let plan = sqlite.search_plan(&tenant, &window).await.expect("plan");
        // The index is walked in the window's order (no sort of every match) and each match's
        // record is found by its rowid: the window stops after its size.
        assert!(
            plan.iter()
                .any(|s| s.contains("SCAN records_fts VIRTUAL TABLE"))
                && plan
                    .iter()
                    .any(|s| s.starts_with("SEARCH r USING INTEGER PRIMARY KEY"))
                && plan.iter().all(|s| !s.contains("TEMP B-TREE")),
            "{window:?}\n{plan:#?}"
        );
    }
    sqlite.close().await;

    // PostgreSQL, as the tenant: the words the longest search word begins and the walk of
    // their rows both read `record_words` (the GIN index on `search` cannot serve under
    // row-level security); a broad prefix's walk of the newest records reads
    // `records_recent`. None reads a table.
    let Some((postgres, _db)) = migrated_postgres(&dir).await else {
        return;
    };
    let window = SearchWindow {
        words: vec!["inc".to_owned(), "deploy".to_owned()],
        before: Some(99),
        size: 200,
    };
    let plans = postgres.search_plan(&tenant, &window).await.expect("plan");
    let [words, walk, recent] = plans.as_slice() else {
        panic!("three statements: {plans:#?}");
    };
    for (plan, index) in [
        (words, "record_words_lookup"),
        (walk, "record_words_lookup"),
        (recent, "records_recent"),
    ] {
        assert!(
            plan.iter().all(|line| !line.contains("Seq Scan"))
                && plan.iter().any(|line| line.contains(index)),
            "{}",
            plan.join("\n")
        );
    }
    // A new record's free slug: the slug is a bound of the index scan, never a filter over
    // every slug of the kind (which made inserts cost in step with the records).
    let plan = postgres
        .slug_plan(&tenant, mcpgate::workspace::Kind::Note, "release-plan")
        .await
        .expect("slug plan");
    assert!(
        plan.iter()
            .filter(|line| line.contains("Index Cond"))
            .all(|line| line.contains("slug"))
            && plan
                .iter()
                .all(|line| !line.trim_start().starts_with("Filter:")),
        "{}",
        plan.join("\n")
    );
    postgres.close().await;
}

#[tokio::test]
async fn list_filters_are_served_by_indexes_in_the_lists_order_on_both_backends() {
    use mcpgate::workspace::port::SortField;
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, tenant) = migrated_sqlite(&dir).await;
    for query in list_queries() {
        let plan = sqlite.list_plan(&tenant, &query).await.expect("plan");
        // No walk of the whole table, and no sort of every match: the page is read in order.
        // (With `updated_since` SQLite may instead read the records changed since then through
        // the update index and sort those: bounded by what changed, not by the table.)
        let sorted_ok = query.updated_since.is_some() && query.sort != SortField::UpdatedAt;
        assert!(
            plan.iter()
                .all(|step| !step.starts_with("SCAN ")
                    && (sorted_ok || !step.contains("TEMP B-TREE"))),
            "{query:?}\n{plan:#?}"
        );
        // A status, parent or tag filter is a condition of the index walked, not a check of
        // each record of the kind; a tag's own rows are walked.
        if query.tag.is_some() {
            assert!(
                plan.iter()
                    .any(|step| step.starts_with("SEARCH t ") && step.contains("tag=?")),
                "{query:?}\n{plan:#?}"
            );
        } else if (query.status.is_some() || query.parent_id.is_some())
            && query.updated_since.is_none()
        {
            assert!(
                plan.iter()
                    .any(|step| step.contains("status=?") || step.contains("parent_id=?")),
                "{query:?}\n{plan:#?}"
            );
        }
    }
    sqlite.close().await;

    let Some((postgres, _db)) = migrated_postgres(&dir).await else {
        return;
    };
    for query in list_queries() {
        let plan = postgres.list_plan(&tenant, &query).await.expect("plan");
        let steps: Vec<&str> = plan
            .iter()
            .map(|line| line.trim_start().trim_start_matches("->").trim_start())
            .collect();
        // The plan kept for every call (generic: its conditions name parameters, not
        // values). With sequential scans and sorts priced out, neither is left: an index
        // serves the filters in the list's order.
        assert!(
            steps.iter().any(|step| step.contains("$1")),
            "{query:?}\n{}",
            plan.join("\n")
        );
        assert!(
            steps
                .iter()
                .all(|step| !step.starts_with("Seq Scan") && !step.starts_with("Sort ")),
            "{query:?}\n{}",
            plan.join("\n")
        );
        if query.status.is_some() || query.parent_id.is_some() || query.tag.is_some() {
            let column = if query.tag.is_some() { "tag =" } else { "" };
            assert!(
                steps.iter().any(|step| step.starts_with("Index Cond")
                    && if column.is_empty() {
                        step.contains("status =") || step.contains("parent_id =")
                    } else {
                        step.contains(column)
                    }),
                "{query:?}\n{}",
                plan.join("\n")
            );
        }
    }
    postgres.close().await;
}

/// Every page of `query` for `t`, walked to the end: the titles, in order.
async fn search_all(
    service: &mcpgate::workspace::WorkspaceService,
    t: &mcpgate::workspace::Tenant,
    query: &str,
) -> Vec<String> {
    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let page = service
            .search(t, query, Some(100), cursor.as_deref())
            .await
            .expect("search");
        titles.extend(page.results.into_iter().map(|r| r.title));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return titles,
        }
    }
    panic!("the walk of {query:?} ends");
}

#[tokio::test]
async fn words_older_than_the_newest_records_are_found_through_their_own_rows_on_both_backends() {
    use mcpgate::edge::{AuthVia, Principal};
    use mcpgate::workspace::{Kind, Tenant, WorkspaceService};
    use serde_json::{Value, json};
    use std::collections::BTreeSet;

    let dir = tempfile::tempdir().expect("tempdir");
    let pg = postgres_database().await;
    let mut urls = vec![format!("sqlite://{}/search.db", dir.path().display())];
    urls.extend(pg.as_ref().map(|db| db.url.clone()));
    let acme = Tenant::of(&Principal::new("alice", "acme", "admin", AuthVia::Default));
    let other = Tenant::of(&Principal::new(
        "mallory",
        "other",
        "admin",
        AuthVia::Default,
    ));
    let mut orders = Vec::new();
    for url in urls {
        let cfg = config(&dir, &[("MCPGATE_DATABASE_URL", &url)]);
        let store = store::open(&cfg.store).await.expect("open");
        store.migrate().await.expect("migrate");
        let service = WorkspaceService::new(store.clone(), cfg.workspace.limits());
        // 2,600 notes; the words searched for are only in the oldest 600, so the newest 2,000
        // hold none of them and the search goes to the words' own rows. `zephyrine` (the
        // longest word, which drives) is in every 2nd of those, more than a batch of rows,
        // `wombat` in every 100th of them, `quokkas` in every 7th, and `quokka` too in every
        // other one of those (one prefix, two words, sometimes in one record). A broad prefix:
        // `zz` begins 200 distinct words, none in the newest records, and `yy` 250, one in
        // every record (SQLite reads a prefix as at most 256 words).
        let body = |n: usize| {
            let mut words = vec![format!("filler text number {n}")];
            if n < 600 && n.is_multiple_of(2) {
                words.push("zephyrine".into());
            }
            if n < 600 && n.is_multiple_of(100) {
                words.push("wombat".into());
            }
            if n < 600 && n.is_multiple_of(7) {
                words.push("quokkas".into());
                if n.is_multiple_of(2) {
                    words.push("quokka".into());
                }
            }
            if n < 600 && n.is_multiple_of(3) {
                words.push(format!("zz{n}"));
            }
            words.push(format!("yy{}", n % 250));
            words.join(" ")
        };
        let notes: Vec<Value> = (0..2600)
            .map(|n| json!({"title": format!("Note {n:04}"), "body": body(n)}))
            .collect();
        for chunk in notes.chunks(500) {
            let drafts: Vec<(Kind, &Value)> = chunk.iter().map(|v| (Kind::Note, v)).collect();
            service.create_many(&acme, &drafts).await.expect("seed");
        }
        // Another org's records with the same words are never found.
        let theirs = json!({"title": "Theirs", "body": "zephyrine wombat quokka"});
        service
            .create_many(&other, &[(Kind::Note, &theirs)])
            .await
            .expect("other org");
        let expected = |keep: &dyn Fn(usize) -> bool| -> BTreeSet<String> {
            (0..2600)
                .filter(|n| keep(*n))
                .map(|n| format!("Note {n:04}"))
                .collect()
        };
        let found = |titles: &[String]| -> BTreeSet<String> { titles.iter().cloned().collect() };

        // Two words, the driver's rows mostly failing the other: batches until its rows end.
        let both = search_all(&service, &acme, "wombat zephyrine").await;
        assert_eq!(
            found(&both),
            expected(&|n| n < 600 && n.is_multiple_of(100)),
            "{url}"
        );
        // One prefix over two distinct words, more matches than a window holds.
        let prefix = search_all(&service, &acme, "quok").await;
        assert_eq!(prefix.len(), found(&prefix).len(), "{url}: no match twice");
        assert_eq!(
            found(&prefix),
            expected(&|n| n < 600 && n.is_multiple_of(7)),
            "{url}"
        );
        let broad_old = search_all(&service, &acme, "zz").await;
        assert_eq!(
            found(&broad_old),
            expected(&|n| n < 600 && n.is_multiple_of(3)),
            "{url}"
        );
        let broad_new = search_all(&service, &acme, "yy").await;
        assert_eq!(broad_new.len(), 2600, "{url}");
        assert_eq!(found(&broad_new), expected(&|_| true), "{url}");

        // An archived, a deleted and a rewritten record leave the results.
        let page = service
            .search(&acme, "wombat", Some(10), None)
            .await
            .expect("search");
        let ids: Vec<String> = page.results.iter().map(|r| r.id.clone()).collect();
        let [archived, deleted, rewritten, ..] = ids.as_slice() else {
            panic!("{url}: six wombats, found {ids:?}");
        };
        service
            .archive(&acme, Kind::Note, archived, None)
            .await
            .expect("archive");
        service
            .delete(&acme, Kind::Note, deleted, None)
            .await
            .expect("delete");
        service
            .patch(&acme, Kind::Note, rewritten, 1, &json!({"body": "calm"}))
            .await
            .expect("patch");
        let after = search_all(&service, &acme, "wombat").await;
        assert_eq!(after.len(), 3, "{url}: {after:?}");
        let zephyrine = search_all(&service, &acme, "zephyrine").await;
        assert_eq!(zephyrine.len(), 300 - 3, "{url}");
        orders.push((url, [both, prefix, broad_old, broad_new, after, zephyrine]));
        store.close().await;
    }
    if let [(_, sqlite), (_, postgres)] = orders.as_slice() {
        assert_eq!(sqlite, postgres, "both backends rank and page alike");
    }

    // PostgreSQL keeps no word rows for what is deleted or rewritten.
    let Some(db) = pg else { return };
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let stale: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM record_words w WHERE NOT EXISTS ( \
         SELECT 1 FROM records r WHERE r.id = w.id AND r.seq = w.seq \
         AND w.word = ANY (tsvector_to_array(r.search)))",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(stale, 0, "word rows of deleted or rewritten records");
    pool.close().await;
}

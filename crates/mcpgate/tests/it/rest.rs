//! The REST API (`/api/v1`) and its OpenAPI document, through the whole router in process:
//! every operation on every collection, conditional requests, filters and paging, problem
//! details, authentication, roles, tenancy and the read-only switch. The scenarios that touch
//! the store run on SQLite and on PostgreSQL (when `MCPGATE_TEST_DATABASE_URL` names a server;
//! always under CI).

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use mcpgate::App;
use serde_json::{Value, json};

use crate::support::{PgDatabase, config, oneshot, postgres_database};

/// The store a scenario runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Run `scenario` as one test per backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    crud_and_conditional_requests,
    lists_filter_and_page,
    archive_process_and_delete,
    search_and_fetch,
    errors_are_problem_details,
    authentication_roles_and_tenancy,
    read_only_server_refuses_writes,
);

/// An app on one backend, and what must outlive it.
struct Rest {
    router: axum::Router,
    _app: App,
    _dir: tempfile::TempDir,
    _db: Option<PgDatabase>,
}

/// Settings of a server that accepts writes.
const WRITE: &[(&str, &str)] = &[("MCPGATE_WORKSPACE_WRITE", "true")];

impl Rest {
    /// An app on `backend` configured by `env`; `None` when PostgreSQL is not available here
    /// (never under CI).
    async fn start(backend: Backend, env: &[(&str, &str)]) -> Option<Self> {
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_database().await?),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = config(&dir, env);
        if let Some(db) = &db {
            cfg.store.database_url = db.url.clone();
        }
        let app = App::build(cfg).await.expect("app builds");
        Some(Self {
            router: app.router(),
            _app: app,
            _dir: dir,
            _db: db,
        })
    }

    async fn send(&self, call: Call) -> Reply {
        let mut request = Request::builder()
            .method(call.method)
            .uri(&call.path)
            .header(header::HOST, "localhost");
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(call.body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let (status, headers, text) = oneshot(&self.router, request).await;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        Reply {
            what: format!("{} {}", call.method, call.path),
            status,
            headers,
            body,
        }
    }

    /// Create a record and return it (asserting 201).
    async fn create(&self, collection: &str, fields: Value, token: &str) -> Value {
        let reply = self
            .send(post(&format!("/api/v1/{collection}"), &fields).token(token))
            .await;
        reply.expect(StatusCode::CREATED);
        reply.body
    }
}

/// One request.
struct Call {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Call {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn token(self, token: &str) -> Self {
        if token.is_empty() {
            self
        } else {
            self.header("authorization", &format!("Bearer {token}"))
        }
    }

    fn if_match(self, version: i64) -> Self {
        self.header("if-match", &format!("\"{version}\""))
    }
}

fn call(method: &'static str, path: &str) -> Call {
    Call {
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: None,
    }
}

fn get(path: &str) -> Call {
    call("GET", path)
}

fn delete(path: &str) -> Call {
    call("DELETE", path)
}

/// A request with a JSON body of media type `content_type`.
fn with_body(method: &'static str, path: &str, content_type: &str, body: &Value) -> Call {
    let mut c = call(method, path).header("content-type", content_type);
    c.body = Some(body.to_string());
    c
}

fn post(path: &str, body: &Value) -> Call {
    with_body("POST", path, "application/json", body)
}

fn put(path: &str, body: &Value) -> Call {
    with_body("PUT", path, "application/json", body)
}

fn merge_patch(path: &str, body: &Value) -> Call {
    with_body("PATCH", path, "application/merge-patch+json", body)
}

/// One answer.
struct Reply {
    what: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status, status,
            "{}: {}\nheaders: {:?}",
            self.what, self.body, self.headers
        );
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn etag(&self) -> &str {
        self.header("etag")
            .unwrap_or_else(|| panic!("{}: no ETag", self.what))
    }

    /// Assert a problem+json answer of `status` and type slug `slug`.
    #[track_caller]
    fn problem(&self, status: StatusCode, slug: &str) -> &Self {
        self.expect(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.what
        );
        assert_eq!(
            self.body["type"],
            format!("https://mcpgate.dev/problems/{slug}"),
            "{}: {}",
            self.what,
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.what);
        assert!(self.body["title"].is_string(), "{}", self.what);
        assert!(self.body["detail"].is_string(), "{}", self.what);
        self
    }

    fn items(&self) -> Vec<Value> {
        self.body["items"].as_array().cloned().unwrap_or_default()
    }

    fn ids(&self) -> Vec<String> {
        self.items()
            .iter()
            .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn id(record: &Value) -> String {
    record["id"].as_str().expect("record id").to_owned()
}

fn version(record: &Value) -> i64 {
    record["version"].as_i64().expect("record version")
}

/// What one collection's walk creates, changes and checks.
struct Case {
    collection: &'static str,
    create: Value,
    replace: Value,
    /// A merge patch, and one member it must leave as shown.
    patch: Value,
    patched: (&'static str, Value),
    /// An action that applies after the patch, and one member it must leave as shown.
    action: &'static str,
    processed: (&'static str, Value),
}

fn cases(task: &str, chat: &str) -> Vec<Case> {
    vec![
        Case {
            collection: "notes",
            create: json!({"title": "Release checklist", "body": "- [ ] tag", "tags": ["Release"]}),
            replace: json!({"title": "Release checklist", "body": "- [x] tag", "tags": ["release", "q4"]}),
            patch: json!({"pinned": true}),
            patched: ("pinned", json!(true)),
            action: "unpin",
            processed: ("pinned", json!(false)),
        },
        Case {
            collection: "tasks",
            create: json!({"title": "Ship the beta", "priority": "high", "assignee": "alice"}),
            replace: json!({"title": "Ship the beta", "priority": "normal", "assignee": "alice", "due": "2026-12-01"}),
            patch: json!({"priority": "urgent", "assignee": null}),
            patched: ("priority", json!("urgent")),
            action: "start",
            processed: ("status", json!("in_progress")),
        },
        Case {
            collection: "comments",
            create: json!({"target_type": "task", "target_id": task, "body": "The old key expires on the 3rd."}),
            replace: json!({"target_type": "task", "target_id": task, "body": "It expires on the 4th."}),
            patch: json!({"body": "Fixed in the latest build."}),
            patched: ("body", json!("Fixed in the latest build.")),
            action: "resolve",
            processed: ("status", json!("resolved")),
        },
        Case {
            collection: "chats",
            create: json!({"title": "Incident 7 retro"}),
            replace: json!({"title": "Incident 7 retro (draft)"}),
            patch: json!({"title": "Incident 7 retro (final)"}),
            patched: ("title", json!("Incident 7 retro (final)")),
            action: "close",
            processed: ("status", json!("closed")),
        },
        Case {
            collection: "chat_messages",
            create: json!({"chat_id": chat, "role": "user", "content": "What failed first?"}),
            replace: json!({"chat_id": chat, "role": "user", "content": "What failed first, and when?"}),
            patch: json!({"pinned": true}),
            patched: ("pinned", json!(true)),
            action: "unpin",
            processed: ("pinned", json!(false)),
        },
    ]
}

/// Create, read (by ID, by slug, revalidated), replace, patch and process a record of every
/// collection, with every precondition outcome.
async fn crud_and_conditional_requests(backend: Backend) {
    let Some(rest) = Rest::start(backend, WRITE).await else {
        return;
    };
    let task = rest
        .create("tasks", json!({"title": "Rotate the signing key"}), "")
        .await;
    let chat = rest
        .create("chats", json!({"title": "Incident 42 retro"}), "")
        .await;
    assert_eq!(task["slug"], "rotate-the-signing-key");

    for case in cases("rotate-the-signing-key", "incident-42-retro") {
        let c = case.collection;
        let collection = format!("/api/v1/{c}");

        // Create: 201, Location, ETag "1".
        let created = rest.send(post(&collection, &case.create)).await;
        created.expect(StatusCode::CREATED);
        let record = created.body.clone();
        let rid = id(&record);
        assert_eq!(version(&record), 1, "{c}");
        assert_eq!(created.etag(), "\"1\"", "{c}");
        let location = created.header("location").expect("Location").to_owned();
        assert_eq!(location, record["url"].as_str().expect("url"), "{c}");
        assert!(
            location.ends_with(&format!("/api/v1/{c}/{rid}")),
            "{location}"
        );
        if c == "comments" {
            assert_eq!(
                record["target_id"],
                id(&task),
                "the slug is stored as the ID"
            );
        }
        if c == "chat_messages" {
            assert_eq!(record["chat_id"], id(&chat));
        }
        if c == "notes" {
            assert_eq!(record["tags"], json!(["release"]), "tags are normalized");
        }

        // Read by ID, by slug, and revalidate.
        let item = format!("{collection}/{rid}");
        let read = rest.send(get(&item)).await;
        read.expect(StatusCode::OK);
        assert_eq!(read.body, record, "{c}");
        assert_eq!(read.etag(), "\"1\"");
        assert_eq!(read.header("cache-control"), Some("private, no-cache"));
        assert_eq!(read.header("content-type"), Some("application/json"));
        if let Some(slug) = record["slug"].as_str() {
            let by_slug = rest.send(get(&format!("{collection}/{slug}"))).await;
            by_slug.expect(StatusCode::OK);
            assert_eq!(by_slug.body["id"], record["id"], "{c}");
        } else {
            assert!(matches!(c, "comments" | "chat_messages"), "{c} has a slug");
        }
        let fresh = rest.send(get(&item).header("if-none-match", "\"1\"")).await;
        fresh.expect(StatusCode::NOT_MODIFIED);
        assert_eq!(fresh.body, Value::Null, "304 has no body");
        assert_eq!(fresh.etag(), "\"1\"");
        let weak = rest
            .send(get(&item).header("if-none-match", "\"7\", W/\"1\""))
            .await;
        weak.expect(StatusCode::NOT_MODIFIED);
        rest.send(get(&item).header("if-none-match", "\"2\""))
            .await
            .expect(StatusCode::OK);

        // Replace: If-Match required, stale refused with the current version.
        let replaced = rest.send(put(&item, &case.replace).if_match(1)).await;
        replaced.expect(StatusCode::OK);
        assert_eq!(replaced.etag(), "\"2\"", "{c}");
        assert_eq!(version(&replaced.body), 2);
        for (field, value) in case.replace.as_object().expect("object") {
            if field != "target_id" && field != "chat_id" && field != "tags" {
                assert_eq!(&replaced.body[field], value, "{c}.{field}");
            }
        }
        if c == "tasks" {
            assert_eq!(replaced.body["status"], "todo", "left-out fields reset");
        }
        let stale = rest.send(put(&item, &case.replace).if_match(1)).await;
        stale.problem(StatusCode::PRECONDITION_FAILED, "version-conflict");
        assert_eq!(stale.body["current_version"], 2, "{c}");
        rest.send(put(&item, &case.replace))
            .await
            .problem(StatusCode::PRECONDITION_REQUIRED, "precondition-required");
        rest.send(put(&item, &case.replace).header("if-match", "*"))
            .await
            .problem(StatusCode::PRECONDITION_REQUIRED, "precondition-required");

        // Patch: merge-patch+json (and plain JSON), If-Match required.
        let patched = rest.send(merge_patch(&item, &case.patch).if_match(2)).await;
        patched.expect(StatusCode::OK);
        assert_eq!(patched.etag(), "\"3\"");
        assert_eq!(patched.body[case.patched.0], case.patched.1, "{c}");
        if c == "tasks" {
            assert!(
                patched.body.get("assignee").is_none(),
                "null removes a field"
            );
            assert_eq!(patched.body["due"], "2026-12-01", "untouched fields stay");
        }
        rest.send(merge_patch(&item, &case.patch))
            .await
            .problem(StatusCode::PRECONDITION_REQUIRED, "precondition-required");
        rest.send(merge_patch(&item, &case.patch).if_match(2))
            .await
            .problem(StatusCode::PRECONDITION_FAILED, "version-conflict");
        let plain = rest
            .send(with_body("PATCH", &item, "application/json", &case.patch).if_match(3))
            .await;
        plain.expect(StatusCode::OK);
        assert_eq!(plain.etag(), "\"4\"");

        // Process (If-Match optional), then the same action no longer applies.
        let processed = rest
            .send(post(&format!("{item}/process"), &json!({"action": case.action})).if_match(4))
            .await;
        processed.expect(StatusCode::OK);
        assert_eq!(processed.etag(), "\"5\"");
        assert_eq!(processed.body[case.processed.0], case.processed.1, "{c}");
        rest.send(post(
            &format!("{item}/process"),
            &json!({"action": case.action}),
        ))
        .await
        .problem(StatusCode::CONFLICT, "invalid-transition");

        let read = rest.send(get(&item)).await;
        read.expect(StatusCode::OK);
        assert_eq!(read.etag(), "\"5\"");
        assert_eq!(read.body, processed.body);
    }
}

/// Filters, sorting, cursor paging, and the 400/422 of bad queries.
async fn lists_filter_and_page(backend: Backend) {
    let Some(rest) = Rest::start(backend, WRITE).await else {
        return;
    };
    let mut created = Vec::new();
    for n in 1..=5 {
        let tag = if n % 2 == 1 { "ops" } else { "dev" };
        let task = rest
            .create(
                "tasks",
                json!({"title": format!("Task {n}"), "tags": [tag]}),
                "",
            )
            .await;
        created.push(id(&task));
    }
    rest.send(post(
        "/api/v1/tasks/task-2/process",
        &json!({"action": "start"}),
    ))
    .await
    .expect(StatusCode::OK);

    // Cursor paging: every task once, newest first.
    let mut seen = Vec::new();
    let mut path = "/api/v1/tasks?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = rest.send(get(&path)).await;
        page.expect(StatusCode::OK);
        assert!(page.items().len() <= 2);
        seen.extend(page.ids());
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/tasks?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let list = |query: &str| rest.send(get(&format!("/api/v1/tasks?{query}")));
    let titles = |reply: &Reply| -> Vec<String> {
        reply
            .items()
            .iter()
            .map(|i| i["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let r = list("status=in_progress").await;
    r.expect(StatusCode::OK);
    assert_eq!(titles(&r), ["Task 2"]);
    let r = list("tag=ops").await;
    assert_eq!(r.items().len(), 3);
    let r = list("tag=ops&status=todo&sort=title&order=asc").await;
    assert_eq!(titles(&r), ["Task 1", "Task 3", "Task 5"]);
    let r = list("sort=title&order=desc&limit=100").await;
    assert_eq!(
        titles(&r),
        ["Task 5", "Task 4", "Task 3", "Task 2", "Task 1"]
    );
    let r = list("updated_since=2000-01-01T00:00:00Z").await;
    assert_eq!(r.items().len(), 5);
    let r = list("updated_since=2999-01-01T00:00:00Z").await;
    assert_eq!(r.items().len(), 0);
    assert!(r.body.get("next_cursor").is_none());

    // Children by parent, given as a slug or an ID.
    let note = rest.create("notes", json!({"title": "Plan"}), "").await;
    for (target_type, target) in [("task", "task-1"), ("task", "task-1"), ("note", "plan")] {
        rest.create(
            "comments",
            json!({"target_type": target_type, "target_id": target, "body": "ok"}),
            "",
        )
        .await;
    }
    for target in ["task-1".to_owned(), created[0].clone()] {
        let r = rest
            .send(get(&format!("/api/v1/comments?target_id={target}")))
            .await;
        r.expect(StatusCode::OK);
        assert_eq!(r.items().len(), 2, "{target}");
    }
    let r = rest
        .send(get(&format!("/api/v1/comments?target_id={}", id(&note))))
        .await;
    assert_eq!(r.items().len(), 1);
    rest.send(get("/api/v1/comments?target_id=no-such-record"))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    let chat = rest.create("chats", json!({"title": "Standup"}), "").await;
    for text in ["one", "two", "three"] {
        rest.create(
            "chat_messages",
            json!({"chat_id": "standup", "role": "user", "content": text}),
            "",
        )
        .await;
    }
    let r = rest
        .send(get(&format!("/api/v1/chat_messages?chat_id={}", id(&chat))))
        .await;
    let contents: Vec<&str> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        ["one", "two", "three"],
        "messages read oldest first"
    );

    // Bad queries: unknown or repeated parameters 400, bad values 422 naming the parameter.
    for (query, field) in [
        ("colour=red", "colour"),
        ("target_id=task-1", "target_id"),
        ("chat_id=standup", "chat_id"),
        ("parent_id=task-1", "parent_id"),
    ] {
        let r = list(query).await;
        r.problem(StatusCode::BAD_REQUEST, "unknown-parameter");
        assert_eq!(r.body["field"], field, "{query}");
    }
    rest.send(get("/api/v1/notes?status=open"))
        .await
        .problem(StatusCode::BAD_REQUEST, "unknown-parameter");
    list("limit=1&limit=2")
        .await
        .problem(StatusCode::BAD_REQUEST, "unknown-parameter");
    for (query, field) in [
        ("status=bogus", "status"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("archived=sometimes", "archived"),
        ("sort=priority", "sort"),
        ("order=up", "order"),
        ("updated_since=yesterday", "updated_since"),
    ] {
        let r = list(query).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
        assert_eq!(r.body["field"], field, "{query}: {}", r.body);
    }
    list("cursor=garbage")
        .await
        .problem(StatusCode::BAD_REQUEST, "bad-cursor");
    let first = list("limit=1").await;
    let cursor = first.body["next_cursor"].as_str().expect("more pages");
    list(&format!("limit=1&status=todo&cursor={cursor}"))
        .await
        .problem(StatusCode::BAD_REQUEST, "bad-cursor");
}

/// Archive hides from lists, `unarchive` restores, invalid actions are refused, delete takes
/// the children with it.
async fn archive_process_and_delete(backend: Backend) {
    let Some(rest) = Rest::start(backend, WRITE).await else {
        return;
    };
    let note = rest.create("notes", json!({"title": "Old plan"}), "").await;
    rest.create("notes", json!({"title": "New plan"}), "").await;
    let item = format!("/api/v1/notes/{}", id(&note));

    let archived = rest
        .send(post(&format!("{item}/archive"), &json!(null)))
        .await;
    archived.expect(StatusCode::OK);
    assert_eq!(archived.body["archived"], true);
    assert_eq!(archived.etag(), "\"2\"");
    let titles = |r: &Reply| -> Vec<String> {
        r.items()
            .iter()
            .map(|i| i["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let listed = rest.send(get("/api/v1/notes")).await;
    assert_eq!(titles(&listed), ["New plan"]);
    let only = rest.send(get("/api/v1/notes?archived=only")).await;
    assert_eq!(titles(&only), ["Old plan"]);
    let both = rest.send(get("/api/v1/notes?archived=include")).await;
    assert_eq!(both.items().len(), 2);
    // Archiving again changes nothing; a stale If-Match is still refused.
    let again = rest.send(call("POST", &format!("{item}/archive"))).await;
    again.expect(StatusCode::OK);
    assert_eq!(again.etag(), "\"2\"");
    let stale = rest
        .send(call("POST", &format!("{item}/archive")).if_match(1))
        .await;
    stale.problem(StatusCode::PRECONDITION_FAILED, "version-conflict");
    assert_eq!(stale.body["current_version"], 2);

    let process = |action: Value| post(&format!("{item}/process"), &action);
    let restored = rest
        .send(process(json!({"action": "unarchive"})).if_match(2))
        .await;
    restored.expect(StatusCode::OK);
    assert_eq!(restored.body["archived"], false);
    assert_eq!(rest.send(get("/api/v1/notes")).await.items().len(), 2);
    let r = rest.send(process(json!({"action": "unarchive"}))).await;
    r.problem(StatusCode::CONFLICT, "invalid-transition");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not archived"),
        "{}",
        r.body
    );
    rest.send(process(json!({"action": "pin"})).if_match(1))
        .await
        .problem(StatusCode::PRECONDITION_FAILED, "version-conflict");
    for (body, field) in [
        (json!({"action": "fly"}), "action"),
        (json!({}), "action"),
        (json!({"action": "pin", "version": 3}), "version"),
        (json!({"action": 7}), "action"),
    ] {
        let r = rest.send(process(body.clone())).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
    }

    // Delete takes the children; the record and its children are gone after.
    let task = rest.create("tasks", json!({"title": "Doomed"}), "").await;
    let mut comments = Vec::new();
    for n in 0..2 {
        let comment = rest
            .create(
                "comments",
                json!({"target_type": "task", "target_id": "doomed", "body": format!("c{n}")}),
                "",
            )
            .await;
        comments.push(id(&comment));
    }
    let task_path = format!("/api/v1/tasks/{}", id(&task));
    let stale = rest.send(delete(&task_path).if_match(9)).await;
    stale.problem(StatusCode::PRECONDITION_FAILED, "version-conflict");
    assert_eq!(stale.body["current_version"], 1);
    let deleted = rest.send(delete(&task_path).if_match(1)).await;
    deleted.expect(StatusCode::OK);
    assert_eq!(
        deleted.body,
        json!({"id": id(&task), "type": "task", "deleted": true, "deleted_children": 2})
    );
    rest.send(get(&task_path))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    for comment in comments {
        rest.send(get(&format!("/api/v1/comments/{comment}")))
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
    }
    rest.send(delete(&task_path))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");

    let chat = rest.create("chats", json!({"title": "Gone"}), "").await;
    for text in ["a", "b"] {
        rest.create(
            "chat_messages",
            json!({"chat_id": "gone", "role": "assistant", "content": text}),
            "",
        )
        .await;
    }
    rest.create(
        "comments",
        json!({"target_type": "chat", "target_id": "gone", "body": "bye"}),
        "",
    )
    .await;
    let deleted = rest.send(delete("/api/v1/chats/gone")).await;
    deleted.expect(StatusCode::OK);
    assert_eq!(deleted.body["id"], id(&chat));
    assert_eq!(deleted.body["deleted_children"], 3);
    let left = rest
        .send(get(&format!("/api/v1/chat_messages?chat_id={}", id(&chat))))
        .await;
    assert_eq!(left.items().len(), 0);
}

/// `search` and `fetch`, as the MCP tools of the same names.
async fn search_and_fetch(backend: Backend) {
    let Some(rest) = Rest::start(backend, WRITE).await else {
        return;
    };
    let note = rest
        .create(
            "notes",
            json!({"title": "Signing key rotation", "body": "Rotate the deployment key every quarter."}),
            "",
        )
        .await;
    let task = rest
        .create(
            "tasks",
            json!({"title": "Deploy the release", "description": "After the key rotation."}),
            "",
        )
        .await;
    let chat = rest
        .create("chats", json!({"title": "Key ceremony"}), "")
        .await;
    rest.create(
        "chat_messages",
        json!({"chat_id": "key-ceremony", "role": "user", "content": "Who holds the second share?"}),
        "",
    )
    .await;

    let hits = rest.send(get("/api/v1/search?query=rotation")).await;
    hits.expect(StatusCode::OK);
    let ids: Vec<&str> = hits.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&id(&note).as_str()), "{}", hits.body);
    assert!(ids.contains(&id(&task).as_str()), "{}", hits.body);
    let first = &hits.body["results"][0];
    assert!(
        first["snippet"].as_str().unwrap_or("").contains("**"),
        "{first}"
    );
    assert!(first["url"].as_str().unwrap_or("").contains("/api/v1/"));
    let prefix = rest.send(get("/api/v1/search?query=deplo")).await;
    assert!(
        !prefix.body["results"]
            .as_array()
            .expect("results")
            .is_empty()
    );
    let none = rest.send(get("/api/v1/search?query=zebra")).await;
    assert_eq!(none.body["results"], json!([]));

    // Paging through hits with the cursor.
    let page = rest
        .send(get("/api/v1/search?query=rotation&limit=1"))
        .await;
    assert_eq!(page.body["results"].as_array().map(Vec::len), Some(1));
    let cursor = page.body["next_cursor"].as_str().expect("a second page");
    let next = rest
        .send(get(&format!(
            "/api/v1/search?query=rotation&limit=1&cursor={cursor}"
        )))
        .await;
    next.expect(StatusCode::OK);
    assert_ne!(next.body["results"][0]["id"], page.body["results"][0]["id"]);
    rest.send(get(&format!("/api/v1/search?query=other&cursor={cursor}")))
        .await
        .problem(StatusCode::BAD_REQUEST, "bad-cursor");

    let r = rest.send(get("/api/v1/search")).await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(r.body["field"], "query");
    let r = rest.send(get("/api/v1/search?query=%21%21")).await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(r.body["field"], "query");
    rest.send(get("/api/v1/search?q=key"))
        .await
        .problem(StatusCode::BAD_REQUEST, "unknown-parameter");

    let doc = rest
        .send(get(&format!("/api/v1/fetch/{}", id(&note))))
        .await;
    doc.expect(StatusCode::OK);
    assert_eq!(doc.body["title"], "Signing key rotation");
    assert!(
        doc.body["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("# Signing key rotation\n\nRotate"),
        "{}",
        doc.body
    );
    assert_eq!(doc.body["metadata"]["type"], "note");
    let by_slug = rest.send(get("/api/v1/fetch/signing-key-rotation")).await;
    assert_eq!(by_slug.body["id"], id(&note));
    let transcript = rest
        .send(get(&format!("/api/v1/fetch/{}", id(&chat))))
        .await;
    assert!(
        transcript.body["text"]
            .as_str()
            .unwrap_or("")
            .contains("**user**: Who holds the second share?"),
        "{}",
        transcript.body
    );
    rest.send(get("/api/v1/fetch/note_0000"))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}

/// Media types, malformed bodies and headers, validation, unknown paths and methods.
async fn errors_are_problem_details(backend: Backend) {
    let Some(rest) = Rest::start(backend, WRITE).await else {
        return;
    };
    let note = rest.create("notes", json!({"title": "N"}), "").await;
    let item = format!("/api/v1/notes/{}", id(&note));
    let fields = json!({"title": "N2"});

    rest.send(with_body("POST", "/api/v1/notes", "text/plain", &fields))
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let mut bare = call("POST", "/api/v1/notes");
    bare.body = Some(fields.to_string());
    rest.send(bare)
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    rest.send(with_body("PUT", &item, "application/merge-patch+json", &fields).if_match(1))
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let r = rest
        .send(with_body("PATCH", &item, "text/plain", &fields).if_match(1))
        .await;
    r.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    assert_eq!(
        r.header("accept-patch"),
        Some("application/merge-patch+json, application/json")
    );
    rest.send(with_body(
        "POST",
        "/api/v1/notes",
        "application/json; charset=utf-8",
        &fields,
    ))
    .await
    .expect(StatusCode::CREATED);

    let mut broken = call("POST", "/api/v1/notes").header("content-type", "application/json");
    broken.body = Some("{\"title\": ".into());
    rest.send(broken)
        .await
        .problem(StatusCode::BAD_REQUEST, "bad-request");

    for (collection, body, field) in [
        ("notes", json!({"title": ""}), "title"),
        ("notes", json!({"title": "x".repeat(201)}), "title"),
        (
            "notes",
            json!({"title": "x", "tags": ["no spaces"]}),
            "tags/0",
        ),
        ("tasks", json!({"title": "t", "due": "2026-13-40"}), "due"),
        (
            "tasks",
            json!({"title": "t", "priority": "whenever"}),
            "priority",
        ),
        (
            "comments",
            json!({"target_type": "task", "target_id": "nothing-here", "body": "b"}),
            "target_id",
        ),
    ] {
        let r = rest
            .send(post(&format!("/api/v1/{collection}"), &body))
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
    }
    let r = rest
        .send(merge_patch(&item, &json!(["not", "an", "object"])).if_match(1))
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(r.body["field"], "patch");

    for bad in ["1", "W/\"1\"", "\"one\""] {
        rest.send(merge_patch(&item, &fields).header("if-match", bad))
            .await
            .problem(StatusCode::BAD_REQUEST, "bad-request");
    }
    rest.send(get("/api/v1/notes/no-such-note"))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    rest.send(get("/api/v1/widgets"))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    rest.send(get("/api/v1/notes/a/b/c"))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    rest.send(get(&format!("{item}?fields=title")))
        .await
        .problem(StatusCode::BAD_REQUEST, "unknown-parameter");
    let r = rest.send(put("/api/v1/notes", &fields)).await;
    r.problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    let allow = r.header("allow").unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    rest.send(get(&format!("{item}/archive")))
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
}

/// 401 for a refused credential, 403 for a viewer's writes, and every org sees only its own.
async fn authentication_roles_and_tenancy(backend: Backend) {
    let env = [("MCPGATE_WORKSPACE_WRITE", "true"), ("MCPGATE_AUTH", "dev")];
    let Some(rest) = Rest::start(backend, &env).await else {
        return;
    };
    for bad in [
        "Bearer nope",
        "Bearer dev:ann:acme:root",
        "Basic YWxhZGRpbg==",
    ] {
        let r = rest
            .send(get("/api/v1/notes").header("authorization", bad))
            .await;
        r.problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    rest.send(post("/api/v1/notes", &json!({"title": "x"})).header("authorization", "Bearer x"))
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let editor = "dev:bob:acme:editor";
    let viewer = "dev:ann:acme:viewer";
    let admin = "dev:cy:acme:admin";
    let note = rest
        .create("notes", json!({"title": "Acme plan"}), editor)
        .await;
    assert_eq!(note["created_by"], "bob");
    let item = format!("/api/v1/notes/{}", id(&note));

    rest.send(get(&item).token(viewer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        rest.send(get("/api/v1/notes").token(viewer))
            .await
            .items()
            .len(),
        1
    );
    for write in [
        post("/api/v1/notes", &json!({"title": "v"})),
        put(&item, &json!({"title": "v"})).if_match(1),
        merge_patch(&item, &json!({"pinned": true})).if_match(1),
        delete(&item),
        call("POST", &format!("{item}/archive")),
        post(&format!("{item}/process"), &json!({"action": "pin"})),
    ] {
        let r = rest.send(write.token(viewer)).await;
        r.problem(StatusCode::FORBIDDEN, "forbidden");
    }
    let r = rest
        .send(
            merge_patch(&item, &json!({"pinned": true}))
                .if_match(1)
                .token(admin),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["updated_by"], "cy");

    // Another org sees nothing of acme's.
    let outsider = "dev:eve:globex:admin";
    rest.send(get(&item).token(outsider))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    rest.send(get("/api/v1/notes/acme-plan").token(outsider))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        rest.send(get("/api/v1/notes").token(outsider))
            .await
            .items()
            .len(),
        0
    );
    let hits = rest
        .send(get("/api/v1/search?query=acme").token(outsider))
        .await;
    assert_eq!(hits.body["results"], json!([]));
    rest.send(get(&format!("/api/v1/fetch/{}", id(&note))).token(outsider))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    rest.send(
        merge_patch(&item, &json!({"pinned": false}))
            .if_match(2)
            .token(outsider),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not-found");
    rest.send(delete(&item).token(outsider))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    // Same slug in another org is a different record.
    let theirs = rest
        .create("notes", json!({"title": "Acme plan"}), outsider)
        .await;
    assert_eq!(theirs["slug"], "acme-plan");
    assert_ne!(theirs["id"], note["id"]);
}

/// Without `MCPGATE_WORKSPACE_WRITE`, reads work and every write is a 405 naming the setting.
async fn read_only_server_refuses_writes(backend: Backend) {
    let Some(rest) = Rest::start(backend, &[("MCPGATE_AUTH", "dev")]).await else {
        return;
    };
    rest.send(get("/api/v1/notes")).await.expect(StatusCode::OK);
    let item = "/api/v1/notes/note_0190";
    for (write, allow) in [
        (post("/api/v1/notes", &json!({"title": "x"})), "GET, HEAD"),
        (put(item, &json!({"title": "x"})).if_match(1), "GET, HEAD"),
        (
            merge_patch(item, &json!({"title": "x"})).if_match(1),
            "GET, HEAD",
        ),
        (delete(item), "GET, HEAD"),
        (call("POST", &format!("{item}/archive")), ""),
        (
            post(&format!("{item}/process"), &json!({"action": "pin"})),
            "",
        ),
    ] {
        // Even a viewer learns that the server is read-only, not that their role is.
        let r = rest.send(write.token("dev:ann:acme:viewer")).await;
        r.problem(StatusCode::METHOD_NOT_ALLOWED, "read-only");
        assert_eq!(
            r.body["detail"],
            "this server is read-only; set MCPGATE_WORKSPACE_WRITE=true"
        );
        assert_eq!(r.header("allow"), Some(allow), "{}", r.what);
    }
}

/// `/openapi.json`: served as JSON without credentials, 40 record operations plus search and
/// fetch, valid OpenAPI 3.1 per `openapi-spec-validator`.
#[tokio::test]
async fn openapi_document_is_served_and_valid() {
    let env = [
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_PUBLIC_URL", "https://mcp.example.com"),
    ];
    let Some(rest) = Rest::start(Backend::Sqlite, &env).await else {
        return;
    };
    let reply = rest
        .send(get("/openapi.json").header("authorization", "Bearer not-even-a-token"))
        .await;
    reply.expect(StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let doc = reply.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "mcpgate");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"], json!([{"url": "https://mcp.example.com"}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"]
        })
    );
    assert_eq!(doc["security"], json!([{"bearerAuth": []}]));

    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if method != "parameters" {
                operations.push((
                    method.clone(),
                    path.clone(),
                    op["operationId"].as_str().expect("operationId").to_owned(),
                ));
            }
        }
    }
    let workspace = operations
        .iter()
        .filter(|(_, path, _)| {
            !path.starts_with("/api/v1/search") && !path.starts_with("/api/v1/fetch")
        })
        .count();
    assert_eq!(workspace, 40);
    assert_eq!(operations.len(), 42);
    for (method, path, id) in [
        ("get", "/api/v1/notes", "listNotes"),
        ("post", "/api/v1/tasks", "createTask"),
        ("get", "/api/v1/comments/{id}", "getComment"),
        ("put", "/api/v1/chats/{id}", "updateChat"),
        ("patch", "/api/v1/chat_messages/{id}", "patchChatMessage"),
        ("delete", "/api/v1/notes/{id}", "deleteNote"),
        ("post", "/api/v1/tasks/{id}/archive", "archiveTask"),
        ("post", "/api/v1/tasks/{id}/process", "processTask"),
        ("get", "/api/v1/search", "search"),
        ("get", "/api/v1/fetch/{id}", "fetch"),
    ] {
        assert!(
            operations
                .iter()
                .any(|(m, p, o)| m == method && p == path && o == id),
            "{method} {path} {id}"
        );
    }
    let put_task = &doc["paths"]["/api/v1/tasks/{id}"]["put"];
    assert!(put_task["responses"]["412"].is_object());
    assert!(put_task["responses"]["428"].is_object());
    assert_eq!(
        put_task["parameters"][0]["$ref"],
        "#/components/parameters/IfMatchRequired"
    );
    assert!(doc["paths"]["/api/v1/tasks/{id}"]["get"]["responses"]["304"].is_object());

    validate_openapi(&doc).await;
}

/// Validate `doc` with the Python `openapi-spec-validator` (installed by
/// `scripts/install-test-clients.sh`; required under CI, skipped with a notice elsewhere when
/// missing).
async fn validate_openapi(doc: &Value) {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the workspace root");
    let venv = root.join("target/test-clients/openapi-venv/bin/python");
    let mut python = None;
    for candidate in [venv.as_os_str(), std::ffi::OsStr::new("python3")] {
        let found = tokio::process::Command::new(candidate)
            .args(["-c", "import openapi_spec_validator"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if found {
            python = Some(candidate.to_owned());
            break;
        }
    }
    let Some(python) = python else {
        let message =
            "openapi-spec-validator is not installed; run scripts/install-test-clients.sh";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true: {message}");
        }
        eprintln!("notice: skipping OpenAPI validation: {message}");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let script = "import json, sys\n\
                  from openapi_spec_validator import validate\n\
                  from openapi_spec_validator.versions.shortcuts import get_spec_version\n\
                  spec = json.load(open(sys.argv[1]))\n\
                  print(get_spec_version(spec))\n\
                  validate(spec)\n";
    let output = tokio::process::Command::new(&python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .await
        .expect("run the validator");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the OpenAPI document is not valid:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3.1"), "validated as {stdout}");
}

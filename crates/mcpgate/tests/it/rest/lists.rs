//! Reading many records: list filters, sorting, cursor paging and the refusals of bad
//! queries; then `search` and `fetch`.

use axum::http::StatusCode;
use serde_json::json;

use super::fixture::{Backend, Reply, Rest, WRITE, get, id, post};

/// Filters, sorting, cursor paging, and the 400/422 of bad queries.
pub(super) async fn lists_filter_and_page(backend: Backend) {
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

/// `search` and `fetch`, as the MCP tools of the same names.
pub(super) async fn search_and_fetch(backend: Backend) {
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

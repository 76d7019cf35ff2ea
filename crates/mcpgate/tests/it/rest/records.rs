//! One record's life through the REST API: create, read (by ID, by slug, revalidated),
//! replace, patch and process on every collection with every precondition outcome; then
//! archive, unarchive, refused actions, and delete with its children.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::fixture::{
    Backend, Reply, Rest, WRITE, call, delete, get, id, merge_patch, post, put, version, with_body,
};

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
pub(super) async fn crud_and_conditional_requests(backend: Backend) {
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

/// Archive hides from lists, `unarchive` restores, invalid actions are refused, delete takes
/// the children with it.
pub(super) async fn archive_process_and_delete(backend: Backend) {
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

//! Tenant isolation: records of one org are invisible and untouchable from another, through
//! every tool, even with the exact IDs and slugs.

use serde_json::{Value, json};

use axum::http::StatusCode;

use super::{EDITOR, OTHER_ORG, Outcome, Workspace, backends, id, version};

#[tokio::test]
async fn no_tool_reaches_across_orgs() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        // Org acme's data, one record of every kind, all sharing a searchable word.
        let note = ws
            .call(
                "create_note",
                json!({"title": "Zephyr launch plan", "body": "zephyr secrets"}),
            )
            .await
            .ok();
        let task = ws
            .call(
                "create_task",
                json!({"title": "Zephyr budget", "tags": ["zephyr"]}),
            )
            .await
            .ok();
        let chat = ws
            .call("create_chat", json!({"title": "Zephyr chat"}))
            .await
            .ok();
        let message = ws
            .call(
                "create_chat_message",
                json!({"chat_id": id(&chat), "role": "user", "content": "zephyr message"}),
            )
            .await
            .ok();
        let comment = ws
            .call(
                "create_comment",
                json!({"target_type": "task", "target_id": id(&task), "body": "zephyr comment"}),
            )
            .await
            .ok();
        let records: Vec<(&str, &str, &Value)> = vec![
            ("note", "notes", &note),
            ("task", "tasks", &task),
            ("chat", "chats", &chat),
            ("chat_message", "chat_messages", &message),
            ("comment", "comments", &comment),
        ];

        for (singular, plural, record) in &records {
            let mut keys = vec![id(record)];
            if let Some(slug) = record["slug"].as_str() {
                keys.push(slug.to_owned());
            }
            let list = ws
                .call_as(
                    OTHER_ORG,
                    &format!("list_{plural}"),
                    json!({"archived": "include"}),
                )
                .await
                .ok();
            assert_eq!(list["items"], json!([]), "{b}: list_{plural} across orgs");
            for key in &keys {
                let not_found = |outcome: Outcome, what: &str| match outcome {
                    Outcome::ToolError(text) => {
                        assert!(text.contains("not found"), "{b}: {what} {key}: {text}")
                    }
                    other => panic!(
                        "{b}: {what} {key} across orgs must fail as not found, got {other:?}"
                    ),
                };
                not_found(
                    ws.call_as(OTHER_ORG, &format!("get_{singular}"), json!({"id": key}))
                        .await,
                    "get",
                );
                not_found(
                    ws.call_as(OTHER_ORG, "fetch", json!({"id": key})).await,
                    "fetch",
                );
                not_found(
                    ws.call_as(
                        OTHER_ORG,
                        &format!("patch_{singular}"),
                        json!({"id": key, "version": 1, "patch": {}}),
                    )
                    .await,
                    "patch",
                );
                let mut replacement = record.as_object().cloned().expect("object");
                for meta in [
                    "type",
                    "slug",
                    "archived",
                    "archived_at",
                    "created_at",
                    "created_by",
                    "updated_at",
                    "updated_by",
                    "url",
                ] {
                    replacement.remove(meta);
                }
                replacement.insert("id".into(), json!(key));
                not_found(
                    ws.call_as(
                        OTHER_ORG,
                        &format!("update_{singular}"),
                        Value::Object(replacement),
                    )
                    .await,
                    "update",
                );
                not_found(
                    ws.call_as(
                        OTHER_ORG,
                        &format!("archive_{singular}"),
                        json!({"id": key}),
                    )
                    .await,
                    "archive",
                );
                not_found(
                    ws.call_as(
                        OTHER_ORG,
                        &format!("process_{singular}"),
                        json!({"id": key, "action": "unarchive"}),
                    )
                    .await,
                    "process",
                );
                not_found(
                    ws.call_as(OTHER_ORG, &format!("delete_{singular}"), json!({"id": key}))
                        .await,
                    "delete",
                );
            }
        }
        let hits = ws
            .call_as(OTHER_ORG, "search", json!({"query": "zephyr"}))
            .await
            .ok();
        assert_eq!(hits["results"], json!([]), "{b}: search across orgs");
        let filtered = ws
            .call_as(OTHER_ORG, "list_comments", json!({"target_id": id(&task)}))
            .await
            .ok();
        assert_eq!(
            filtered["items"],
            json!([]),
            "{b}: children of another org's record"
        );
        let foreign_parent = ws
            .call_as(
                OTHER_ORG,
                "create_comment",
                json!({"target_type": "task", "target_id": id(&task), "body": "hi"}),
            )
            .await
            .tool_error();
        assert!(
            foreign_parent.contains("target_id"),
            "{b}: {foreign_parent}"
        );
        let foreign_chat = ws
            .call_as(
                OTHER_ORG,
                "create_chat_message",
                json!({"chat_id": "zephyr-chat", "role": "user", "content": "hi"}),
            )
            .await
            .tool_error();
        assert!(foreign_chat.contains("chat_id"), "{b}: {foreign_chat}");

        // Nothing of acme's changed, and acme still finds all of it.
        for (singular, _, record) in &records {
            let now = ws
                .call_as(
                    EDITOR,
                    &format!("get_{singular}"),
                    json!({"id": id(record)}),
                )
                .await
                .ok();
            assert_eq!(version(&now), version(record), "{b}: {singular} untouched");
            assert_eq!(now["archived"], false, "{b}");
        }
        let hits = ws
            .call_as(EDITOR, "search", json!({"query": "zephyr"}))
            .await
            .ok();
        assert_eq!(
            hits["results"].as_array().expect("results").len(),
            5,
            "{b}: {hits}"
        );
    }
}

#[tokio::test]
async fn no_rest_call_reaches_across_orgs() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        let task = ws
            .call("create_task", json!({"title": "Quasar budget"}))
            .await
            .ok();
        let chat = ws
            .call("create_chat", json!({"title": "Quasar chat"}))
            .await
            .ok();
        let records: Vec<(&str, Value, Value)> = vec![
            (
                "notes",
                ws.call(
                    "create_note",
                    json!({"title": "Quasar plan", "body": "quasar"}),
                )
                .await
                .ok(),
                json!({"title": "x"}),
            ),
            ("tasks", task.clone(), json!({"title": "x"})),
            ("chats", chat.clone(), json!({"title": "x"})),
            (
                "comments",
                ws.call(
                    "create_comment",
                    json!({"target_type": "task", "target_id": id(&task), "body": "quasar"}),
                )
                .await
                .ok(),
                json!({"target_type": "task", "target_id": id(&task), "body": "x"}),
            ),
            (
                "chat_messages",
                ws.call(
                    "create_chat_message",
                    json!({"chat_id": id(&chat), "role": "user", "content": "quasar"}),
                )
                .await
                .ok(),
                json!({"chat_id": id(&chat), "role": "user", "content": "x"}),
            ),
        ];
        for (collection, record, replacement) in &records {
            let (status, list) = ws
                .rest(
                    OTHER_ORG,
                    "GET",
                    &format!("/api/v1/{collection}?archived=include"),
                    None,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{b}");
            assert_eq!(
                list["items"],
                json!([]),
                "{b}: {collection} list across orgs"
            );
            let mut keys = vec![id(record)];
            if let Some(slug) = record["slug"].as_str() {
                keys.push(slug.to_owned());
            }
            for key in keys {
                let item = format!("/api/v1/{collection}/{key}");
                let attempts: Vec<(&str, String, Option<Value>, Option<i64>)> = vec![
                    ("GET", item.clone(), None, None),
                    ("PUT", item.clone(), Some(replacement.clone()), Some(1)),
                    ("PATCH", item.clone(), Some(json!({})), Some(1)),
                    ("POST", format!("{item}/archive"), None, None),
                    (
                        "POST",
                        format!("{item}/process"),
                        Some(json!({"action": "unarchive"})),
                        None,
                    ),
                    ("DELETE", item.clone(), None, None),
                    ("GET", format!("/api/v1/fetch/{key}"), None, None),
                ];
                for (method, path, body, if_match) in attempts {
                    let (status, problem) = ws.rest(OTHER_ORG, method, &path, body, if_match).await;
                    assert_eq!(
                        status,
                        StatusCode::NOT_FOUND,
                        "{b}: {method} {path} across orgs: {problem}"
                    );
                }
            }
        }
        let (_, hits) = ws
            .rest(OTHER_ORG, "GET", "/api/v1/search?query=quasar", None, None)
            .await;
        assert_eq!(hits["results"], json!([]), "{b}: search across orgs");
        for (collection, record, _) in &records {
            let (status, now) = ws
                .rest(
                    EDITOR,
                    "GET",
                    &format!("/api/v1/{collection}/{}", id(record)),
                    None,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{b}");
            assert_eq!(
                version(&now),
                version(record),
                "{b}: {collection} untouched"
            );
        }
    }
}

//! Paging and size limits: cursors stay stable while others insert, page sizes are bounded, and
//! a result over the size cap ends at a record boundary with a cursor.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Workspace, backends, id};

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn cursors_are_stable_under_concurrent_inserts() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        let mut originals = HashSet::new();
        for n in 0..25 {
            let t = ws
                .call(
                    "create_task",
                    json!({"title": format!("Task {n:02}"), "tags": ["batch"]}),
                )
                .await
                .ok();
            originals.insert(id(&t));
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = json!({"limit": 10, "tag": "batch"});
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = ws.call("list_tasks", args).await.ok();
            pages += 1;
            seen.extend(items(&page).iter().map(id));
            // Someone else inserts between pages.
            ws.call(
                "create_task",
                json!({"title": format!("Late {pages}"), "tags": ["batch"]}),
            )
            .await
            .ok();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{b}: no record twice");
        assert!(
            originals.is_subset(&unique),
            "{b}: every record that existed is seen"
        );
        assert_eq!(pages, 3, "{b}");

        let bad = ws
            .call("list_tasks", json!({"cursor": "garbage"}))
            .await
            .tool_error();
        assert!(bad.contains("cursor"), "{b}: {bad}");
        let first = ws.call("list_tasks", json!({"limit": 1})).await.ok();
        let other_query = ws
            .call(
                "list_tasks",
                json!({"limit": 1, "sort": "title", "cursor": first["next_cursor"]}),
            )
            .await
            .tool_error();
        assert!(other_query.contains("cursor"), "{b}: {other_query}");
        let too_big = ws
            .call("list_tasks", json!({"limit": 1000}))
            .await
            .tool_error();
        assert!(too_big.contains("limit"), "{b}: {too_big}");
    }
}

#[tokio::test]
async fn sorting_and_filters_select_and_order_records() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        for title in ["Charlie", "alpha", "Bravo"] {
            ws.call("create_task", json!({"title": title})).await.ok();
        }
        let started = ws
            .call("process_task", json!({"id": "bravo", "action": "start"}))
            .await
            .ok();
        let by_title = ws
            .call("list_tasks", json!({"sort": "title", "order": "asc"}))
            .await
            .ok();
        let titles: Vec<&str> = by_title["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["title"].as_str().expect("title"))
            .collect();
        assert_eq!(
            titles,
            ["Bravo", "Charlie", "alpha"],
            "{b}: byte order of titles"
        );
        let newest = ws.call("list_tasks", json!({})).await.ok();
        assert_eq!(
            items(&newest)[0]["title"],
            "Bravo",
            "{b}: default newest first"
        );
        let in_progress = ws
            .call("list_tasks", json!({"status": "in_progress"}))
            .await
            .ok();
        assert_eq!(items(&in_progress).len(), 1, "{b}");
        let since = ws
            .call(
                "list_tasks",
                json!({"updated_since": started["updated_at"], "sort": "updated_at"}),
            )
            .await
            .ok();
        assert_eq!(
            items(&since).iter().map(id).collect::<Vec<_>>(),
            [id(&started)],
            "{b}"
        );
    }
}

#[tokio::test]
async fn results_over_the_size_cap_end_at_a_record_boundary() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[("MCPGATE_MAX_RESULT_BYTES", "16384")]).await;
        let b = backend.name;
        let body = "lorem ipsum ".repeat(250); // ~3 KB per note
        for n in 0..12 {
            ws.call(
                "create_note",
                json!({"title": format!("Long {n}"), "body": body}),
            )
            .await
            .ok();
        }
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = json!({"limit": 100});
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = ws.call("list_notes", args).await.ok();
            assert!(
                page.to_string().len() <= 8192,
                "{b}: each copy of the result fits half the cap"
            );
            let got = items(&page);
            assert!(
                !got.is_empty() && got.len() < 12,
                "{b}: a page ends early but never empty"
            );
            all.extend(got.iter().map(id));
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert!(pages > 1, "{b}");
        let unique: HashSet<String> = all.iter().cloned().collect();
        assert_eq!(unique.len(), 12, "{b}: every note once across pages");

        let hits = ws
            .call("search", json!({"query": "lorem", "limit": 100}))
            .await
            .ok();
        assert_eq!(
            hits["results"].as_array().expect("results").len(),
            12,
            "{b}: search hits are small"
        );
    }
}

#[tokio::test]
async fn a_tag_filter_follows_every_change_of_a_records_tags_title_and_life() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        let tagged = |tag: &'static str, sort: &'static str| {
            let ws = &ws;
            async move {
                let page = ws
                    .call("list_tasks", json!({"tag": tag, "sort": sort}))
                    .await
                    .ok();
                items(&page)
                    .iter()
                    .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        let first = ws
            .call(
                "create_task",
                json!({"title": "b first", "tags": ["red", "blue"]}),
            )
            .await
            .ok();
        ws.call("create_task", json!({"title": "c second", "tags": ["red"]}))
            .await
            .ok();
        // Tasks list newest first, and by title from Z to A.
        assert_eq!(tagged("red", "title").await, ["c second", "b first"], "{b}");
        assert_eq!(tagged("blue", "title").await, ["b first"], "{b}");
        // Retagged and retitled: the tag rows and their sort keys follow.
        ws.call(
            "patch_task",
            json!({"id": id(&first), "version": 1,
                   "patch": {"tags": ["green"], "title": "z renamed"}}),
        )
        .await
        .ok();
        assert_eq!(tagged("red", "title").await, ["c second"], "{b}");
        assert!(tagged("blue", "title").await.is_empty(), "{b}");
        assert_eq!(tagged("green", "title").await, ["z renamed"], "{b}");
        // Deleted: gone from its tag too.
        ws.call("delete_task", json!({"id": id(&first)})).await.ok();
        assert!(tagged("green", "created_at").await.is_empty(), "{b}");
    }
}

//! Concurrent writers: of several writes at one version exactly one wins, the others get a
//! conflict naming the new version, and nothing is lost.

use std::sync::Arc;

use serde_json::json;

use super::{Outcome, Workspace, backends, id, version};

#[tokio::test]
async fn one_writer_wins_the_rest_get_conflicts() {
    for backend in backends().await {
        let ws = Arc::new(Workspace::start(&backend, &[]).await);
        let b = backend.name;
        let task = ws
            .call("create_task", json!({"title": "Contended"}))
            .await
            .ok();
        let tid = id(&task);
        let writers: Vec<_> = (0..8)
            .map(|n| {
                let ws = Arc::clone(&ws);
                let tid = tid.clone();
                tokio::spawn(async move {
                    ws.call(
                        "patch_task",
                        json!({"id": tid, "version": 1, "patch": {"description": format!("writer {n}")}}),
                    )
                    .await
                })
            })
            .collect();
        let mut wins = Vec::new();
        let mut conflicts = 0;
        for writer in writers {
            match writer.await.expect("writer task") {
                Outcome::Ok(record) => wins.push(record),
                Outcome::ToolError(text) => {
                    assert!(
                        text.contains("version conflict") && text.contains("version 2"),
                        "{b}: {text}"
                    );
                    conflicts += 1;
                }
                other => panic!("{b}: {other:?}"),
            }
        }
        assert_eq!(wins.len(), 1, "{b}: exactly one writer wins");
        assert_eq!(conflicts, 7, "{b}");
        let now = ws.call("get_task", json!({"id": tid})).await.ok();
        assert_eq!(version(&now), 2, "{b}");
        assert_eq!(
            now["description"], wins[0]["description"],
            "{b}: the winner's write is what is stored"
        );
    }
}

#[tokio::test]
async fn concurrent_creates_all_land_with_unique_slugs() {
    for backend in backends().await {
        let ws = Arc::new(Workspace::start(&backend, &[]).await);
        let b = backend.name;
        let creators: Vec<_> = (0..12)
            .map(|_| {
                let ws = Arc::clone(&ws);
                tokio::spawn(async move {
                    ws.call("create_note", json!({"title": "Same title"}))
                        .await
                        .ok()
                })
            })
            .collect();
        let mut slugs = Vec::new();
        for creator in creators {
            let note = creator.await.expect("creator task");
            slugs.push(note["slug"].as_str().expect("slug").to_owned());
        }
        slugs.sort();
        slugs.dedup();
        assert_eq!(
            slugs.len(),
            12,
            "{b}: every create landed with its own slug: {slugs:?}"
        );
        let listed = ws.call("list_notes", json!({"limit": 100})).await.ok();
        assert_eq!(listed["items"].as_array().expect("items").len(), 12, "{b}");
    }
}

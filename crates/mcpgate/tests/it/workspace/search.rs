//! Search pages: every match once, window by window, relevance inside each window, pages that
//! stay put while others write, and the same order on both backends.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Workspace, backends, id};

/// More matches than two search windows hold (200 each), so pages cross windows.
const MATCHES: usize = 430;

/// Walks every page of `query` (100 a page), writing a new match between pages; the titles
/// seen, in order.
async fn walk(ws: &Workspace, query: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let mut args = json!({"query": query, "limit": 100});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = ws.call("search", args).await.ok();
        let results = page["results"].as_array().expect("results");
        titles.extend(
            results
                .iter()
                .map(|r| r["title"].as_str().expect("title").to_owned()),
        );
        // Someone else writes a match between pages: it waits for a new search.
        ws.call(
            "create_note",
            json!({"title": format!("Late {page_number}"), "body": "zephyr late"}),
        )
        .await
        .ok();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(page_number < 20, "{}: the walk ends", ws.backend);
    }
    titles
}

#[tokio::test]
async fn search_walks_every_match_once_window_by_window_in_the_same_order_on_both_backends() {
    let mut orders: Vec<(&str, Vec<String>)> = Vec::new();
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        let mut expected = HashSet::new();
        for n in 0..MATCHES {
            // Varied relevance: some titles carry the word, some bodies say it more often,
            // some only as the start of a longer word.
            let title = match n % 7 {
                0 => format!("Zephyr {n:03}"),
                _ => format!("Note {n:03}"),
            };
            let body = match n % 5 {
                0 => "zephyr zephyr zephyr wind".to_owned(),
                1 => format!("zephyrs over the hills, note {n}"),
                _ => format!("a long text about the weather, and a zephyr, number {n}"),
            };
            ws.call("create_note", json!({"title": title, "body": body}))
                .await
                .ok();
            expected.insert(title);
            if n % 50 == 0 {
                let other = format!("Other {n:03}");
                ws.call("create_note", json!({"title": other, "body": "calm"}))
                    .await
                    .ok();
            }
        }
        let gone = ws
            .call(
                "create_note",
                json!({"title": "Archived", "body": "zephyr zephyr"}),
            )
            .await
            .ok();
        ws.call("archive_note", json!({"id": id(&gone)})).await.ok();

        let titles = walk(&ws, "Zephyr").await;
        let unique: HashSet<String> = titles.iter().cloned().collect();
        assert_eq!(unique.len(), titles.len(), "{b}: no match twice");
        assert_eq!(unique, expected, "{b}: every match, no other record");

        // The first page is the newest window's best: title matches before body matches.
        let first = ws
            .call("search", json!({"query": "zephyr", "limit": 5}))
            .await
            .ok();
        let best: Vec<&str> = first["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["title"].as_str().expect("title"))
            .collect();
        assert!(
            best.iter()
                .all(|t| t.starts_with("Zephyr") || t.starts_with("Late")),
            "{b}: {best:?}"
        );

        // A cursor belongs to its query, and garbage is refused.
        let other_query = ws
            .call(
                "search",
                json!({"query": "calm", "cursor": first["next_cursor"]}),
            )
            .await
            .tool_error();
        assert!(other_query.contains("cursor"), "{b}: {other_query}");
        let garbage = ws
            .call("search", json!({"query": "zephyr", "cursor": "garbage"}))
            .await
            .tool_error();
        assert!(garbage.contains("cursor"), "{b}: {garbage}");
        orders.push((b, titles));
    }
    if let [(a, first), (b, second)] = orders.as_slice() {
        assert_eq!(first, second, "{a} and {b} rank and page alike");
    }
}

#[tokio::test]
async fn a_search_word_matches_the_words_it_begins_and_folds_diacritics() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        for (title, body) in [
            ("Incident review", "what happened"),
            ("Weekly", "two incidents and an incidental finding"),
            ("Résumé", "the candidate's café order"),
            ("Unrelated", "nothing here"),
            ("Certificate 5e3f9a1b", "the wildcard one"),
        ] {
            ws.call("create_note", json!({"title": title, "body": body}))
                .await
                .ok();
        }
        let titles = |page: Value| -> Vec<String> {
            page["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["title"].as_str().expect("title").to_owned())
                .collect()
        };
        let incid = ws.call("search", json!({"query": "incid"})).await.ok();
        assert_eq!(titles(incid), ["Incident review", "Weekly"], "{b}");
        let both = ws
            .call("search", json!({"query": "incident weekly"}))
            .await
            .ok();
        assert_eq!(titles(both), ["Weekly"], "{b}: every word must match");
        let accented = ws.call("search", json!({"query": "résu"})).await.ok();
        assert_eq!(titles(accented), ["Résumé"], "{b}");
        // A word PostgreSQL's parser reads as two (`5e3` and `f9a1b`: it starts like a number)
        // is found as the one word it was written as, alone and with another.
        for query in ["5e3f9a1b", "wildcard 5e3f9a1b", "5e3f"] {
            let marked = ws.call("search", json!({"query": query})).await.ok();
            assert_eq!(titles(marked), ["Certificate 5e3f9a1b"], "{b}: {query}");
        }
        if b == "sqlite" {
            // FTS5 folds diacritics (PostgreSQL's `simple` configuration keeps them).
            let folded = ws.call("search", json!({"query": "resu"})).await.ok();
            assert_eq!(titles(folded), ["Résumé"], "{b}");
        }
        // A changed text is found by its new words; a change that leaves the text alone keeps
        // what was found.
        let edited = ws
            .call("create_note", json!({"title": "Edited", "body": "plain"}))
            .await
            .ok();
        ws.call(
            "patch_note",
            json!({"id": id(&edited), "version": 1, "patch": {"body": "a quokka appeared"}}),
        )
        .await
        .ok();
        ws.call(
            "patch_note",
            json!({"id": id(&edited), "version": 2, "patch": {"tags": ["zoo"]}}),
        )
        .await
        .ok();
        let quok = ws.call("search", json!({"query": "quok"})).await.ok();
        assert_eq!(titles(quok), ["Edited"], "{b}");
        let none = ws.call("search", json!({"query": "zzz"})).await.ok();
        assert!(
            none["results"].as_array().expect("results").is_empty(),
            "{b}"
        );
        assert!(none.get("next_cursor").is_none(), "{b}");
    }
}

//! Every workspace tool for every kind: listing, schemas and annotations, and each operation's
//! behaviour including its failures.

use serde_json::{Value, json};

use super::{EDITOR, Outcome, VIEWER, Workspace, backends, id, version};

const KINDS: [(&str, &str); 5] = [
    ("note", "notes"),
    ("task", "tasks"),
    ("comment", "comments"),
    ("chat", "chats"),
    ("chat_message", "chat_messages"),
];

const OPS: [&str; 8] = [
    "list", "get", "create", "update", "patch", "delete", "archive", "process",
];

fn tool_name(op: &str, singular: &str, plural: &str) -> String {
    if op == "list" {
        format!("list_{plural}")
    } else {
        format!("{op}_{singular}")
    }
}

fn names(tools: &[Value]) -> Vec<String> {
    tools
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn writers_see_all_forty_entity_tools_with_truthful_annotations() {
    let backend = &backends().await[0];
    let ws = Workspace::start(backend, &[]).await;
    let tools = ws.tools(EDITOR).await;
    let listed = names(&tools);
    let mut expected = vec!["health".to_owned(), "server_info".to_owned()];
    for (singular, plural) in KINDS {
        for op in OPS {
            expected.push(tool_name(op, singular, plural));
        }
    }
    expected.push("search".into());
    expected.push("fetch".into());
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), 44);

    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        let a = &tool["annotations"];
        let op = name.split('_').next().expect("op");
        let (read_only, destructive, idempotent) = match op {
            "list" | "get" | "search" | "fetch" | "health" | "server" => (true, false, true),
            "create" => (false, false, false),
            "update" | "patch" | "delete" => (false, true, true),
            "archive" => (false, false, true),
            "process" => (false, false, false),
            other => panic!("unexpected tool family {other}"),
        };
        assert_eq!(a["readOnlyHint"], read_only, "{name} readOnlyHint");
        assert_eq!(a["destructiveHint"], destructive, "{name} destructiveHint");
        assert_eq!(a["idempotentHint"], idempotent, "{name} idempotentHint");
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert_eq!(
            tool["inputSchema"]["additionalProperties"], false,
            "{name} refuses unknown arguments"
        );
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 40),
            "{name} is described"
        );
        for (prop, schema) in tool["inputSchema"]["properties"]
            .as_object()
            .expect("properties")
        {
            assert!(
                schema.get("description").is_some() || schema.get("$ref").is_some(),
                "{name}.{prop} is described"
            );
        }
    }
    let process = tools
        .iter()
        .find(|t| t["name"] == "process_task")
        .expect("process_task");
    assert_eq!(
        process["inputSchema"]["properties"]["action"]["enum"],
        json!(["start", "complete", "reopen", "cancel", "unarchive"])
    );
}

#[tokio::test]
async fn viewers_and_read_only_servers_get_read_tools_only() {
    let backend = &backends().await[0];
    let ws = Workspace::start(backend, &[]).await;
    let viewer = names(&ws.tools(VIEWER).await);
    assert_eq!(viewer.len(), 14, "{viewer:?}");
    assert!(viewer.iter().all(|n| !n.starts_with("create_")));
    match ws
        .call_as(VIEWER, "create_note", json!({"title": "x"}))
        .await
    {
        Outcome::RpcError(code, message) => {
            assert_eq!(code, -32602);
            assert!(message.contains("create_note"), "{message}");
        }
        other => panic!("a viewer's write is an unknown tool, got {other:?}"),
    }

    let read_only = Workspace::start(backend, &[("MCPGATE_WORKSPACE_WRITE", "false")]).await;
    let listed = names(&read_only.tools(EDITOR).await);
    assert_eq!(listed.len(), 14, "{listed:?}");
    assert!(matches!(
        read_only.call("create_note", json!({"title": "x"})).await,
        Outcome::RpcError(-32602, _)
    ));
}

/// Fields to create one record of each kind; comments and messages need a task and a chat.
fn create_args(singular: &str) -> Value {
    match singular {
        "note" => {
            json!({"title": "Release checklist", "body": "Tag, build, publish.", "tags": ["Release"]})
        }
        "task" => {
            json!({"title": "Rotate the signing key", "description": "Before Friday.", "priority": "high", "tags": ["security"]})
        }
        "comment" => {
            json!({"target_type": "task", "target_id": "parent-task", "body": "The old key expires on the 3rd."})
        }
        "chat" => json!({"title": "Incident 42 retro"}),
        "chat_message" => {
            json!({"chat_id": "parent-chat", "role": "user", "content": "What failed first?"})
        }
        other => panic!("unknown kind {other}"),
    }
}

/// A full replacement for `update_*`.
fn replacement(singular: &str, created: &Value) -> Value {
    match singular {
        "note" => {
            json!({"title": "Release checklist v2", "body": "Tag and publish.", "pinned": false})
        }
        "task" => {
            json!({"title": "Rotate the signing key", "description": "Done by Thursday.", "status": "in_progress", "due": "2026-12-03"})
        }
        "comment" => {
            json!({"target_type": "task", "target_id": created["target_id"], "body": "Expires on the 4th, actually."})
        }
        "chat" => json!({"title": "Incident 42 retrospective"}),
        "chat_message" => {
            json!({"chat_id": created["chat_id"], "role": "user", "content": "What failed first, and why?"})
        }
        other => panic!("unknown kind {other}"),
    }
}

fn merge_patch(singular: &str) -> (Value, &'static str, Value) {
    match singular {
        "note" => (json!({"tags": ["q4"]}), "tags", json!(["q4"])),
        "task" => (
            json!({"priority": "urgent", "due": null}),
            "priority",
            json!("urgent"),
        ),
        "comment" => (json!({"body": "Fixed."}), "body", json!("Fixed.")),
        "chat" => (
            json!({"title": "Retro (final)"}),
            "title",
            json!("Retro (final)"),
        ),
        "chat_message" => (json!({"pinned": true}), "pinned", json!(true)),
        other => panic!("unknown kind {other}"),
    }
}

fn valid_action(singular: &str) -> &'static str {
    match singular {
        "note" => "pin",
        "task" => "complete",
        "comment" => "resolve",
        "chat" => "close",
        "chat_message" => "unpin",
        other => panic!("unknown kind {other}"),
    }
}

#[tokio::test]
async fn every_operation_works_for_every_kind() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        ws.call("create_task", json!({"title": "Parent task"}))
            .await
            .ok();
        ws.call("create_chat", json!({"title": "Parent chat"}))
            .await
            .ok();
        for (singular, plural) in KINDS {
            let created = ws
                .call(&format!("create_{singular}"), create_args(singular))
                .await
                .ok();
            let rid = id(&created);
            assert_eq!(created["type"], singular, "{b}");
            assert_eq!(version(&created), 1, "{b}");
            assert_eq!(created["created_by"], "alice", "{b}");
            assert!(rid.contains('_'), "{b}: opaque id {rid}");
            let key = created["slug"].as_str().map_or(rid.clone(), str::to_owned);
            if singular == "note" {
                assert_eq!(created["slug"], "release-checklist", "{b}");
                assert_eq!(created["tags"], json!(["release"]), "{b}: tags normalized");
            }

            // get by ID and by slug
            let got = ws
                .call(&format!("get_{singular}"), json!({"id": rid}))
                .await
                .ok();
            assert_eq!(got, created, "{b} {singular}");
            let got = ws
                .call(&format!("get_{singular}"), json!({"id": key}))
                .await
                .ok();
            assert_eq!(id(&got), rid, "{b} {singular}");

            // list
            let page = ws.call(&format!("list_{plural}"), json!({})).await.ok();
            assert!(
                page["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .any(|r| id(r) == rid),
                "{b}: list_{plural} shows the new record"
            );

            // update: replaces every field; a stale version is a conflict naming the current one
            let updated = ws
                .call(
                    &format!("update_{singular}"),
                    json!({"id": key, "version": 1})
                        .as_object()
                        .cloned()
                        .map(|mut o| {
                            o.extend(
                                replacement(singular, &created)
                                    .as_object()
                                    .cloned()
                                    .unwrap_or_default(),
                            );
                            Value::Object(o)
                        })
                        .expect("object"),
                )
                .await
                .ok();
            assert_eq!(version(&updated), 2, "{b} {singular}");
            assert_eq!(updated["created_at"], created["created_at"], "{b}");
            let stale = ws
                .call(&format!("update_{singular}"), {
                    let mut o = replacement(singular, &created);
                    o["id"] = json!(rid);
                    o["version"] = json!(1);
                    o
                })
                .await
                .tool_error();
            assert!(
                stale.contains("version conflict") && stale.contains("version 2"),
                "{b}: {stale}"
            );

            // patch
            let (patch, field, value) = merge_patch(singular);
            let patched = ws
                .call(
                    &format!("patch_{singular}"),
                    json!({"id": rid, "version": 2, "patch": patch}),
                )
                .await
                .ok();
            assert_eq!(patched[field], value, "{b} {singular}");
            assert_eq!(version(&patched), 3, "{b}");
            let stale = ws
                .call(
                    &format!("patch_{singular}"),
                    json!({"id": rid, "version": 2, "patch": patch}),
                )
                .await
                .tool_error();
            assert!(stale.contains("version 3"), "{b}: {stale}");

            // process: a valid transition, then the same one again is refused with the reason
            let action = valid_action(singular);
            let processed = ws
                .call(
                    &format!("process_{singular}"),
                    json!({"id": rid, "action": action}),
                )
                .await
                .ok();
            assert_eq!(version(&processed), 4, "{b} {singular}");
            let refused = ws
                .call(
                    &format!("process_{singular}"),
                    json!({"id": rid, "action": action}),
                )
                .await
                .tool_error();
            assert!(refused.starts_with("cannot"), "{b} {singular}: {refused}");

            // archive hides from default lists; unarchive restores
            let archived = ws
                .call(&format!("archive_{singular}"), json!({"id": rid}))
                .await
                .ok();
            assert_eq!(archived["archived"], true, "{b}");
            let again = ws
                .call(&format!("archive_{singular}"), json!({"id": rid}))
                .await
                .ok();
            assert_eq!(
                version(&again),
                version(&archived),
                "{b}: archiving twice changes nothing"
            );
            let default = ws.call(&format!("list_{plural}"), json!({})).await.ok();
            assert!(
                default["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .all(|r| id(r) != rid),
                "{b}"
            );
            let only = ws
                .call(&format!("list_{plural}"), json!({"archived": "only"}))
                .await
                .ok();
            assert_eq!(only["items"].as_array().expect("items").len(), 1, "{b}");
            let restored = ws
                .call(
                    &format!("process_{singular}"),
                    json!({"id": rid, "action": "unarchive"}),
                )
                .await
                .ok();
            assert_eq!(restored["archived"], false, "{b}");

            // delete, then it is gone
            let deleted = ws
                .call(
                    &format!("delete_{singular}"),
                    json!({"id": rid, "version": version(&restored)}),
                )
                .await
                .ok();
            assert_eq!(deleted["deleted"], true, "{b}");
            let gone = ws
                .call(&format!("get_{singular}"), json!({"id": rid}))
                .await
                .tool_error();
            assert!(gone.contains("not found"), "{b}: {gone}");
            let gone = ws
                .call(&format!("delete_{singular}"), json!({"id": rid}))
                .await
                .tool_error();
            assert!(gone.contains("not found"), "{b}: {gone}");
        }
    }
}

#[tokio::test]
async fn deleting_a_parent_deletes_its_children() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        let chat = ws
            .call("create_chat", json!({"title": "Standup"}))
            .await
            .ok();
        for n in 0..3 {
            ws.call(
                "create_chat_message",
                json!({"chat_id": "standup", "role": "user", "content": format!("message {n}")}),
            )
            .await
            .ok();
        }
        ws.call(
            "create_comment",
            json!({"target_type": "chat", "target_id": id(&chat), "body": "Good one"}),
        )
        .await
        .ok();
        let task = ws.call("create_task", json!({"title": "Other"})).await.ok();
        let kept = ws
            .call(
                "create_comment",
                json!({"target_type": "task", "target_id": id(&task), "body": "Stays"}),
            )
            .await
            .ok();
        let deleted = ws.call("delete_chat", json!({"id": "standup"})).await.ok();
        assert_eq!(
            deleted["deleted_children"], 4,
            "{b}: 3 messages and 1 comment"
        );
        let messages = ws
            .call("list_chat_messages", json!({"archived": "include"}))
            .await
            .ok();
        assert_eq!(messages["items"], json!([]), "{b}");
        let comments = ws
            .call("list_comments", json!({"archived": "include"}))
            .await
            .ok();
        let left: Vec<String> = comments["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(id)
            .collect();
        assert_eq!(left, [id(&kept)], "{b}");
        let parent = ws
            .call(
                "create_chat_message",
                json!({"chat_id": "standup", "role": "user", "content": "late"}),
            )
            .await
            .tool_error();
        assert!(parent.contains("chat_id"), "{b}: {parent}");
    }
}

#[tokio::test]
async fn failures_are_actionable_and_name_the_field() {
    let backend = &backends().await[0];
    let ws = Workspace::start(backend, &[]).await;
    let bad_enum = ws
        .call("create_task", json!({"title": "x", "status": "later"}))
        .await
        .tool_error();
    assert!(
        bad_enum.contains("/status") || bad_enum.contains("status"),
        "{bad_enum}"
    );
    let missing = ws
        .call("create_task", json!({"description": "no title"}))
        .await
        .tool_error();
    assert!(missing.contains("title"), "{missing}");
    let unknown = ws
        .call("create_note", json!({"title": "x", "colour": "red"}))
        .await
        .tool_error();
    assert!(unknown.contains("colour"), "{unknown}");
    let date = ws
        .call("create_task", json!({"title": "x", "due": "next week"}))
        .await
        .tool_error();
    assert!(date.contains("due"), "{date}");
    let blank = ws
        .call("create_chat", json!({"title": "   "}))
        .await
        .tool_error();
    assert!(
        blank.contains("title") && blank.contains("blank"),
        "{blank}"
    );
    let parent = ws
        .call(
            "create_comment",
            json!({"target_type": "note", "target_id": "nope", "body": "hi"}),
        )
        .await
        .tool_error();
    assert!(
        parent.contains("target_id") && parent.contains("nope"),
        "{parent}"
    );
    let action = ws.call("create_task", json!({"title": "t"})).await.ok();
    let unknown_action = ws
        .call("process_task", json!({"id": id(&action), "action": "fly"}))
        .await
        .tool_error();
    assert!(unknown_action.contains("action"), "{unknown_action}");
    let patch = ws
        .call(
            "patch_task",
            json!({"id": id(&action), "version": 1, "patch": {"priority": "whenever"}}),
        )
        .await
        .tool_error();
    assert!(patch.contains("priority"), "{patch}");
    let moved = ws.call("create_note", json!({"title": "n"})).await.ok();
    let comment = ws
        .call(
            "create_comment",
            json!({"target_type": "task", "target_id": id(&action), "body": "c"}),
        )
        .await
        .ok();
    let mv = ws
        .call("patch_comment", json!({"id": id(&comment), "version": 1, "patch": {"target_type": "note", "target_id": id(&moved)}}))
        .await
        .tool_error();
    assert!(
        mv.contains("target_id") && mv.contains("cannot move"),
        "{mv}"
    );
    let since = ws
        .call("list_tasks", json!({"updated_since": "yesterday"}))
        .await
        .tool_error();
    assert!(since.contains("updated_since"), "{since}");
    let nul = ws
        .call("create_note", json!({"title": "a\u{0}b"}))
        .await
        .tool_error();
    assert!(nul.contains("title") && nul.contains("NUL"), "{nul}");
    let filter = ws
        .call("list_notes", json!({"status": "open"}))
        .await
        .tool_error();
    assert!(filter.contains("status"), "{filter}");
}

#[tokio::test]
async fn slugs_are_unique_per_org_and_stable() {
    for backend in backends().await {
        let ws = Workspace::start(&backend, &[]).await;
        let b = backend.name;
        let first = ws
            .call("create_note", json!({"title": "Weekly sync"}))
            .await
            .ok();
        let second = ws
            .call("create_note", json!({"title": "Weekly  sync!"}))
            .await
            .ok();
        let other_kind = ws
            .call("create_task", json!({"title": "Weekly sync"}))
            .await
            .ok();
        assert_eq!(first["slug"], "weekly-sync", "{b}");
        assert_eq!(second["slug"], "weekly-sync-2", "{b}");
        assert_eq!(other_kind["slug"], "weekly-sync", "{b}: slugs are per kind");
        let renamed = ws
            .call(
                "patch_note",
                json!({"id": "weekly-sync", "version": 1, "patch": {"title": "Monthly sync"}}),
            )
            .await
            .ok();
        assert_eq!(
            renamed["slug"], "weekly-sync",
            "{b}: a slug does not change with the title"
        );
        let other_org = ws
            .call_as(
                super::OTHER_ORG,
                "create_note",
                json!({"title": "Weekly sync"}),
            )
            .await
            .ok();
        assert_eq!(other_org["slug"], "weekly-sync", "{b}: slugs are per org");
    }
}

//! What the REST API refuses, always as problem details: unsupported media types, malformed
//! bodies and headers, invalid fields, unknown paths and methods; refused credentials, a
//! viewer's writes, other orgs' records; and every write on a read-only server.

use axum::http::StatusCode;
use serde_json::json;

use super::fixture::{
    Backend, Rest, WRITE, call, delete, get, id, merge_patch, post, put, with_body,
};

/// Media types, malformed bodies and headers, validation, unknown paths and methods.
pub(super) async fn errors_are_problem_details(backend: Backend) {
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
pub(super) async fn authentication_roles_and_tenancy(backend: Backend) {
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
pub(super) async fn read_only_server_refuses_writes(backend: Backend) {
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

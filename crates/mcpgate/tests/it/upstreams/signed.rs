//! Signed tenant headers through the real binaries: an edge mcpgate (dev tokens) federating an
//! internal mcpgate that trusts only signed headers (`MCPGATE_AUTH=signed`), so the internal one
//! serves each caller's own tenant without ever seeing a user token; and the internal one
//! attacked directly the ways a signature can be forged or reused.

use std::time::{SystemTime, UNIX_EPOCH};

use mcpgate::edge::signed::{NONCE, SIGNATURE, SUBJECT, Signed, TENANT, TIMESTAMP, sign};
use serde_json::{Value, json};

use crate::edge::config_file;
use crate::support::{Server, modern_meta, modern_request};

const OLD: &str = "the-old-signing-secret-0123456789abcdef";
const NEW: &str = "the-new-signing-secret-fedcba9876543210";

/// The internal mcpgate, accepting signatures under `secrets` (comma-separated).
async fn internal(secrets: &str) -> Server {
    Server::start(&[
        ("MCPGATE_AUTH", "signed"),
        ("MCPGATE_SIGNING_SECRETS", secrets),
        ("MCPGATE_MODULES", "system,workspace"),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
    ])
    .await
}

/// The edge mcpgate federating `inner` as `inner__*`, signing with `secret`.
async fn edge(inner: &Server, secret: &str) -> (Server, tempfile::TempDir) {
    let (dir, file) = config_file(&format!(
        r#"
[[upstreams]]
name = "inner"
transport = "http"
url = "{url}"
protocol = "2026-07-28"
sign_tenant_headers = true
signing_secret_env = "INNER_SIGNING_SECRET"
trust_annotations = true

[upstreams.tools]
allow = ["*"]
"#,
        url = inner.url(),
    ));
    let server = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH", "dev"),
        ("INNER_SIGNING_SECRET", secret),
    ])
    .await;
    (server, dir)
}

/// Call `tool` through `server` as `token`; the JSON-RPC answer.
async fn call(server: &Server, token: &str, tool: &str, arguments: Value) -> Value {
    let params = json!({"name": tool, "arguments": arguments});
    let response = crate::edge::rpc(server, Some(token), "tools/call", params).await;
    crate::support::messages(&response.text().await.expect("body"))
        .pop()
        .expect("an answer")
}

fn titles(answer: &Value) -> Vec<String> {
    answer["result"]["structuredContent"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {answer}"))
        .iter()
        .map(|n| n["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn each_caller_reaches_its_own_tenant_on_the_internal_server_and_secrets_rotate() {
    let inner = internal(&format!("{OLD},{NEW}")).await;
    let (gateway, _dir) = edge(&inner, OLD).await;
    let alice = "dev:alice:acme:admin";
    let bob = "dev:bob:globex:admin";
    let made = call(
        &gateway,
        alice,
        "inner__create_note",
        json!({"title": "acme plans"}),
    )
    .await;
    assert!(
        made["result"]["structuredContent"]["id"].is_string(),
        "{made}"
    );
    let listed = call(&gateway, alice, "inner__list_notes", json!({})).await;
    assert_eq!(titles(&listed), ["acme plans"]);
    let listed = call(&gateway, bob, "inner__list_notes", json!({})).await;
    assert!(
        titles(&listed).is_empty(),
        "another tenant's notes leaked: {listed}"
    );
    drop(gateway);

    // Mid-rotation the edge moves to the new secret: the internal server takes both.
    let (gateway, _dir) = edge(&inner, NEW).await;
    let listed = call(&gateway, alice, "inner__list_notes", json!({})).await;
    assert_eq!(titles(&listed), ["acme plans"]);
    drop(gateway);

    // Once the old secret is dropped on the internal side, an edge still on it gets nowhere.
    let after = internal(NEW).await;
    let (stale, _dir) = edge(&after, OLD).await;
    let answer = call(&stale, alice, "inner__health", json!({})).await;
    assert!(answer.get("error").is_some(), "{answer}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A `server/discover` body.
fn discover_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": modern_meta()}})
        .to_string()
}

/// POST `body` to `server` with `headers`; the status.
async fn post(server: &Server, headers: &[(http::HeaderName, String)], body: &str) -> u16 {
    let mut request = modern_request(server, "server/discover", None);
    for (name, value) in headers {
        request = request.header(name.as_str(), value);
    }
    request
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// Signed headers for `body` at `timestamp`, as an edge would make them.
fn at(timestamp: u64, tenant: &str, body: &str) -> Vec<(http::HeaderName, String)> {
    let nonce = format!("{:032x}", rand_nonce());
    let signed = Signed {
        method: "POST",
        target: "/mcp",
        tenant,
        subject: "alice",
        timestamp,
        nonce: &nonce,
    };
    vec![
        (TENANT, tenant.to_owned()),
        (SUBJECT, "alice".to_owned()),
        (TIMESTAMP, timestamp.to_string()),
        (NONCE, nonce.clone()),
        (SIGNATURE, signed.signature(OLD.as_bytes(), body.as_bytes())),
    ]
}

fn rand_nonce() -> u128 {
    u128::from(std::process::id()) << 64 | u128::from(now()) << 16 | u128::from(next())
}

fn next() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static N: AtomicU16 = AtomicU16::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn replace(headers: &mut [(http::HeaderName, String)], name: &http::HeaderName, value: &str) {
    for (n, v) in headers.iter_mut() {
        if n == name {
            *v = value.to_owned();
        }
    }
}

#[tokio::test]
async fn forged_stale_future_tampered_and_replayed_signatures_are_refused() {
    let inner = internal(OLD).await;
    let body = discover_body();
    // Nothing at all, or a user token instead of a signature.
    assert_eq!(post(&inner, &[], &body).await, 401);
    assert_eq!(
        post(
            &inner,
            &[(
                http::header::AUTHORIZATION,
                "Bearer dev:alice:acme:admin".to_owned()
            )],
            &body
        )
        .await,
        401
    );
    // A good signature passes once; sent again as captured, it is refused.
    let good = at(now(), "acme", &body);
    assert_eq!(post(&inner, &good, &body).await, 200);
    assert_eq!(
        post(&inner, &good, &body).await,
        401,
        "a replay was accepted"
    );
    // Outside the ±5 minute window, either way.
    assert_eq!(
        post(&inner, &at(now() - 400, "acme", &body), &body).await,
        401
    );
    assert_eq!(
        post(&inner, &at(now() + 400, "acme", &body), &body).await,
        401
    );
    // The body changed after signing.
    let signed = at(now(), "acme", &body);
    let other = body.replace("server/discover", "tools/list");
    assert_eq!(post(&inner, &signed, &other).await, 401);
    // The tenant (or subject) changed after signing.
    let mut signed = at(now(), "acme", &body);
    replace(&mut signed, &TENANT, "globex");
    assert_eq!(post(&inner, &signed, &body).await, 401);
    let mut signed = at(now(), "acme", &body);
    replace(&mut signed, &SUBJECT, "mallory");
    assert_eq!(post(&inner, &signed, &body).await, 401);
    // Signed under a secret the server does not hold.
    let forged = sign(
        b"a-secret-nobody-configured-000000000",
        "POST",
        "/mcp",
        "acme",
        "alice",
        body.as_bytes(),
    );
    let forged: Vec<(http::HeaderName, String)> = forged
        .into_iter()
        .map(|(n, v)| (n, v.to_str().expect("ascii").to_owned()))
        .collect();
    assert_eq!(post(&inner, &forged, &body).await, 401);
    // And each refusal says why, in the metrics.
    let metrics = reqwest::get(inner.at("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for reason in [
        "signed_missing",
        "signed_replayed",
        "signed_stale",
        "signed_future",
        "signed_bad_signature",
    ] {
        assert!(metrics.contains(reason), "{reason} not counted");
    }
}

#[tokio::test]
async fn replicas_sharing_redis_refuse_each_others_replays() {
    let Some(redis) = crate::edge::limits::redis_url().await else {
        return;
    };
    // A prefix of this run's own, so reruns never meet old keys.
    let prefix = format!("mcpgate-test-{}-{}:", std::process::id(), now());
    let env = [
        ("MCPGATE_AUTH", "signed"),
        ("MCPGATE_SIGNING_SECRETS", OLD),
        ("MCPGATE_REDIS_URL", redis.as_str()),
        ("MCPGATE_RATE_LIMIT_PREFIX", prefix.as_str()),
    ];
    let (a, b) = (Server::start(&env).await, Server::start(&env).await);
    let body = discover_body();
    let captured = at(now(), "acme", &body);
    assert_eq!(post(&a, &captured, &body).await, 200);
    assert_eq!(
        post(&b, &captured, &body).await,
        401,
        "the other replica took a replay"
    );
    assert_eq!(post(&a, &at(now(), "acme", &body), &body).await, 200);
}

#[tokio::test]
async fn proxy_mode_signs_each_relayed_request_for_its_caller() {
    let inner = internal(OLD).await;
    let (_dir, file) = config_file(&format!(
        "[proxy]\nupstream = \"{}\"\nsign_tenant_headers = true\n\
         signing_secret_env = \"INNER_SIGNING_SECRET\"\n",
        inner.url()
    ));
    let proxy = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH", "dev"),
        ("INNER_SIGNING_SECRET", OLD),
    ])
    .await;
    let alice = "dev:alice:acme:admin";
    let made = call(
        &proxy,
        alice,
        "create_note",
        json!({"title": "via the proxy"}),
    )
    .await;
    assert!(
        made["result"]["structuredContent"]["id"].is_string(),
        "{made}"
    );
    let listed = call(&proxy, alice, "list_notes", json!({})).await;
    assert_eq!(titles(&listed), ["via the proxy"]);
    let listed = call(&proxy, "dev:bob:globex:admin", "list_notes", json!({})).await;
    assert!(titles(&listed).is_empty(), "{listed}");
}

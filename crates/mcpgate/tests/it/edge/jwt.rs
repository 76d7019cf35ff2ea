//! `MCPGATE_AUTH=jwt` through the real binary: HS256 with a secret and RS256/ES256 from a JWKS
//! file, the 401 challenges that point at the protected-resource metadata, the metadata
//! documents themselves, audience checks, and the 403 for a token without a required scope.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{call, create_note, header, metrics, rpc};
use crate::support::Server;

pub const SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://mcp.test/mcp";
const PUBLIC_URL: &str = "https://mcp.test";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Claims for `sub` in org `acme` with `roles` and `scope`, valid for ten minutes.
pub fn claims(sub: &str, roles: &[&str], scope: &str) -> Value {
    json!({
        "sub": sub, "org": "acme", "roles": roles, "scope": scope,
        "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600,
    })
}

/// An HS256 token signed with [`SECRET`].
pub fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn signed(alg: Algorithm, kid: &str, pem: &str, claims: &Value) -> String {
    let pem = std::fs::read(fixture(pem)).expect("fixture");
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .expect("key");
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// The environment of a JWT server with the HMAC secret and the test issuer and audience.
pub fn jwt_env() -> Vec<(&'static str, String)> {
    vec![
        ("MCPGATE_AUTH", "jwt".into()),
        ("MCPGATE_JWT_SECRET", SECRET.into()),
        ("MCPGATE_JWT_ISSUER", ISSUER.into()),
        ("MCPGATE_PUBLIC_URL", PUBLIC_URL.into()),
        ("MCPGATE_WORKSPACE_WRITE", "true".into()),
    ]
}

async fn start(extra: &[(&str, &str)]) -> Server {
    let base = jwt_env();
    let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    Server::start(&env).await
}

const METADATA: &str = "https://mcp.test/.well-known/oauth-protected-resource";

#[tokio::test]
async fn jwt_callers_are_verified_and_refusals_point_at_the_metadata() {
    let server = start(&[]).await;
    let missing = rpc(&server, None, "tools/list", json!({})).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        header(&missing, "www-authenticate"),
        format!("Bearer resource_metadata=\"{METADATA}\"")
    );

    let good = hs256(&claims("ann", &["editor"], "workspace"));
    let (status, body) = call(&server, Some(&good), "health").await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], false, "{body}");

    let mut expired = claims("ann", &["editor"], "");
    expired["exp"] = json!(now() - 3600);
    let mut early = claims("ann", &["editor"], "");
    early["nbf"] = json!(now() + 3600);
    let mut elsewhere = claims("ann", &["editor"], "");
    elsewhere["aud"] = json!("https://another-service.test");
    let mut stranger = claims("ann", &["editor"], "");
    stranger["iss"] = json!("https://evil.test");
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let none = format!(
        "{}.{}.",
        base64_url(r#"{"alg":"none","typ":"JWT"}"#),
        base64_url(&claims("ann", &["admin"], "").to_string())
    );
    for (case, token) in [
        ("expired", hs256(&expired)),
        ("not yet valid", hs256(&early)),
        ("another audience", hs256(&elsewhere)),
        ("another issuer", hs256(&stranger)),
        ("tampered", tampered),
        ("alg none", none),
        ("oversized", "a".repeat(9000)),
    ] {
        let refused = rpc(&server, Some(&token), "tools/list", json!({})).await;
        assert_eq!(refused.status(), 401, "{case}");
        assert_eq!(
            header(&refused, "www-authenticate"),
            format!("Bearer error=\"invalid_token\", resource_metadata=\"{METADATA}\""),
            "{case}"
        );
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"], "invalid_token", "{case}");
    }

    // The REST API verifies the same way and attributes writes to the token's subject.
    let http = reqwest::Client::new();
    let created = create_note(&server, Some(&good), "From a JWT").await;
    assert_eq!(created["created_by"], "ann", "{created}");
    let refused = http
        .get(server.at("/api/v1/notes"))
        .bearer_auth(hs256(&expired))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
}

/// An HS256 token over claims written as JSON text (which can repeat a member).
fn hs256_text(claims: &str) -> String {
    let input = format!(
        "{}.{}",
        base64_url(r#"{"alg":"HS256","typ":"JWT"}"#),
        base64_url(claims)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).expect("sign");
    format!("{input}.{signature}")
}

#[tokio::test]
async fn a_token_that_repeats_a_claim_is_refused() {
    let server = start(&[]).await;
    let text = claims("ann", &["viewer"], "").to_string();
    let (status, body) = call(&server, Some(&hs256_text(&text)), "health").await;
    assert_eq!(status, 200, "hand-written claims verify: {body}");
    let later_exp = format!(r#""exp":{}"#, now() + 7200);
    // Each repeat comes last, where a parser that keeps the last value would take it.
    for member in [
        r#""org":"evil""#,
        r#""roles":["admin"]"#,
        r#""sub":"mallory""#,
        later_exp.as_str(),
    ] {
        let repeated = format!("{},{member}}}", &text[..text.len() - 1]);
        let refused = rpc(
            &server,
            Some(&hs256_text(&repeated)),
            "tools/list",
            json!({}),
        )
        .await;
        assert_eq!(refused.status(), 401, "{member}");
        assert!(
            header(&refused, "www-authenticate").starts_with("Bearer error=\"invalid_token\""),
            "{member}"
        );
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"], "invalid_token", "{member}: {body}");
        assert_eq!(
            body["message"], "the token's header or claims repeat a member",
            "{member}"
        );
    }
}

#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_paths() {
    let server = start(&[("MCPGATE_SCOPES_SUPPORTED", "workspace,admin")]).await;
    for (path, resource) in [
        (
            "/.well-known/oauth-protected-resource",
            PUBLIC_URL.to_owned(),
        ),
        (
            "/.well-known/oauth-protected-resource/mcp",
            format!("{PUBLIC_URL}/mcp"),
        ),
    ] {
        let response = reqwest::get(server.at(path)).await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        let doc: Value = response.json().await.expect("json");
        assert_eq!(doc["resource"], resource.as_str(), "{path}");
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["scopes_supported"], json!(["workspace", "admin"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn a_token_without_a_required_scope_is_forbidden_with_the_scopes_named() {
    let server = start(&[("MCPGATE_REQUIRED_SCOPES", "mcp:access")]).await;
    let lacking = hs256(&claims("ann", &["viewer"], "workspace"));
    let refused = rpc(&server, Some(&lacking), "tools/list", json!({})).await;
    assert_eq!(refused.status(), 403);
    let challenge = header(&refused, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp:access\""),
        "{challenge}"
    );
    assert!(challenge.contains(&format!("resource_metadata=\"{METADATA}\"")));
    let api = reqwest::Client::new()
        .get(server.at("/api/v1/tasks"))
        .bearer_auth(&lacking)
        .send()
        .await
        .expect("request");
    assert_eq!(api.status(), 403);
    let holding = hs256(&claims("ann", &["viewer"], "workspace mcp:access"));
    let (status, _) = call(&server, Some(&holding), "health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn asymmetric_keys_come_from_a_jwks_file() {
    let server = Server::start(&[
        ("MCPGATE_AUTH", "jwt"),
        ("MCPGATE_JWKS_FILE", &fixture("jwks.json")),
        ("MCPGATE_JWT_ISSUER", ISSUER),
        ("MCPGATE_JWT_AUDIENCE", AUDIENCE),
    ])
    .await;
    let who = claims("rsa-user", &["viewer"], "");
    for token in [
        signed(Algorithm::RS256, "rsa-1", "rsa-private.pem", &who),
        signed(Algorithm::ES256, "ec-1", "ec-private.pem", &who),
    ] {
        let (status, body) = call(&server, Some(&token), "health").await;
        assert_eq!(status, 200, "{body}");
    }
    // A key the set does not hold, and an HMAC token forged with the public key as secret.
    let unknown = signed(Algorithm::RS256, "rsa-2", "rsa2-private.pem", &who);
    let public = std::fs::read(fixture("rsa-public.pem")).expect("fixture");
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("rsa-1".into());
    let forged =
        jsonwebtoken::encode(&confused, &who, &EncodingKey::from_secret(&public)).expect("sign");
    for token in [unknown, forged] {
        let refused = rpc(&server, Some(&token), "tools/list", json!({})).await;
        assert_eq!(refused.status(), 401);
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// A key server on loopback serving `jwks.json`, then `jwks-rotated.json` once `rotate` is set.
async fn key_server(
    rotate: std::sync::Arc<std::sync::atomic::AtomicBool>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use std::sync::atomic::Ordering;
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let rotated = rotate.load(Ordering::SeqCst);
            fetches.fetch_add(1, Ordering::SeqCst);
            let name = if rotated {
                "jwks-rotated.json"
            } else {
                "jwks.json"
            };
            let body = std::fs::read_to_string(fixture(name)).expect("fixture");
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}

#[tokio::test]
async fn keys_from_a_jwks_url_are_cached_and_rotation_is_picked_up() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let rotate = Arc::new(AtomicBool::new(false));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = key_server(Arc::clone(&rotate), Arc::clone(&fetches)).await;
    let server = Server::start(&[
        ("MCPGATE_AUTH", "jwt"),
        ("MCPGATE_JWKS_URL", &url),
        ("MCPGATE_JWT_ISSUER", ISSUER),
        ("MCPGATE_JWT_AUDIENCE", AUDIENCE),
        ("MCPGATE_JWKS_REFETCH_COOLDOWN", "1s"),
    ])
    .await;
    let who = claims("rotating", &["viewer"], "");
    let first = signed(Algorithm::RS256, "rsa-1", "rsa-private.pem", &who);
    for _ in 0..5 {
        assert_eq!(call(&server, Some(&first), "health").await.0, 200);
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "fetched once, then cached"
    );
    let next = signed(Algorithm::RS256, "rsa-2", "rsa2-private.pem", &who);
    // A key the set does not hold: refused, and a burst of such requests costs at most one
    // refetch per cooldown (1 s), not one each.
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(call(&server, Some(&next), "health").await.0, 401);
    }
    let fetched = fetches.load(Ordering::SeqCst);
    let cooldowns = usize::try_from(started.elapsed().as_secs()).expect("seconds") + 1;
    assert!(
        fetched <= 1 + cooldowns,
        "{fetched} fetches for 20 requests in {:?}",
        started.elapsed()
    );
    // The issuer rotates. The new key is picked up by a refetch once the cooldown (1 s) since
    // the last one has passed: ask until it is, however long the machine takes, and count the
    // fetches the asking cost — at most one per cooldown, never one per request.
    rotate.store(true, Ordering::SeqCst);
    let before = fetches.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    let mut asked = 0;
    loop {
        asked += 1;
        if call(&server, Some(&next), "health").await.0 == 200 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the rotated key was never picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Counted from the rotation: the burst above may have spent one more cooldown on a slow
    // machine, which is its own budget, not this one's.
    let fetched = fetches.load(Ordering::SeqCst) - before;
    let cooldowns = usize::try_from(started.elapsed().as_secs()).expect("seconds") + 1;
    assert!(
        fetched <= 1 + cooldowns,
        "{fetched} fetches for {asked} requests in {:?}",
        started.elapsed()
    );
    assert_eq!(call(&server, Some(&first), "health").await.0, 200);
}

/// A key server on loopback that answers every fetch with 500.
async fn failing_key_server() -> String {
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}

/// A JWKS URL on a loopback port where nothing listens (bound, then closed).
async fn unreachable_key_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/jwks.json")
}

/// Keys that cannot be fetched are the server's outage, not a bad token: the gate answers 503
/// with `Retry-After` (no challenge, so clients keep their token), on the MCP endpoint and the
/// REST API, whether the key server is down or failing.
#[tokio::test]
async fn unreachable_signing_keys_are_a_503_with_retry_after() {
    for (case, url) in [
        ("nothing listening", unreachable_key_server().await),
        ("answering 500", failing_key_server().await),
    ] {
        let server = Server::start(&[
            ("MCPGATE_AUTH", "jwt"),
            ("MCPGATE_JWKS_URL", &url),
            ("MCPGATE_JWT_ISSUER", ISSUER),
            ("MCPGATE_JWT_AUDIENCE", AUDIENCE),
        ])
        .await;
        let token = signed(
            Algorithm::RS256,
            "rsa-1",
            "rsa-private.pem",
            &claims("ann", &["viewer"], ""),
        );
        // Twice: a retry within the refetch cooldown is refused the same way.
        for attempt in 0..2 {
            let refused = rpc(&server, Some(&token), "tools/list", json!({})).await;
            assert_eq!(refused.status(), 503, "{case}, attempt {attempt}");
            assert_eq!(header(&refused, "retry-after"), "5", "{case}");
            assert!(
                !refused.headers().contains_key("www-authenticate"),
                "{case}"
            );
            let body: Value = refused.json().await.expect("json");
            assert_eq!(body["error"], "auth_unavailable", "{case}: {body}");
        }
        let api = reqwest::Client::new()
            .get(server.at("/api/v1/notes"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(api.status(), 503, "{case}");
        assert_eq!(header(&api, "retry-after"), "5", "{case}");
    }
}

#[tokio::test]
async fn a_client_over_its_anonymous_limit_gets_no_more_verifications() {
    let server = start(&[
        ("MCPGATE_RATE_LIMIT_ANONYMOUS", "2/hour"),
        ("MCPGATE_RATE_LIMIT_LOOPBACK", "true"),
    ])
    .await;
    let good = hs256(&claims("ann", &["viewer"], ""));
    assert_eq!(call(&server, Some(&good), "health").await.0, 200);
    let mut stale = claims("mallory", &["admin"], "");
    stale["exp"] = json!(now() - 3600);
    let bad = hs256(&stale);
    assert_eq!(call(&server, Some(&bad), "health").await.0, 401);
    assert_eq!(call(&server, Some(&bad), "health").await.0, 401);
    assert_eq!(call(&server, Some(&bad), "health").await.0, 429);
    // Over the limit: nothing more is verified for this client...
    assert_eq!(call(&server, Some(&bad), "health").await.0, 429);
    let unseen = hs256(&claims("ann", &["viewer"], "fresh"));
    assert_eq!(call(&server, Some(&unseen), "health").await.0, 429);
    // ...but a token it proved before still works, at no cost.
    assert_eq!(call(&server, Some(&good), "health").await.0, 200);
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains("mcpgate_auth_refusals_total{reason=\"jwt_expired\"} 3"),
        "three verifications, not four: {metrics}"
    );
}

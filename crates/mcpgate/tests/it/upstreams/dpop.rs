//! DPoP toward upstreams through the real binaries: an authorization server run here that
//! binds tokens to the client's key (and wants its nonce), in front of an mcpgate that takes
//! its tokens, a resource server that admits only DPoP-bound tokens with a valid, fresh proof
//! of each request (and wants its own nonce). The gateway federating it (the direct path of a
//! 2026 upstream) and the proxy in front of it get through; a token alone, as a bearer token or
//! with a replayed or misdirected proof, gets nowhere.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::edge::config_file;
use crate::support::{Server, free_port};

const SIGNING: &str = "0123456789abcdef0123456789abcdef-dpop-as-key";
const CLIENT: (&str, &str) = ("gateway", "gateway-secret-dpop");
/// A pre-registered public client, for the authorization code grant.
const PUBLIC_CLIENT: &str = "gateway-public";
const ALICE: &str = "dev:alice:acme:admin";
const AS_NONCE: &str = "as-nonce-7";
const RS_NONCE: &str = "rs-nonce-3";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A verified proof: the key's thumbprint (RFC 7638) and the claims.
struct Proof {
    jkt: String,
    claims: Value,
}

/// Verify the DPoP `proof` of a `method` request to `url`, as RFC 9449 §4.3 has a server do.
fn verify(proof: Option<&str>, method: &str, url: &str) -> Result<Proof, String> {
    let proof = proof.ok_or("no proof")?;
    let head = proof.split('.').next().ok_or("not a JWT")?;
    let header: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("no header")?;
    if header["typ"] != "dpop+jwt" || header["alg"] != "ES256" {
        return Err(format!("header {header}"));
    }
    let jwk = &header["jwk"];
    if jwk.get("d").is_some() {
        return Err("a private key in the header".into());
    }
    let (x, y) = (
        jwk["x"].as_str().ok_or("no x")?,
        jwk["y"].as_str().ok_or("no y")?,
    );
    let key = jsonwebtoken::DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .map_err(|e| format!("signature: {e}"))?
        .claims;
    if claims["htm"] != method || claims["htu"] != url {
        return Err(format!("htm/htu {claims}"));
    }
    let age = chrono::Utc::now().timestamp() - claims["iat"].as_i64().unwrap_or(0);
    if age.abs() > 60 {
        return Err("stale".into());
    }
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    Ok(Proof {
        jkt: b64(sha2::Sha256::digest(canonical.as_bytes())),
        claims,
    })
}

#[derive(Default)]
struct Seen {
    /// Token requests: whether each carried a valid proof, and its nonce.
    token_proofs: Vec<(bool, Option<String>)>,
    /// Requests to the resource server: the scheme each presented (or why it was refused).
    presented: Vec<String>,
    /// Every proof id the resource server saw.
    jtis: Vec<String>,
    /// The last token and proof it let through.
    last: Option<(String, String)>,
    /// Each grant the authorization server made, and the key it bound the tokens to.
    grants: Vec<(String, String)>,
    /// Refresh tokens and the keys they are bound to.
    refresh: HashMap<String, String>,
    /// The resource server's nonce once it has rotated it ([`RS_NONCE`] before).
    nonce: Option<String>,
    /// Whether it sends a new nonce with each answer it lets through.
    rotating: bool,
    /// How many nonces it has sent with answers.
    rotations: usize,
}

struct Servers {
    base: String,
    resource: String,
    upstream: String,
    seen: Mutex<Seen>,
}

async fn as_metadata(State(s): State<Arc<Servers>>) -> Json<Value> {
    let base = &s.base;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": ["ES256"],
    }))
}

/// Approves at once (the user said yes).
async fn authorize(
    State(s): State<Arc<Servers>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let iss: String = url::form_urlencoded::byte_serialize(s.base.as_bytes()).collect();
    let back = format!(
        "{}?code=code-1&state={}&iss={iss}",
        query["redirect_uri"], query["state"]
    );
    axum::response::Redirect::to(&back).into_response()
}

async fn resource_metadata(State(s): State<Arc<Servers>>) -> Json<Value> {
    Json(json!({"resource": s.resource, "authorization_servers": [s.base]}))
}

/// A client credentials token endpoint that binds tokens to the proof's key, after asking for
/// its nonce.
async fn token(
    State(s): State<Arc<Servers>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
    let verified = verify(proof, "POST", &format!("{}/token", s.base));
    let nonce = verified
        .as_ref()
        .ok()
        .and_then(|p| p.claims["nonce"].as_str().map(str::to_owned));
    s.seen
        .lock()
        .unwrap()
        .token_proofs
        .push((verified.is_ok(), nonce.clone()));
    let refuse = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error})));
    let Ok(proof) = verified else {
        return refuse("invalid_dpop_proof").into_response();
    };
    if nonce.as_deref() != Some(AS_NONCE) {
        let mut answer = refuse("use_dpop_nonce").into_response();
        answer
            .headers_mut()
            .insert("dpop-nonce", AS_NONCE.parse().unwrap());
        return answer;
    }
    let basic = format!("Basic {}", {
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", CLIENT.0, CLIENT.1))
    });
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let mut seen = s.seen.lock().unwrap();
    let refresh = match grant.as_str() {
        "client_credentials"
            if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&basic) =>
        {
            None
        }
        "authorization_code"
            if form.get("code").map(String::as_str) == Some("code-1")
                && form.get("client_id").map(String::as_str) == Some(PUBLIC_CLIENT) =>
        {
            let refresh = format!("refresh-{}", seen.refresh.len() + 1);
            seen.refresh.insert(refresh.clone(), proof.jkt.clone());
            Some(refresh)
        }
        // A refresh token is bound to the key it was issued to (RFC 9449 §5).
        "refresh_token" => match form.get("refresh_token").and_then(|r| seen.refresh.get(r)) {
            Some(jkt) if *jkt == proof.jkt => form.get("refresh_token").cloned(),
            _ => return refuse("invalid_grant").into_response(),
        },
        _ => return refuse("invalid_client").into_response(),
    };
    seen.grants.push((grant, proof.jkt.clone()));
    drop(seen);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": s.base, "sub": "gateway", "org": "acme", "roles": ["admin"],
        "aud": form.get("resource"), "iat": now, "exp": now + 300,
        "cnf": {"jkt": proof.jkt},
    });
    let access = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SIGNING.as_bytes()),
    )
    .unwrap();
    let mut answer = json!({"access_token": access, "token_type": "DPoP", "expires_in": 300});
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
    }
    Json(answer).into_response()
}

/// The resource server: only a DPoP-bound token with a fresh proof of this request (with the
/// server's nonce, never seen before, by the key the token is bound to) is let through to the
/// mcpgate behind it, which gets the token as its bearer token.
async fn resource_server(
    State(s): State<Arc<Servers>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match admit(&s, &method, &uri, &headers) {
        Ok(token) => token,
        Err(refused) => return refused,
    };
    let mut forwarded = reqwest::Client::new()
        .request(method, &s.upstream)
        .bearer_auth(token)
        .body(body);
    for (name, value) in &headers {
        if name.as_str().starts_with("mcp-") || matches!(name.as_str(), "content-type" | "accept") {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.send().await.expect("the upstream answers");
    let status = answer.status();
    let kind = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut out = (status, bytes).into_response();
    if let Some(kind) = kind {
        out.headers_mut().insert("content-type", kind);
    }
    let mut seen = s.seen.lock().unwrap();
    if seen.rotating {
        seen.rotations += 1;
        let next = format!("rs-nonce-rotated-{}", seen.rotations);
        out.headers_mut()
            .insert("dpop-nonce", next.parse().unwrap());
        seen.nonce = Some(next);
    }
    out
}

/// The token of a request the resource server lets through, or its refusal.
#[allow(clippy::result_large_err)]
fn admit(s: &Servers, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<String, Response> {
    let challenge = |error: Option<&str>| {
        let mut value = format!(
            "DPoP resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            s.base
        );
        if let Some(error) = error {
            value = format!("DPoP error=\"{error}\", {}", &value[5..]);
        }
        let mut answer = StatusCode::UNAUTHORIZED.into_response();
        answer
            .headers_mut()
            .insert("www-authenticate", value.parse().unwrap());
        answer
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((scheme, token)) = authorization.split_once(' ') else {
        return Err(challenge(None));
    };
    let mut seen = s.seen.lock().unwrap();
    if !scheme.eq_ignore_ascii_case("dpop") {
        seen.presented.push(scheme.to_owned());
        return Err(challenge(Some("invalid_token")));
    }
    let url = format!("{}{}", s.resource.trim_end_matches("/mcp"), uri.path());
    let proof = match verify(
        headers.get("dpop").and_then(|v| v.to_str().ok()),
        method.as_str(),
        &url,
    ) {
        Ok(proof) => proof,
        Err(why) => {
            seen.presented.push(format!("bad proof: {why}"));
            return Err(challenge(Some("invalid_dpop_proof")));
        }
    };
    let jti = proof.claims["jti"].as_str().unwrap_or_default().to_owned();
    if seen.jtis.contains(&jti) {
        seen.presented.push("replayed proof".into());
        return Err(challenge(Some("invalid_dpop_proof")));
    }
    seen.jtis.push(jti);
    let bound = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .ok()
        .and_then(|t| t.claims["cnf"]["jkt"].as_str().map(str::to_owned));
    if proof.claims["ath"] != b64(sha2::Sha256::digest(token.as_bytes()))
        || bound.as_deref() != Some(&proof.jkt)
    {
        seen.presented.push("proof of another token or key".into());
        return Err(challenge(Some("invalid_token")));
    }
    let nonce = seen.nonce.clone().unwrap_or_else(|| RS_NONCE.to_owned());
    if proof.claims["nonce"] != nonce.as_str() {
        seen.presented.push("no nonce".into());
        let mut answer = challenge(Some("use_dpop_nonce"));
        answer
            .headers_mut()
            .insert("dpop-nonce", nonce.parse().unwrap());
        return Err(answer);
    }
    seen.presented.push("DPoP".into());
    let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
    seen.last = Some((token.to_owned(), proof.unwrap_or_default().to_owned()));
    Ok(token.to_owned())
}

/// The authorization server and the resource server on one loopback port, the mcpgate behind
/// them on another.
async fn start() -> (Arc<Servers>, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let port = free_port();
    let resource = format!("{base}/mcp");
    let upstream = Server::start_at(
        &format!("127.0.0.1:{port}"),
        &[
            ("MCPGATE_AUTH", "jwt"),
            ("MCPGATE_JWT_SECRET", SIGNING),
            ("MCPGATE_JWT_ISSUER", &base),
            ("MCPGATE_JWT_AUDIENCE", &resource),
        ],
    )
    .await;
    let servers = Arc::new(Servers {
        base,
        resource,
        upstream: format!("http://127.0.0.1:{port}/mcp"),
        seen: Mutex::default(),
    });
    let app = Router::new()
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/mcp", axum::routing::any(resource_server))
        .with_state(Arc::clone(&servers));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (servers, upstream)
}

fn succeeded(answer: &Value) -> bool {
    answer["result"].is_object() && answer["result"]["isError"] != json!(true)
}

/// The gateway (or proxy) with `config`, once `tool` works through it.
async fn gateway(config: &str, tool: &str) -> (Server, tempfile::TempDir) {
    let (dir, file) = config_file(config);
    let server = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH", "dev"),
        ("GW_SECRET", CLIENT.1),
    ])
    .await;
    super::faults::eventually("a call gets through", async || {
        succeeded(&crate::edge::call(&server, Some(ALICE), tool).await.1)
    })
    .await;
    (server, dir)
}

/// What the servers saw, checked: every token request proved the key (the first without the
/// nonce, which was then sent), and every request that reached the upstream presented a
/// DPoP-bound token with a fresh proof — never a bearer token, never a proof twice.
fn assert_bound(servers: &Servers) {
    let seen = servers.seen.lock().unwrap();
    assert!(
        seen.token_proofs.iter().all(|(valid, _)| *valid),
        "{:?}",
        seen.token_proofs
    );
    assert_eq!(seen.token_proofs[0].1, None, "{:?}", seen.token_proofs);
    assert_eq!(seen.token_proofs[1].1.as_deref(), Some(AS_NONCE));
    assert!(
        seen.presented
            .iter()
            .all(|p| p == "DPoP" || p == "no nonce"),
        "{:?}",
        seen.presented
    );
    assert!(seen.presented.iter().filter(|p| *p == "DPoP").count() >= 2);
    let distinct: HashSet<_> = seen.jtis.iter().collect();
    assert_eq!(distinct.len(), seen.jtis.len(), "a proof was sent twice");
}

/// The gateway's entry for the resource server, a 2026 upstream (the direct path) with client
/// credentials.
fn federating(servers: &Servers) -> String {
    format!(
        "[[upstreams]]\nname = \"up\"\ntransport = \"http\"\nurl = \"{}\"\nprotocol = \"2026-07-28\"\n\
         [upstreams.tools]\nallow = [\"*\"]\n[upstreams.oauth]\nclient_id = \"{}\"\nclient_secret_env = \"GW_SECRET\"\n",
        servers.resource, CLIENT.0
    )
}

/// Proxy mode in front of the resource server, with client credentials.
fn proxying(servers: &Servers) -> String {
    format!(
        "[proxy]\nupstream = \"{}\"\n[proxy.oauth]\nclient_id = \"{}\"\nclient_secret_env = \"GW_SECRET\"\n",
        servers.resource, CLIENT.0
    )
}

#[tokio::test]
async fn the_gateway_presents_dpop_bound_tokens_with_a_fresh_proof_and_both_nonces() {
    let (servers, _upstream) = start().await;
    let config = federating(&servers);
    let (gateway, _dir) = gateway(&config, "up__server_info").await;
    for _ in 0..3 {
        let answer = crate::edge::call(&gateway, Some(ALICE), "up__server_info")
            .await
            .1;
        assert!(succeeded(&answer), "{answer}");
    }
    assert_bound(&servers);
}

/// `upstreams check` says the tokens are bound to mcpgate's key (and shows no token).
#[tokio::test]
async fn upstreams_check_says_the_tokens_are_dpop_bound() {
    let (servers, _upstream) = start().await;
    let (_dir, file) = config_file(&federating(&servers));
    let report = super::oauth::check(&[("MCPGATE_CONFIG", &file), ("GW_SECRET", CLIENT.1)]).await;
    assert!(
        report.contains(
            "credential: OAuth client_credentials: access token bound to mcpgate's DPoP key"
        ),
        "{report}"
    );
    assert!(!report.contains(CLIENT.1), "{report}");
}

#[tokio::test]
async fn the_proxy_presents_dpop_bound_tokens_with_a_fresh_proof_and_both_nonces() {
    let (servers, _upstream) = start().await;
    let config = proxying(&servers);
    let (proxy, _dir) = gateway(&config, "server_info").await;
    let answer = crate::edge::call(&proxy, Some(ALICE), "server_info")
        .await
        .1;
    assert!(succeeded(&answer), "{answer}");
    assert_bound(&servers);
}

/// A nonce the resource server sends with an answer it let through is the next proof's: with
/// a new nonce on every answer, no request is refused for a stale one (gateway and proxy).
#[tokio::test]
async fn a_nonce_sent_with_an_answer_is_the_next_requests() {
    for proxy in [false, true] {
        let (servers, _upstream) = start().await;
        let (config, tool) = match proxy {
            false => (federating(&servers), "up__server_info"),
            true => (proxying(&servers), "server_info"),
        };
        let (server, _dir) = gateway(&config, tool).await;
        let stale = |servers: &Servers| {
            let seen = servers.seen.lock().unwrap();
            seen.presented.iter().filter(|p| *p == "no nonce").count()
        };
        let before = stale(&servers);
        servers.seen.lock().unwrap().rotating = true;
        for _ in 0..4 {
            let answer = crate::edge::call(&server, Some(ALICE), tool).await.1;
            assert!(succeeded(&answer), "{answer}");
        }
        assert_eq!(servers.seen.lock().unwrap().rotations, 4, "proxy: {proxy}");
        assert_eq!(
            stale(&servers),
            before,
            "proxy: {proxy}: a request went out with a stale nonce"
        );
        assert_bound(&servers);
    }
}

#[tokio::test]
async fn a_dpop_bound_token_alone_or_with_a_replayed_or_misdirected_proof_gets_nowhere() {
    let (servers, _upstream) = start().await;
    let config = federating(&servers);
    let (_gateway, _dir) = gateway(&config, "up__server_info").await;
    // What an attacker could lift off the wire: a token and a proof the gateway sent; and a
    // token bound to a key the attacker does not hold.
    let now = chrono::Utc::now().timestamp();
    let stolen = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iss": servers.base, "sub": "gateway", "org": "acme", "roles": ["admin"],
                "aud": servers.resource, "iat": now, "exp": now + 300,
                "cnf": {"jkt": "the-gateways-key"}}),
        &jsonwebtoken::EncodingKey::from_secret(SIGNING.as_bytes()),
    )
    .unwrap();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let post = |authorization: String, proof: Option<String>| {
        let mut request = reqwest::Client::new()
            .post(&servers.resource)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(ping);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    // The gateway's own token and proof, replayed exactly.
    let (token, proof) = servers.seen.lock().unwrap().last.clone().unwrap();
    let answer = post(format!("DPoP {token}"), Some(proof)).await.unwrap();
    assert_eq!(answer.status(), 401);
    // Its token as a bearer token.
    let answer = post(format!("Bearer {token}"), None).await.unwrap();
    assert_eq!(answer.status(), 401);
    // A token bound to another key, as a bearer token.
    let answer = post(format!("Bearer {stolen}"), None).await.unwrap();
    assert_eq!(answer.status(), 401);
    // With a proof by another key (the attacker's own), for this request, with the nonce.
    let attacker = DpopKeyForTest::new();
    let proof = attacker.proof("POST", &servers.resource, &stolen);
    let answer = post(format!("DPoP {stolen}"), Some(proof)).await.unwrap();
    assert_eq!(answer.status(), 401);
    // A proof made for another URL.
    let proof = attacker.proof("POST", "http://127.0.0.1:1/mcp", &stolen);
    let answer = post(format!("DPoP {stolen}"), Some(proof.clone()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let seen = servers.seen.lock().unwrap();
    let refused: Vec<_> = seen.presented.iter().rev().take(5).cloned().collect();
    assert_eq!(refused[4], "replayed proof", "{refused:?}");
    assert_eq!(refused[3], "Bearer", "{refused:?}");
    assert_eq!(refused[2], "Bearer", "{refused:?}");
    assert!(refused[1].contains("another token or key"), "{refused:?}");
    assert!(refused[0].contains("htm/htu"), "{refused:?}");
}

#[tokio::test]
async fn a_code_grants_key_is_sealed_with_it_so_serving_refreshes_with_the_same_key() {
    let (servers, _upstream) = start().await;
    let (_config, file) = config_file(&format!(
        "[[upstreams]]\nname = \"up\"\ntransport = \"http\"\nurl = \"{}\"\nprotocol = \"2026-07-28\"\n\
         [upstreams.tools]\nallow = [\"*\"]\n[upstreams.oauth]\ngrant = \"authorization_code\"\nclient_id = \"{PUBLIC_CLIENT}\"\n",
        servers.resource
    ));
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let env = [
        ("MCPGATE_CONFIG", file.as_str()),
        ("MCPGATE_DATA_DIR", data_dir.as_str()),
        (
            "MCPGATE_SECRET_KEY",
            "a long enough secret key for the test",
        ),
    ];
    let out = super::oauth::login(&env, &servers.base).await;
    assert!(
        out.contains("up: authorized") && out.contains("bound to mcpgate's DPoP key"),
        "{out}"
    );
    // Another process, started later, refreshes the grant: the server takes the refresh only
    // with a proof of the key the grant was made to, which was sealed with the grant.
    let mut serving = env.to_vec();
    serving.push(("MCPGATE_AUTH", "dev"));
    let gateway = Server::start(&serving).await;
    super::faults::eventually("a call gets through", async || {
        succeeded(
            &crate::edge::call(&gateway, Some(ALICE), "up__server_info")
                .await
                .1,
        )
    })
    .await;
    let seen = servers.seen.lock().unwrap();
    let (login, key) = &seen.grants[0];
    assert_eq!(login, "authorization_code");
    assert!(
        seen.grants[1..]
            .iter()
            .any(|(grant, jkt)| grant == "refresh_token" && jkt == key),
        "{:?}",
        seen.grants
    );
    drop(seen);
    assert_bound(&servers);
    let sealed = std::fs::read_to_string(data.path().join("oauth/up.grant")).unwrap();
    assert!(!sealed.contains("refresh-1") && !sealed.contains("PRIVATE"));
}

/// An attacker's own DPoP key (P-256), making proofs the way any client would.
struct DpopKeyForTest {
    pair: ring::signature::EcdsaKeyPair,
}

impl DpopKeyForTest {
    fn new() -> Self {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        }
    }

    fn proof(&self, method: &str, url: &str, token: &str) -> String {
        use ring::signature::KeyPair as _;
        let point = self.pair.public_key().as_ref();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256",
            "jwk": {"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])}});
        let claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url,
            "iat": chrono::Utc::now().timestamp(), "nonce": RS_NONCE,
            "ath": b64(sha2::Sha256::digest(token.as_bytes()))});
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let rng = ring::rand::SystemRandom::new();
        let signature = self.pair.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", b64(signature.as_ref()))
    }
}

//! Tests of JWT verification with each key source — a shared secret, a JWKS file and a JWKS URL
//! served on loopback — plus key-set parsing, claim mapping and settings checks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::fetch::JwksUrl;
use super::keys::{KeySet, KeySetError, Selection};
use super::*;

const RSA_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/jwt/rsa-private.pem");
const RSA2_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/jwt/rsa2-private.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/jwt/ec-private.pem");
const ED_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/jwt/ed25519-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../../tests/fixtures/jwt/rsa-public.pem");
const JWKS: &str = include_str!("../../../tests/fixtures/jwt/jwks.json");
const JWKS_ROTATED: &str = include_str!("../../../tests/fixtures/jwt/jwks-rotated.json");

const SECRET: &str = "a-shared-hmac-secret-of-32-bytes-or-more";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "mcpgate";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> Value {
    json!({
        "sub": "alice",
        "org": "acme",
        "roles": ["editor"],
        "scope": "files:read files:write",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 300,
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    if let Some(map) = claims.as_object_mut() {
        map.remove(name);
    }
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign a test token")
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIVATE).expect("rsa fixture")
}

fn rsa2_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA2_PRIVATE).expect("rsa2 fixture")
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PRIVATE).expect("ec fixture")
}

fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_pem(ED_PRIVATE).expect("ed25519 fixture")
}

fn hs_key() -> EncodingKey {
    EncodingKey::from_secret(SECRET.as_bytes())
}

/// A token with a hand-built header (no signing library involved) and the given signature.
fn hand_built(header: &Value, claims: &Value, signature: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}

/// The RSA fixture's modulus, as raw bytes (what a naive HMAC-with-the-public-key attack uses).
fn rsa_modulus() -> Vec<u8> {
    let jwks: Value = serde_json::from_str(JWKS).expect("jwks fixture");
    let n = jwks["keys"][0]["n"].as_str().expect("rsa-1 n");
    URL_SAFE_NO_PAD.decode(n).expect("n is base64url")
}

fn settings() -> JwtSettings {
    JwtSettings {
        issuer: Some(ISSUER.to_owned()),
        audience: vec![AUDIENCE.to_owned()],
        ..JwtSettings::default()
    }
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn secret_verifier() -> JwtVerifier {
    JwtVerifier::new(JwtSettings {
        secret: Some(SECRET.to_owned()),
        ..settings()
    })
    .expect("secret verifier")
}

fn file_verifier() -> JwtVerifier {
    JwtVerifier::new(JwtSettings {
        jwks_file: Some(fixture_path("jwks.json")),
        ..settings()
    })
    .expect("file verifier")
}

// ---------------------------------------------------------------------------------------------
// A JWKS endpoint on loopback that counts its fetches.

#[derive(Clone)]
enum Reply {
    Body(String),
    Status(StatusCode),
    Slow(Duration),
}

#[derive(Clone)]
struct ServerState {
    fetches: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
}

struct JwksServer {
    url: String,
    state: ServerState,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(reply: Reply) -> Self {
        let state = ServerState {
            fetches: Arc::new(AtomicUsize::new(0)),
            reply: Arc::new(Mutex::new(reply)),
        };
        let app = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/jwks.json?tenant=t1"),
            state,
            task,
        }
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    fn reply(&self, reply: Reply) {
        *self.state.reply.lock().expect("reply lock") = reply;
    }

    fn verifier(&self, tune: impl FnOnce(&mut JwtSettings)) -> JwtVerifier {
        let mut settings = JwtSettings {
            jwks_url: Some(self.url.clone()),
            ..settings()
        };
        tune(&mut settings);
        JwtVerifier::new(settings).expect("url verifier")
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(state): State<ServerState>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let reply = state.reply.lock().expect("reply lock").clone();
    match reply {
        Reply::Body(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Reply::Status(status) => status.into_response(),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ([(header::CONTENT_TYPE, "application/json")], JWKS).into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases every backend must pass. A backend signs tokens with its own key and algorithm.

struct Backend {
    verifier: JwtVerifier,
    alg: Algorithm,
    kid: Option<&'static str>,
    key: EncodingKey,
    _server: Option<JwksServer>,
}

impl Backend {
    fn token(&self, claims: &Value) -> String {
        sign(self.alg, self.kid, &self.key, claims)
    }

    async fn verify(&self, claims: &Value) -> Result<VerifiedClaims, JwtError> {
        self.verifier.verify(&self.token(claims)).await
    }

    /// A token signed with the backend's key over a header and claims written as JSON text
    /// (which, unlike a `Value`, can repeat a member).
    fn raw(&self, header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, self.alg).expect("sign");
        format!("{input}.{signature}")
    }

    /// The backend's JOSE header as JSON text.
    fn header_text(&self) -> String {
        let mut header = json!({"alg": format!("{:?}", self.alg), "typ": "JWT"});
        if let Some(kid) = self.kid {
            header["kid"] = json!(kid);
        }
        header.to_string()
    }
}

async fn secret_backend() -> Backend {
    Backend {
        verifier: secret_verifier(),
        alg: Algorithm::HS256,
        kid: None,
        key: hs_key(),
        _server: None,
    }
}

async fn file_backend() -> Backend {
    Backend {
        verifier: file_verifier(),
        alg: Algorithm::RS256,
        kid: Some("rsa-1"),
        key: rsa_key(),
        _server: None,
    }
}

async fn url_backend() -> Backend {
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    Backend {
        verifier: server.verifier(|_| {}),
        alg: Algorithm::RS256,
        kid: Some("rsa-1"),
        key: rsa_key(),
        _server: Some(server),
    }
}

mod cases {
    use super::*;

    pub(super) async fn valid(b: Backend) {
        let verified = b.verify(&claims()).await.expect("a valid token");
        assert!(verified.expires_at > now(), "{verified:?}");
        assert_eq!(
            verified,
            VerifiedClaims {
                subject: "alice".into(),
                org: "acme".into(),
                roles: vec!["editor".into()],
                scopes: vec!["files:read".into(), "files:write".into()],
                expires_at: verified.expires_at,
                issuer: Some(ISSUER.into()),
            }
        );
    }

    pub(super) async fn expired(b: Backend) {
        let stale = with(claims(), "exp", json!(now() - 120));
        assert_eq!(b.verify(&stale).await, Err(JwtError::Expired));
        let within_leeway = with(claims(), "exp", json!(now() - 10));
        assert!(b.verify(&within_leeway).await.is_ok());
    }

    pub(super) async fn not_yet_valid(b: Backend) {
        let early = with(claims(), "nbf", json!(now() + 120));
        assert_eq!(b.verify(&early).await, Err(JwtError::NotYetValid));
        let within_leeway = with(claims(), "nbf", json!(now() + 10));
        assert!(b.verify(&within_leeway).await.is_ok());
    }

    pub(super) async fn wrong_issuer(b: Backend) {
        let other = with(claims(), "iss", json!("https://evil.test"));
        assert_eq!(b.verify(&other).await, Err(JwtError::WrongIssuer));
        let none = without(claims(), "iss");
        assert_eq!(
            b.verify(&none).await,
            Err(JwtError::MissingClaim("iss".into()))
        );
    }

    pub(super) async fn wrong_audience(b: Backend) {
        let other = with(claims(), "aud", json!("someone-else"));
        assert_eq!(b.verify(&other).await, Err(JwtError::WrongAudience));
        let none = without(claims(), "aud");
        assert_eq!(
            b.verify(&none).await,
            Err(JwtError::MissingClaim("aud".into()))
        );
        let several = with(claims(), "aud", json!(["someone-else", AUDIENCE]));
        assert!(b.verify(&several).await.is_ok());
    }

    pub(super) async fn alg_none(b: Backend) {
        for alg in ["none", "None", "NONE"] {
            let header = match b.kid {
                Some(kid) => json!({"alg": alg, "typ": "JWT", "kid": kid}),
                None => json!({"alg": alg, "typ": "JWT"}),
            };
            let token = hand_built(&header, &claims(), "");
            assert_eq!(
                b.verifier.verify(&token).await,
                Err(JwtError::AlgorithmNotAllowed),
                "alg {alg}"
            );
        }
    }

    pub(super) async fn tampered(b: Backend) {
        let token = b.token(&claims());
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        let mut bad = signature.as_bytes().to_vec();
        let middle = bad.len() / 2;
        bad[middle] = if bad[middle] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).expect("ascii");
        assert_eq!(
            b.verifier.verify(&format!("{message}.{bad}")).await,
            Err(JwtError::BadSignature)
        );

        // A payload swapped for another one under the original signature.
        let admin = b.token(&with(claims(), "roles", json!(["admin"])));
        let (header, _) = token.split_once('.').expect("three parts");
        let admin_payload = admin.split('.').nth(1).expect("payload");
        let spliced = format!("{header}.{admin_payload}.{signature}");
        assert_eq!(
            b.verifier.verify(&spliced).await,
            Err(JwtError::BadSignature)
        );
    }

    pub(super) async fn oversized(b: Backend) {
        let padded = with(claims(), "pad", json!("x".repeat(9000)));
        assert!(matches!(
            b.verify(&padded).await,
            Err(JwtError::TooLarge { max: 8192 })
        ));
        // Refused by length alone: it is not even a JWT.
        let junk = "a".repeat(8193);
        assert_eq!(
            b.verifier.verify(&junk).await,
            Err(JwtError::TooLarge { max: 8192 })
        );
    }

    pub(super) async fn missing_claims(b: Backend) {
        for claim in ["exp", "sub", "org"] {
            assert_eq!(
                b.verify(&without(claims(), claim)).await,
                Err(JwtError::MissingClaim(claim.into())),
                "without {claim}"
            );
        }
        assert_eq!(
            b.verify(&with(claims(), "sub", json!(""))).await,
            Err(JwtError::MissingClaim("sub".into()))
        );
        assert_eq!(
            b.verify(&with(claims(), "sub", json!("al ice"))).await,
            Err(JwtError::InvalidClaim("sub".into()))
        );
        assert_eq!(
            b.verify(&with(claims(), "org", json!(42))).await,
            Err(JwtError::InvalidClaim("org".into()))
        );
        assert_eq!(
            b.verify(&with(claims(), "org", json!("x".repeat(129))))
                .await,
            Err(JwtError::InvalidClaim("org".into()))
        );
        assert_eq!(
            b.verify(&with(claims(), "exp", json!("tomorrow"))).await,
            Err(JwtError::MissingClaim("exp".into())),
            "an exp that is not a number counts as absent"
        );
    }

    pub(super) async fn repeated_members(b: Backend) {
        let header = b.header_text();
        let claims = claims().to_string();
        assert!(
            b.verifier.verify(&b.raw(&header, &claims)).await.is_ok(),
            "hand-written JSON text signs and verifies"
        );
        // The repeat comes first, so a parser that keeps the last value sees the good one.
        let repeat = |text: &str, member: &str| format!("{{{member},{}", &text[1..]);
        let later_exp = format!(r#""exp":{}"#, now() + 3600);
        for member in [
            r#""org":"evil""#,
            r#""roles":["admin"]"#,
            r#""sub":"mallory""#,
            later_exp.as_str(),
            r#""iss":"https://evil.test""#,
        ] {
            let token = b.raw(&header, &repeat(&claims, member));
            assert_eq!(
                b.verifier.verify(&token).await,
                Err(JwtError::RepeatedMember),
                "claims repeating {member}"
            );
        }
        let mut header_repeats = vec![r#""alg":"none""#, r#""typ":"JWT""#];
        if b.kid.is_some() {
            header_repeats.push(r#""kid":"other""#);
        }
        for member in header_repeats {
            let token = b.raw(&repeat(&header, member), &claims);
            assert_eq!(
                b.verifier.verify(&token).await,
                Err(JwtError::RepeatedMember),
                "header repeating {member}"
            );
        }
    }

    pub(super) async fn malformed(b: Backend) {
        let not_json = format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode("not json"));
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.e30.c2ln",
            not_json.as_str(),
        ] {
            assert_eq!(
                b.verifier.verify(token).await,
                Err(JwtError::Malformed),
                "{token:?}"
            );
        }
        let critical = json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]});
        let token = hand_built(&critical, &claims(), "c2ln");
        assert_eq!(b.verifier.verify(&token).await, Err(JwtError::Malformed));
    }
}

macro_rules! every_backend {
    ($($module:ident => $setup:ident),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn accepts_a_valid_token() {
                cases::valid($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_an_expired_token() {
                cases::expired($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_a_token_not_valid_yet() {
                cases::not_yet_valid($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_a_wrong_or_missing_issuer() {
                cases::wrong_issuer($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_a_wrong_or_missing_audience() {
                cases::wrong_audience($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_alg_none() {
                cases::alg_none($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_a_tampered_token() {
                cases::tampered($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_an_oversized_token_before_parsing() {
                cases::oversized($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_missing_or_invalid_claims() {
                cases::missing_claims($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_malformed_tokens() {
                cases::malformed($setup().await).await;
            }

            #[tokio::test]
            async fn refuses_a_repeated_member() {
                cases::repeated_members($setup().await).await;
            }
        }
    )*};
}

every_backend! {
    secret => secret_backend,
    jwks_file => file_backend,
    jwks_url => url_backend,
}

// ---------------------------------------------------------------------------------------------
// Shared secret.

#[tokio::test]
async fn secret_never_accepts_an_asymmetric_token() {
    let verifier = secret_verifier();
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa-1", rsa_key()),
        (Algorithm::ES256, "ec-1", ec_key()),
        (Algorithm::EdDSA, "ed-1", ed_key()),
    ] {
        let token = sign(alg, Some(kid), &key, &claims());
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::AlgorithmNotAllowed),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn secret_verifies_every_hmac_size_and_ignores_kid() {
    let verifier = secret_verifier();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = sign(alg, Some("anything"), &hs_key(), &claims());
        assert!(verifier.verify(&token).await.is_ok(), "{alg:?}");
    }
    let other = EncodingKey::from_secret(b"another-secret-that-is-32-bytes-long!!");
    let token = sign(Algorithm::HS256, None, &other, &claims());
    assert_eq!(verifier.verify(&token).await, Err(JwtError::BadSignature));
}

// ---------------------------------------------------------------------------------------------
// JWKS file.

#[tokio::test]
async fn file_refuses_an_unknown_kid() {
    let token = sign(Algorithm::RS256, Some("rsa-9"), &rsa_key(), &claims());
    assert_eq!(
        file_verifier().verify(&token).await,
        Err(JwtError::UnknownKey)
    );
}

#[tokio::test]
async fn file_verifies_es256_and_eddsa() {
    let verifier = file_verifier();
    let es = sign(Algorithm::ES256, Some("ec-1"), &ec_key(), &claims());
    assert_eq!(verifier.verify(&es).await.expect("ES256").subject, "alice");
    let ed = sign(Algorithm::EdDSA, Some("ed-1"), &ed_key(), &claims());
    assert_eq!(verifier.verify(&ed).await.expect("EdDSA").subject, "alice");
}

#[tokio::test]
async fn file_refuses_hmac_signed_with_the_public_key() {
    let verifier = file_verifier();
    for secret in [RSA_PUBLIC.to_vec(), rsa_modulus()] {
        let forged = sign(
            Algorithm::HS256,
            Some("rsa-1"),
            &EncodingKey::from_secret(&secret),
            &claims(),
        );
        assert_eq!(
            verifier.verify(&forged).await,
            Err(JwtError::AlgorithmNotAllowed)
        );
    }
}

#[tokio::test]
async fn file_keys_are_pinned_to_their_algorithms() {
    let verifier = file_verifier();
    // rsa-1 names RS256, so PS256 under it is refused even though the key could verify it.
    let ps = sign(Algorithm::PS256, Some("rsa-1"), &rsa_key(), &claims());
    assert_eq!(
        verifier.verify(&ps).await,
        Err(JwtError::AlgorithmNotAllowed)
    );
    // An EC token claiming the RSA key's kid.
    let es = sign(Algorithm::ES256, Some("rsa-1"), &ec_key(), &claims());
    assert_eq!(
        verifier.verify(&es).await,
        Err(JwtError::AlgorithmNotAllowed)
    );
    // EdDSA under the EC key's kid.
    let ed = sign(Algorithm::EdDSA, Some("ec-1"), &ed_key(), &claims());
    assert_eq!(
        verifier.verify(&ed).await,
        Err(JwtError::AlgorithmNotAllowed)
    );
    // The right algorithm, the wrong private key.
    let other = sign(Algorithm::RS256, Some("rsa-1"), &rsa2_key(), &claims());
    assert_eq!(verifier.verify(&other).await, Err(JwtError::BadSignature));
}

#[tokio::test]
async fn file_token_without_kid_tries_the_keys_of_its_family() {
    let verifier = file_verifier();
    for (alg, key) in [
        (Algorithm::RS256, rsa_key()),
        (Algorithm::ES256, ec_key()),
        (Algorithm::EdDSA, ed_key()),
    ] {
        let token = sign(alg, None, &key, &claims());
        assert!(verifier.verify(&token).await.is_ok(), "{alg:?}");
    }
    let unknown = sign(Algorithm::RS256, None, &rsa2_key(), &claims());
    assert_eq!(verifier.verify(&unknown).await, Err(JwtError::BadSignature));
    // No key in the set may verify ES384, so the signature is never looked at.
    let es384 = hand_built(&json!({"alg": "ES384"}), &claims(), "c2ln");
    assert_eq!(
        verifier.verify(&es384).await,
        Err(JwtError::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn rsa_key_without_alg_verifies_the_whole_rsa_family() {
    let mut jwks: Value = serde_json::from_str(JWKS).expect("jwks fixture");
    if let Some(rsa) = jwks["keys"][0].as_object_mut() {
        rsa.remove("alg");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks.to_string()).expect("write jwks");
    let verifier = JwtVerifier::new(JwtSettings {
        jwks_file: Some(path),
        ..settings()
    })
    .expect("verifier");
    for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
        let token = sign(alg, Some("rsa-1"), &rsa_key(), &claims());
        assert!(verifier.verify(&token).await.is_ok(), "{alg:?}");
    }
    let es = sign(Algorithm::ES256, Some("rsa-1"), &ec_key(), &claims());
    assert_eq!(
        verifier.verify(&es).await,
        Err(JwtError::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn secret_and_key_set_keep_their_families_apart() {
    let verifier = JwtVerifier::new(JwtSettings {
        secret: Some(SECRET.to_owned()),
        jwks_file: Some(fixture_path("jwks.json")),
        ..settings()
    })
    .expect("verifier");
    let rs = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims());
    assert!(verifier.verify(&rs).await.is_ok());
    let hs = sign(Algorithm::HS256, Some("rsa-1"), &hs_key(), &claims());
    assert!(verifier.verify(&hs).await.is_ok());
    for secret in [RSA_PUBLIC.to_vec(), rsa_modulus()] {
        let forged = sign(
            Algorithm::HS256,
            Some("rsa-1"),
            &EncodingKey::from_secret(&secret),
            &claims(),
        );
        assert_eq!(verifier.verify(&forged).await, Err(JwtError::BadSignature));
    }
}

// ---------------------------------------------------------------------------------------------
// JWKS URL.

/// A token signed with the first RSA key (`rsa-1`), which both key-set fixtures hold.
fn old_token() -> String {
    sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims())
}

fn rsa2_token() -> String {
    sign(Algorithm::RS256, Some("rsa-2"), &rsa2_key(), &claims())
}

#[tokio::test]
async fn url_refuses_hmac_signed_with_the_public_key() {
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    let verifier = server.verifier(|_| {});
    let forged = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(RSA_PUBLIC),
        &claims(),
    );
    assert_eq!(
        verifier.verify(&forged).await,
        Err(JwtError::AlgorithmNotAllowed)
    );
    let es = sign(Algorithm::ES256, Some("ec-1"), &ec_key(), &claims());
    assert!(verifier.verify(&es).await.is_ok());
    let ed = sign(Algorithm::EdDSA, Some("ed-1"), &ed_key(), &claims());
    assert!(verifier.verify(&ed).await.is_ok());
}

/// Long enough that no step of a test, however slow the machine, lasts it: tests step over it
/// with [`rewind`], never by waiting.
const LONG: Duration = Duration::from_secs(60);

/// Make `verifier`'s key cache believe `by` has gone by since its last fetch and attempt.
async fn rewind(verifier: &JwtVerifier, by: Duration) {
    match &verifier.inner.keys {
        KeySource::Remote(remote) => remote.rewind(by).await,
        KeySource::None | KeySource::File { .. } => panic!("only a JWKS URL is cached"),
    }
}

#[tokio::test]
async fn url_unknown_kid_refetches_and_picks_up_a_rotation() {
    let cooldown = LONG;
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    let verifier = server.verifier(|s| s.jwks_refetch_cooldown = cooldown);
    verifier.prefetch().await.expect("prefetch");
    assert_eq!(server.fetches(), 1);

    // Within the cooldown of the prefetch: no fetch.
    assert_eq!(
        verifier.verify(&rsa2_token()).await,
        Err(JwtError::UnknownKey)
    );
    assert_eq!(server.fetches(), 1);

    // After it: one fetch, and the key is still unknown.
    rewind(&verifier, cooldown).await;
    assert_eq!(
        verifier.verify(&rsa2_token()).await,
        Err(JwtError::UnknownKey)
    );
    assert_eq!(server.fetches(), 2);

    // The issuer rotates; the next fetch after the cooldown picks the new key up.
    server.reply(Reply::Body(JWKS_ROTATED.to_owned()));
    assert_eq!(
        verifier.verify(&rsa2_token()).await,
        Err(JwtError::UnknownKey)
    );
    assert_eq!(server.fetches(), 2);
    rewind(&verifier, cooldown).await;
    let verified = verifier.verify(&rsa2_token()).await.expect("rotated key");
    assert_eq!(verified.subject, "alice");
    assert_eq!(server.fetches(), 3);

    // Known keys need no fetch.
    let old = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims());
    assert!(verifier.verify(&old).await.is_ok());
    assert!(verifier.verify(&rsa2_token()).await.is_ok());
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn url_unknown_kid_flood_fetches_once_per_cooldown() {
    let cooldown = LONG;
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    let verifier = server.verifier(|s| s.jwks_refetch_cooldown = cooldown);
    verifier.prefetch().await.expect("prefetch");
    rewind(&verifier, cooldown).await;

    let tokens: Vec<String> = (0..40)
        .map(|i| {
            let kid = format!("made-up-{i}");
            sign(Algorithm::RS256, Some(&kid), &rsa_key(), &claims())
        })
        .collect();
    let results =
        futures::future::join_all(tokens.iter().map(|token| verifier.verify(token))).await;
    assert!(results.iter().all(|r| *r == Err(JwtError::UnknownKey)));
    for token in &tokens {
        assert_eq!(verifier.verify(token).await, Err(JwtError::UnknownKey));
    }
    assert_eq!(server.fetches(), 2, "the prefetch and one refetch");
}

#[tokio::test]
async fn url_first_use_fetches_once_under_concurrency() {
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    let verifier = server.verifier(|_| {});
    let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims());
    let results = futures::future::join_all((0..20).map(|_| verifier.verify(&token))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn url_keys_unavailable_when_the_fetch_fails() {
    let server = JwksServer::start(Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)).await;
    let verifier = server.verifier(|_| {});
    assert_eq!(verifier.prefetch().await, Err(JwtError::KeysUnavailable));
    let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims());
    assert_eq!(
        verifier.verify(&token).await,
        Err(JwtError::KeysUnavailable)
    );
    // Retries wait for the cooldown.
    assert_eq!(
        verifier.verify(&token).await,
        Err(JwtError::KeysUnavailable)
    );
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn url_refreshes_after_the_ttl() {
    let ttl = LONG;
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    let verifier = server.verifier(|s| s.jwks_cache_ttl = ttl);
    verifier.prefetch().await.expect("prefetch");
    server.reply(Reply::Body(JWKS_ROTATED.to_owned()));
    assert!(
        verifier.verify(&old_token()).await.is_ok(),
        "fresh keys serve"
    );
    assert_eq!(server.fetches(), 1, "no refresh within the TTL");
    rewind(&verifier, ttl).await;
    // The refresh is due before the kid is looked up, so no unknown-kid refetch is needed.
    assert!(verifier.verify(&rsa2_token()).await.is_ok());
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn url_stale_keys_survive_a_failed_refresh() {
    let ttl = LONG;
    let server = JwksServer::start(Reply::Body(JWKS.to_owned())).await;
    let verifier = server.verifier(|s| s.jwks_cache_ttl = ttl);
    verifier.prefetch().await.expect("prefetch");
    server.reply(Reply::Status(StatusCode::SERVICE_UNAVAILABLE));
    rewind(&verifier, ttl).await;
    let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims());
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(server.fetches(), 2, "the refresh was attempted");
    // Not retried on every request.
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn url_refuses_an_oversized_document() {
    let mut big: Value = serde_json::from_str(JWKS).expect("jwks fixture");
    big["padding"] = json!("x".repeat(300 * 1024));
    let server = JwksServer::start(Reply::Body(big.to_string())).await;
    let verifier = server.verifier(|_| {});
    assert_eq!(verifier.prefetch().await, Err(JwtError::KeysUnavailable));
}

#[tokio::test]
async fn url_fetch_is_bounded_by_the_timeout() {
    let server = JwksServer::start(Reply::Slow(Duration::from_secs(5))).await;
    let verifier = server.verifier(|s| s.fetch_timeout = Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(verifier.prefetch().await, Err(JwtError::KeysUnavailable));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn url_policy_is_https_or_loopback_http() {
    for ok in [
        "https://idp.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://127.9.9.9/jwks",
        "http://localhost/jwks",
        "http://LOCALHOST:9/jwks",
        "http://[::1]:9/jwks",
    ] {
        assert!(JwksUrl::parse(ok).is_ok(), "{ok}");
    }
    for insecure in [
        "http://idp.example.com/jwks",
        "http://10.0.0.1/jwks",
        "http://[::2]/jwks",
        "http://localhost.example.com/jwks",
    ] {
        assert!(
            matches!(JwksUrl::parse(insecure), Err(JwtSetupError::InsecureUrl)),
            "{insecure}"
        );
    }
    for invalid in [
        "ftp://idp.example.com/jwks",
        "https://user:pass@idp.example.com/jwks",
        "not a url",
        "/jwks.json",
        "",
    ] {
        assert!(
            matches!(JwksUrl::parse(invalid), Err(JwtSetupError::InvalidUrl(_))),
            "{invalid}"
        );
    }
    let url = JwksUrl::parse("https://idp.example.com/jwks?api_key=hunter2").expect("url");
    assert_eq!(url.redacted(), "https://idp.example.com/jwks");
}

// ---------------------------------------------------------------------------------------------
// Claim mapping.

async fn map_with(
    tune: impl FnOnce(&mut JwtSettings),
    claims: &Value,
) -> Result<VerifiedClaims, JwtError> {
    let mut settings = JwtSettings {
        secret: Some(SECRET.to_owned()),
        ..settings()
    };
    tune(&mut settings);
    let verifier = JwtVerifier::new(settings).expect("verifier");
    verifier
        .verify(&sign(Algorithm::HS256, None, &hs_key(), claims))
        .await
}

#[tokio::test]
async fn roles_keep_only_known_roles_and_default_to_viewer() {
    let roles = |value: Value| with(claims(), "roles", value);
    let cases = [
        (
            roles(json!("admin bogus  editor admin")),
            vec!["admin", "editor"],
        ),
        (roles(json!(["superuser", "root"])), vec!["viewer"]),
        (roles(json!([])), vec!["viewer"]),
        (without(claims(), "roles"), vec!["viewer"]),
        (roles(json!(["viewer", "editor"])), vec!["viewer", "editor"]),
    ];
    for (claims, expected) in cases {
        let verified = map_with(|_| {}, &claims).await.expect("verifies");
        assert_eq!(verified.roles, expected, "{}", claims["roles"]);
    }
    for bad in [json!(7), json!([1, "admin"]), json!({"admin": true})] {
        assert_eq!(
            map_with(|_| {}, &roles(bad)).await,
            Err(JwtError::InvalidClaim("roles".into()))
        );
    }
    let custom = with(without(claims(), "roles"), "groups", json!(["admin"]));
    let verified = map_with(|s| s.roles_claim = "groups".into(), &custom)
        .await
        .expect("verifies");
    assert_eq!(verified.roles, vec!["admin"]);
    let verified = map_with(
        |s| s.default_role = "editor".into(),
        &without(claims(), "roles"),
    )
    .await
    .expect("verifies");
    assert_eq!(verified.roles, vec!["editor"]);
}

#[tokio::test]
async fn scopes_come_from_scope_and_scp() {
    let both = with(
        with(claims(), "scope", json!("c a")),
        "scp",
        json!(["a", "b"]),
    );
    let verified = map_with(|_| {}, &both).await.expect("verifies");
    assert_eq!(verified.scopes, vec!["c", "a", "b"]);
    let scp_text = with(without(claims(), "scope"), "scp", json!("x y"));
    let verified = map_with(|_| {}, &scp_text).await.expect("verifies");
    assert_eq!(verified.scopes, vec!["x", "y"]);
    let none = without(claims(), "scope");
    assert!(
        map_with(|_| {}, &none)
            .await
            .expect("verifies")
            .scopes
            .is_empty()
    );
    let odd = with(claims(), "scp", json!(["ok", "quote\"d", "back\\slash"]));
    let verified = map_with(|_| {}, &odd).await.expect("verifies");
    assert_eq!(verified.scopes, vec!["files:read", "files:write", "ok"]);
    assert_eq!(
        map_with(|_| {}, &with(claims(), "scope", json!(5))).await,
        Err(JwtError::InvalidClaim("scope".into()))
    );
}

#[tokio::test]
async fn org_comes_from_the_configured_claim_or_the_default() {
    let fixed = map_with(
        |s| {
            s.org_claim = String::new();
            s.default_org = "everyone".into();
        },
        &without(claims(), "org"),
    )
    .await
    .expect("verifies");
    assert_eq!(fixed.org, "everyone");
    let namespaced = with(claims(), "https://example.com/tenant", json!("globex"));
    let verified = map_with(
        |s| s.org_claim = "https://example.com/tenant".into(),
        &namespaced,
    )
    .await
    .expect("verifies");
    assert_eq!(verified.org, "globex");
}

#[tokio::test]
async fn issuer_and_audience_are_optional() {
    let bare = without(without(claims(), "iss"), "aud");
    let open = |s: &mut JwtSettings| {
        s.issuer = None;
        s.audience = Vec::new();
    };
    assert!(map_with(open, &bare).await.is_ok());
    // Without a configured audience, a token's `aud` is not held against it.
    assert!(map_with(open, &claims()).await.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Key sets and settings.

#[test]
fn key_set_skips_entries_it_cannot_use() {
    let fixture: Value = serde_json::from_str(JWKS).expect("jwks fixture");
    let rsa = fixture["keys"][0].clone();
    let ec = fixture["keys"][1].clone();
    let short_n = URL_SAFE_NO_PAD.encode([0xC5_u8; 128]);
    let document = json!({"keys": [
        {"kty": "oct", "kid": "hmac", "k": URL_SAFE_NO_PAD.encode(SECRET)},
        with(rsa.clone(), "use", json!("enc")),
        with(with(rsa.clone(), "kid", json!("oaep")), "alg", json!("RSA-OAEP")),
        with(rsa.clone(), "n", json!(short_n)),
        with(rsa.clone(), "key_ops", json!(["sign"])),
        with(ec.clone(), "crv", json!("P-521")),
        with(ec.clone(), "alg", json!("ES384")),
        with(ec.clone(), "x", json!("AAAA")),
        {"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([1_u8; 32])},
        {"kty": "RSA"},
        "not an object",
        rsa,
    ]});
    let set = KeySet::parse(document.to_string().as_bytes()).expect("one usable key");
    assert_eq!(set.len(), 1);
    assert!(matches!(
        set.select(Some("rsa-1"), Algorithm::RS256),
        Selection::Keys(keys) if keys.len() == 1
    ));
    assert!(matches!(
        set.select(Some("hmac"), Algorithm::HS256),
        Selection::UnknownKid
    ));
    assert!(matches!(
        set.select(None, Algorithm::HS256),
        Selection::AlgorithmNotAllowed
    ));
}

#[test]
fn key_set_documents_that_are_not_usable() {
    assert!(matches!(KeySet::parse(b"{"), Err(KeySetError::NotJson)));
    assert!(matches!(
        KeySet::parse(br#"{"keys": 5}"#),
        Err(KeySetError::NotKeySet)
    ));
    assert!(matches!(KeySet::parse(b"[]"), Err(KeySetError::NotKeySet)));
    assert!(matches!(
        KeySet::parse(br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#),
        Err(KeySetError::NoUsableKeys(1))
    ));
    assert!(matches!(
        KeySet::parse(br#"{"keys": []}"#),
        Err(KeySetError::NoUsableKeys(0))
    ));
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let refused = |settings: JwtSettings| JwtVerifier::new(settings).expect_err("refused");
    assert!(matches!(refused(settings()), JwtSetupError::NoKeySource));
    assert!(matches!(
        refused(JwtSettings {
            jwks_url: Some("http://127.0.0.1:1/jwks".into()),
            jwks_file: Some(fixture_path("jwks.json")),
            ..settings()
        }),
        JwtSetupError::TwoKeySets
    ));
    assert!(matches!(
        refused(JwtSettings {
            jwks_url: Some("http://idp.example.com/jwks".into()),
            ..settings()
        }),
        JwtSetupError::InsecureUrl
    ));
    assert!(matches!(
        refused(JwtSettings {
            jwks_file: Some(fixture_path("no-such-file.json")),
            ..settings()
        }),
        JwtSetupError::ReadFile { .. }
    ));
    assert!(matches!(
        refused(JwtSettings {
            jwks_file: Some(fixture_path("README.md")),
            ..settings()
        }),
        JwtSetupError::InvalidFile { .. }
    ));
    let with_secret = || JwtSettings {
        secret: Some(SECRET.to_owned()),
        ..settings()
    };
    for (name, settings) in [
        (
            "secret",
            JwtSettings {
                secret: Some(String::new()),
                ..settings()
            },
        ),
        (
            "default_role",
            JwtSettings {
                default_role: "root".into(),
                ..with_secret()
            },
        ),
        (
            "roles_claim",
            JwtSettings {
                roles_claim: String::new(),
                ..with_secret()
            },
        ),
        (
            "issuer",
            JwtSettings {
                issuer: Some(String::new()),
                ..with_secret()
            },
        ),
        (
            "audience",
            JwtSettings {
                audience: vec![String::new()],
                ..with_secret()
            },
        ),
        (
            "max_token_bytes",
            JwtSettings {
                max_token_bytes: 0,
                ..with_secret()
            },
        ),
        (
            "fetch_timeout",
            JwtSettings {
                fetch_timeout: Duration::ZERO,
                ..with_secret()
            },
        ),
        (
            "default_org",
            JwtSettings {
                org_claim: String::new(),
                default_org: "a b".into(),
                ..with_secret()
            },
        ),
    ] {
        assert!(
            matches!(refused(settings), JwtSetupError::InvalidSetting { name: n, .. } if n == name),
            "{name}"
        );
    }
    assert!(JwtVerifier::new(with_secret()).is_ok());
}

#[test]
fn verification_can_run_on_any_thread() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<JwtVerifier>();
    let verifier = file_verifier();
    assert_send(&verifier.verify("a.b.c"));
    assert_send(&verifier.prefetch());
}

#[tokio::test]
async fn nothing_prints_the_secret_or_the_token() {
    let settings = JwtSettings {
        secret: Some(SECRET.to_owned()),
        ..settings()
    };
    assert!(!format!("{settings:?}").contains(SECRET));
    let verifier = JwtVerifier::new(settings).expect("verifier");
    assert!(!format!("{verifier:?}").contains(SECRET));
    let token = sign(
        Algorithm::HS256,
        None,
        &hs_key(),
        &with(claims(), "exp", json!(1)),
    );
    let error = verifier.verify(&token).await.expect_err("expired");
    assert!(!error.to_string().contains(&token));
    assert!(!format!("{error:?}").contains(&token));
}

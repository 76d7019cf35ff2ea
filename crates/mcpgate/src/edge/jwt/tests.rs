//! Tests of JWT verification with each key source — a shared secret, a JWKS file and a JWKS URL
//! served on loopback — plus key-set parsing, claim mapping and settings checks. This file holds
//! the fixtures and token helpers every group shares; each group is a file beside it.

mod claim_mapping;
mod every_backend;
mod jwks_file;
mod jwks_server;
mod jwks_url;
mod key_sets_and_settings;
mod shared_secret;

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

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

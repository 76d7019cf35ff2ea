//! The JWKS URL key source against a loopback server: refetch on an unknown kid within a
//! cooldown, refresh after the TTL, stale keys over a failed refresh, and the URL policy.

use std::time::Instant;

use axum::http::StatusCode;

use super::jwks_server::{JwksServer, Reply};
use super::*;
use crate::edge::jwt::fetch::JwksUrl;

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

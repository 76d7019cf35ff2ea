//! Key-set documents, settings that cannot work, and what a verifier promises: it runs on any
//! thread and never prints the secret or the token.

use super::*;
use crate::edge::jwt::keys::{KeySet, KeySetError, Selection};

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

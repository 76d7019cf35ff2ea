//! The JWKS file key source: each key pinned to its algorithm and family, and a shared secret
//! beside it kept apart.

use super::*;

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

//! The shared-secret key source: HMAC only, whatever the token's header says.

use super::*;

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

//! Cases every key source must pass — a shared secret, a JWKS file, a JWKS URL — each run once
//! per source. A backend signs tokens with its own key and algorithm.

use super::jwks_server::{JwksServer, Reply};
use super::*;

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

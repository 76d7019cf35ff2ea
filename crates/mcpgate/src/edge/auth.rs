//! Authentication: turn a request's credentials into a [`Principal`].
//!
//! Backends: `none` (always the configured default principal, never a 401), `dev`
//! (`Authorization: Bearer dev:<user>:<org>:<role>`, no cryptography, for development; a missing
//! header falls back to the default principal, a malformed one is a 401), `token` (static
//! bearer tokens from configuration; anything else is a 401) and `jwt` (signed tokens checked
//! by [`JwtVerifier`]). Static tokens are compared as SHA-256 digests in constant time, so
//! neither their content nor their length leaks through timing. A request with more than one
//! `Authorization` header is refused (401) by every backend but `none`, rather than one of them
//! being picked.

mod error;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

pub use error::AuthError;
pub use settings::{AuthConfig, AuthMode, SigningSecrets, StaticToken};

use super::expiring::Expiring;
use super::jwt::{JwtSetupError, JwtVerifier};
use super::repeated::repeated;
use super::signed::{SignedError, Verifier};
use super::{AuthVia, Principal, ROLES, is_identifier};

/// Resolves principals for one auth configuration.
#[derive(Clone)]
pub struct Authenticator {
    mode: AuthMode,
    default: Principal,
    /// Digests of the static tokens and who presents each.
    tokens: Arc<[([u8; 32], Principal)]>,
    jwt: Option<JwtVerifier>,
    /// Principals of recently verified JWTs (auth `jwt`), keyed by the whole token and compared
    /// in full on lookup (the standard library's keyed SipHash costs a fraction of a
    /// cryptographic digest, and no collision can stand in for a token). Only verified tokens
    /// enter, until they expire or [`VERIFIED_TTL`] at most.
    verified: Arc<Expiring<Box<str>, Principal>>,
    max_token_bytes: usize,
    query_key: bool,
    /// Auth `signed`: checks the signed tenant headers.
    signed: Option<Verifier>,
    /// The role of signed callers.
    signed_role: Arc<str>,
}

/// What a signature covers besides the headers: the request line and body.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path and query.
    pub target: &'a str,
    /// The whole body.
    pub body: &'a [u8],
}

/// Longest a verified JWT is reused without verifying it again (so a key withdrawn from the
/// key set stops working within that time).
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Most verified JWTs remembered.
const VERIFIED_MAX: usize = 10_000;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::fmt::Debug for Authenticator {
    /// Counts only: no digest, token or key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .field("default", &self.default)
            .field("static_tokens", &self.tokens.len())
            .field("jwt", &self.jwt.is_some())
            .field("verified_tokens", &self.verified.len())
            .field("query_key", &self.query_key)
            .finish()
    }
}

/// Each static token's digest and who presents it.
fn static_tokens(tokens: &[super::StaticToken]) -> Arc<[([u8; 32], Principal)]> {
    tokens
        .iter()
        .map(|t| {
            let who = Principal::new(&t.name, &t.org, &t.role, AuthVia::StaticToken);
            (digest(&t.secret), who)
        })
        .collect()
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Authenticator {
    /// An authenticator for `config`. Fails only when JWT keys cannot be set up (an unreadable
    /// JWKS file, say).
    pub fn new(config: &AuthConfig) -> Result<Self, JwtSetupError> {
        if config.mode == AuthMode::Dev {
            tracing::warn!(
                "auth `dev` is on: bearer tokens are unsigned (dev:<user>:<org>:<role>), so any \
                 caller can act as any user, org and role; never use it where others can connect"
            );
        }
        let jwt = match config.mode {
            AuthMode::Jwt => Some(JwtVerifier::new(config.jwt.clone())?),
            _ => None,
        };
        Ok(Self {
            mode: config.mode,
            default: Principal::new(
                &config.default_subject,
                &config.default_org,
                &config.default_role,
                AuthVia::Default,
            ),
            tokens: static_tokens(&config.tokens),
            jwt,
            verified: Arc::new(Expiring::new(VERIFIED_MAX)),
            max_token_bytes: config.jwt.max_token_bytes,
            query_key: config.query_key,
            signed: (config.mode == AuthMode::Signed)
                .then(|| Verifier::local(&config.signing_secrets.0)),
            signed_role: config.default_role.as_str().into(),
        })
    }

    /// The same authenticator with `tokens` as its static tokens (a reload): JWT keys, the
    /// cache of verified tokens and the signed-request replay store carry over.
    #[must_use]
    pub fn with_tokens(&self, tokens: &[super::StaticToken]) -> Self {
        Self {
            tokens: static_tokens(tokens),
            ..self.clone()
        }
    }

    /// Remember used signatures in Redis at `url` (replicas then refuse each other's
    /// replays), under keys starting with `prefix`. Auth `signed` only; a no-op otherwise.
    pub fn share_replay_store(
        &mut self,
        secrets: &SigningSecrets,
        url: &str,
        prefix: &str,
    ) -> redis::RedisResult<()> {
        if self.signed.is_some() {
            self.signed = Some(Verifier::redis(&secrets.0, url, prefix)?);
        }
        Ok(())
    }

    /// Whether finding the caller needs the whole request (auth `signed`: the signature covers
    /// the body).
    pub fn needs_request(&self) -> bool {
        self.signed.is_some()
    }

    /// Whether a `?key=` query parameter may carry the token (see [`take_query_key`]).
    pub fn accepts_query_key(&self) -> bool {
        self.query_key
    }

    /// The configured default principal (what stdio and auth `none` use).
    pub fn default_principal(&self) -> &Principal {
        &self.default
    }

    /// The JWT verifier, in auth `jwt`.
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_ref()
    }

    /// The principal for a request with these headers.
    pub async fn principal_for(
        &self,
        headers: &HeaderMap,
        request: Option<RequestFacts<'_>>,
    ) -> Result<Principal, AuthError> {
        if let Some(verifier) = &self.signed {
            let Some(request) = request else {
                return Err(AuthError::Signed(SignedError::Missing));
            };
            let (tenant, subject) = verifier
                .verify(headers, request.method, request.target, request.body)
                .await
                .map_err(AuthError::Signed)?;
            if !is_identifier(&tenant) || !is_identifier(&subject) {
                return Err(AuthError::Signed(SignedError::Malformed));
            }
            return Ok(Principal::new(
                &subject,
                &tenant,
                &self.signed_role,
                AuthVia::Signed,
            ));
        }
        match self.cheap_principal(headers) {
            Some(checked) => checked,
            None => self.verify_jwt(headers).await,
        }
    }

    /// The caller named by the connection's verified client certificate, when that is the
    /// backend (`None` otherwise); a connection without one is refused as unauthenticated.
    pub fn certificate_principal(
        &self,
        certificate: Option<&super::ClientCertificate>,
    ) -> Option<Result<Principal, AuthError>> {
        if self.mode != AuthMode::Certificate {
            return None;
        }
        Some(match certificate {
            Some(cert) => Ok(Principal::new(
                &cert.subject,
                cert.org.as_deref().unwrap_or(&self.default.org),
                &self.signed_role,
                AuthVia::Certificate,
            )),
            None => Err(AuthError::Missing),
        })
    }

    /// The principal for these headers when finding it costs nothing (no signature to
    /// verify): every backend but `jwt`, and in `jwt` a missing or malformed header or a token
    /// verified recently. `None` when a JWT has to be verified.
    pub fn cheap_principal(&self, headers: &HeaderMap) -> Option<Result<Principal, AuthError>> {
        let header = headers.get(header::AUTHORIZATION);
        if self.mode != AuthMode::None && repeated(headers, header::AUTHORIZATION) {
            return Some(Err(AuthError::RepeatedHeader));
        }
        match (self.mode, header) {
            // A signature is checked against the whole request, never cheaply; a certificate
            // is read from the connection ([`Self::certificate_principal`]).
            (AuthMode::Signed | AuthMode::Certificate, _) => None,
            (AuthMode::None, _) | (AuthMode::Dev, None) => Some(Ok(self.default.clone())),
            (_, None) => Some(Err(AuthError::Missing)),
            (AuthMode::Dev, Some(value)) => Some(bearer(value).and_then(parse_dev_token)),
            (AuthMode::Token, Some(value)) => {
                Some(bearer(value).and_then(|token| self.static_token(token)))
            }
            (AuthMode::Jwt, Some(value)) => match bearer(value) {
                Err(e) => Some(Err(e)),
                // Oversized tokens go to the verifier, which refuses them unread.
                Ok(token) if token.len() > self.max_token_bytes => None,
                Ok(token) => self.verified.get(token).map(|(principal, _)| Ok(principal)),
            },
        }
    }

    /// Verify the JWT in these headers and remember its principal until it expires (60 s at
    /// most).
    async fn verify_jwt(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?;
        let token = bearer(value)?;
        let Some(verifier) = &self.jwt else {
            return Err(AuthError::Missing);
        };
        let claims = verifier.verify(token).await.map_err(AuthError::Jwt)?;
        let left = Duration::from_secs(claims.expires_at.saturating_sub(unix_now()));
        let until = Instant::now() + left.min(VERIFIED_TTL);
        let principal = Principal {
            subject: claims.subject.into(),
            org: claims.org.into(),
            roles: claims.roles.into(),
            scopes: claims.scopes.into(),
            via: AuthVia::Jwt,
            issuer: claims.issuer.map(Into::into),
        };
        if token.len() <= self.max_token_bytes {
            self.verified.insert(token.into(), principal.clone(), until);
        }
        Ok(principal)
    }

    /// The principal of the static token `presented`. Every configured token is compared, so
    /// the time taken does not say which one (or whether any) matched.
    fn static_token(&self, presented: &str) -> Result<Principal, AuthError> {
        let presented = digest(presented);
        let mut found = None;
        for (known, who) in self.tokens.iter() {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(who);
            }
        }
        found.cloned().ok_or(AuthError::UnknownToken)
    }
}

/// Move a `key` query parameter into `Authorization: Bearer` (unless the request already has
/// that header) and remove it from the URI, so nothing after the edge (handlers, logs, error
/// bodies) ever sees it. For bridges that cannot send headers; off unless configured.
pub fn take_query_key(request: &mut Request) {
    let Some(query) = request.uri().query() else {
        return;
    };
    let mut key = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("key", value)) => {
                key = Some(percent_decode(value));
                false
            }
            _ => *pair != "key",
        })
        .collect();
    let Some(key) = key else {
        return;
    };
    let path = request.uri().path();
    let rebuilt = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    if let Ok(uri) = axum::http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    if !request.headers().contains_key(header::AUTHORIZATION)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {key}"))
    {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
}

/// `%XX` escapes and `+` decoded; anything malformed is kept as it is.
fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match (escaped, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The bearer token of `headers`, if they carry one.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(header::AUTHORIZATION)?).ok()
}

fn bearer(value: &HeaderValue) -> Result<&str, AuthError> {
    let text = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = text.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token.trim())
}

fn parse_dev_token(token: &str) -> Result<Principal, AuthError> {
    let mut parts = token.split(':');
    let (Some("dev"), Some(user), Some(org), Some(role), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AuthError::MalformedDevToken);
    };
    if !is_identifier(user) || !is_identifier(org) || !ROLES.contains(&role) {
        return Err(AuthError::MalformedDevToken);
    }
    Ok(Principal::new(user, org, role, AuthVia::DevToken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: AuthMode) -> AuthConfig {
        let mut auth = crate::config::Config::defaults().auth;
        auth.mode = mode;
        auth
    }

    fn dev() -> Authenticator {
        Authenticator::new(&config(AuthMode::Dev)).expect("dev")
    }

    fn check(auth: &Authenticator, headers: &HeaderMap) -> Result<Principal, AuthError> {
        futures::executor::block_on(auth.principal_for(headers, None))
    }

    fn token_auth() -> Authenticator {
        let token = |name: &str, secret: &str, role: &str| crate::config::StaticToken {
            name: name.into(),
            secret: secret.into(),
            org: "acme".into(),
            role: role.into(),
        };
        let mut config = config(AuthMode::Token);
        config.tokens = vec![
            token("ci-bot", "s3cret-token-for-ci-bot", "editor"),
            token("dashboard", "another-long-token-value", "viewer"),
        ];
        Authenticator::new(&config).expect("token")
    }

    #[test]
    fn a_query_key_moves_into_the_header_and_leaves_the_uri() {
        let mut request = Request::builder()
            .uri("/mcp?a=1&key=s3cret%2Dtoken&b=2")
            .body(axum::body::Body::empty())
            .expect("request");
        take_query_key(&mut request);
        assert_eq!(request.uri(), "/mcp?a=1&b=2");
        assert_eq!(
            request.headers()[header::AUTHORIZATION],
            "Bearer s3cret-token"
        );
        let mut only = Request::builder()
            .uri("/api/v1/tasks?key=abc%zz")
            .header(header::AUTHORIZATION, "Bearer header-wins")
            .body(axum::body::Body::empty())
            .expect("request");
        take_query_key(&mut only);
        assert_eq!(only.uri(), "/api/v1/tasks");
        assert_eq!(only.headers()[header::AUTHORIZATION], "Bearer header-wins");
        assert_eq!(percent_decode("%E2%9C%93+x%"), "✓ x%");
    }

    #[test]
    fn static_tokens_name_their_caller_and_nothing_else_passes() {
        let auth = token_auth();
        let p = check(&auth, &headers("Bearer s3cret-token-for-ci-bot")).expect("known token");
        assert_eq!((&*p.subject, &*p.org), ("ci-bot", "acme"));
        assert!(p.has_role("editor"));
        assert_eq!(p.via, AuthVia::StaticToken);
        let p = check(&auth, &headers("bearer another-long-token-value"))
            .expect("scheme is case-insensitive");
        assert_eq!(&*p.subject, "dashboard");
        assert_eq!(
            check(&auth, &headers("Bearer s3cret-token-for-ci-bo")),
            Err(AuthError::UnknownToken)
        );
        assert_eq!(
            check(&auth, &headers("Basic czNjcmV0")),
            Err(AuthError::NotBearer)
        );
        assert_eq!(check(&auth, &HeaderMap::new()), Err(AuthError::Missing));
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    /// A JWT authenticator with an HMAC secret and no issuer or audience checks.
    fn jwt_auth() -> Authenticator {
        let mut config = config(AuthMode::Jwt);
        config.jwt.secret = Some("a-shared-hmac-secret-of-32-bytes-or-more".into());
        config.jwt.issuer = None;
        config.jwt.audience = Vec::new();
        Authenticator::new(&config).expect("jwt")
    }

    /// An HS256 token for `ann` expiring `lifetime` seconds from now.
    fn jwt(lifetime: u64) -> HeaderMap {
        let claims = serde_json::json!({"sub": "ann", "org": "acme", "exp": unix_now() + lifetime});
        let key =
            jsonwebtoken::EncodingKey::from_secret(b"a-shared-hmac-secret-of-32-bytes-or-more");
        let token =
            jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign");
        headers(&format!("Bearer {token}"))
    }

    /// Whether the token in `headers` is served from the cache (no verification needed).
    fn remembered(auth: &Authenticator, headers: &HeaderMap) -> bool {
        matches!(auth.cheap_principal(headers), Some(Ok(p)) if &*p.subject == "ann")
    }

    #[tokio::test(start_paused = true)]
    async fn a_verified_token_is_remembered_until_it_expires_or_60_s_at_most() {
        let auth = jwt_auth();
        let long = jwt(3600);
        let short = jwt(30);
        assert!(
            !remembered(&auth, &long),
            "nothing is remembered before verification"
        );
        for headers in [&long, &short] {
            auth.principal_for(headers, None)
                .await
                .expect("a valid token");
            assert!(remembered(&auth, headers));
        }
        // The short token lapses with its `exp` (29-30 s from now, as the wall clock ticks).
        tokio::time::advance(Duration::from_secs(25)).await;
        assert!(remembered(&auth, &short));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(!remembered(&auth, &short), "gone once expired");
        // The long one is kept 60 s, not the hour it is valid for.
        tokio::time::advance(Duration::from_secs(28)).await;
        assert!(remembered(&auth, &long), "59 s after verification");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!remembered(&auth, &long), "61 s after verification");
        // Verified again, it is remembered again.
        auth.principal_for(&long, None).await.expect("still valid");
        assert!(remembered(&auth, &long));
    }

    #[test]
    fn dev_tokens_name_user_org_and_role() {
        let p = check(&dev(), &headers("Bearer dev:ann:acme:viewer")).expect("valid");
        assert_eq!((&*p.subject, &*p.org), ("ann", "acme"));
        assert!(p.has_role("viewer"));
        assert_eq!(p.via, AuthVia::DevToken);
    }

    #[test]
    fn missing_header_falls_back_and_malformed_is_refused() {
        let p = check(&dev(), &HeaderMap::new()).expect("default");
        assert_eq!(p.via, AuthVia::Default);
        for bad in [
            "Bearer dev:ann:acme",
            "Bearer dev:ann:acme:root",
            "Basic abc",
            "Bearer x:a:b:admin",
            "Bearer dev:a b:o:admin",
        ] {
            assert!(check(&dev(), &headers(bad)).is_err(), "{bad} accepted");
        }
    }
}

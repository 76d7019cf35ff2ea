//! JWT bearer tokens: signature and claim verification, and mapping the claims to a subject,
//! org, roles and scopes.
//!
//! Keys come from a shared secret (HS256/384/512), a JWKS document — fetched from a URL and
//! cached, or read once from a file — or both a secret and one key set. Every key is pinned to
//! its algorithm family: the secret verifies only HMAC tokens, a key-set key only the
//! algorithms of its type (RSA: RS256/384/512 and PS256/384/512, or just the JWK's `alg`; EC:
//! the ES algorithm of its curve; Ed25519: EdDSA), and `alg: none` is always refused, so a
//! token can never choose how it is checked. Claims: `exp` is required and `nbf` honoured, both
//! with a leeway; `iss` must equal the configured issuer and `aud` name a configured audience
//! when those are set; `sub` and the org claim are required identifiers.
//!
//! Tokens longer than the configured maximum are refused before anything is decoded, and a
//! header or payload that names a member twice is refused before anything reads it (serde would
//! keep the last `org` but refuse a second `exp`: no repeat is resolved either way). Nothing
//! here logs a token, and no error message contains one.

mod claims;
mod distinct;
mod error;
mod fetch;
mod keys;
#[cfg(test)]
mod props;
mod remote;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

pub use error::{JwtError, JwtSetupError};

use claims::ClaimRules;
use fetch::{Fetcher, JwksUrl};
use keys::{KeySet, Selection};
use remote::RemoteKeys;

/// Whether a JWKS URL meets the fetch policy: https, or http to a loopback host, without user
/// info.
pub fn jwks_url_acceptable(url: &str) -> bool {
    JwksUrl::parse(url).is_ok()
}

/// How JWTs are verified and their claims mapped.
#[derive(Clone)]
pub struct JwtSettings {
    /// Shared secret for HS256/HS384/HS512 tokens (its minimum length is checked by the
    /// configuration).
    pub secret: Option<String>,
    /// URL of a JWKS document; https, or http to a loopback host.
    pub jwks_url: Option<String>,
    /// A JWKS document (`{"keys":[...]}`) on disk, read once at start-up.
    pub jwks_file: Option<PathBuf>,
    /// When set, `iss` must equal it.
    pub issuer: Option<String>,
    /// When non-empty, `aud` must name one of these; when empty, `aud` is not checked.
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf` (whole seconds).
    pub leeway: Duration,
    /// Claim naming the org; empty: every token gets `default_org`.
    pub org_claim: String,
    /// Claim listing the roles.
    pub roles_claim: String,
    /// The org when `org_claim` is empty.
    pub default_org: String,
    /// The role of a token whose roles claim holds no known role.
    pub default_role: String,
    /// Longer tokens are refused before any decoding.
    pub max_token_bytes: usize,
    /// Fetched keys are fetched again once this old.
    pub jwks_cache_ttl: Duration,
    /// Least time between two fetches triggered by unknown `kid`s.
    pub jwks_refetch_cooldown: Duration,
    /// Bound on one JWKS fetch.
    pub fetch_timeout: Duration,
}

impl Default for JwtSettings {
    /// No key source; leeway 30 s, claims `org` and `roles`, org `default`, role `viewer`,
    /// tokens up to 8192 bytes, keys cached 10 min, refetch cooldown 30 s, fetch timeout 5 s.
    fn default() -> Self {
        Self {
            secret: None,
            jwks_url: None,
            jwks_file: None,
            issuer: None,
            audience: Vec::new(),
            leeway: Duration::from_secs(30),
            org_claim: "org".to_owned(),
            roles_claim: "roles".to_owned(),
            default_org: "default".to_owned(),
            default_role: "viewer".to_owned(),
            max_token_bytes: 8192,
            jwks_cache_ttl: Duration::from_secs(600),
            jwks_refetch_cooldown: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_url", &self.jwks_url)
            .field("jwks_file", &self.jwks_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("org_claim", &self.org_claim)
            .field("roles_claim", &self.roles_claim)
            .field("default_org", &self.default_org)
            .field("default_role", &self.default_role)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("jwks_cache_ttl", &self.jwks_cache_ttl)
            .field("jwks_refetch_cooldown", &self.jwks_refetch_cooldown)
            .field("fetch_timeout", &self.fetch_timeout)
            .finish()
    }
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// `sub`.
    pub subject: String,
    /// The org claim, or the default org when no org claim is configured.
    pub org: String,
    /// The known roles the token carries, or the default role; never empty.
    pub roles: Vec<String>,
    /// Scopes from `scope` and `scp`.
    pub scopes: Vec<String>,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// `iss`, when the token names its issuer.
    pub issuer: Option<String>,
}

/// Where key-set keys come from.
enum KeySource {
    /// Only the secret.
    None,
    /// A JWKS file read at start-up.
    File { path: PathBuf, keys: Arc<KeySet> },
    /// A JWKS URL, fetched and cached.
    Remote(Box<RemoteKeys>),
}

struct Inner {
    secret: Option<DecodingKey>,
    keys: KeySource,
    /// Claim checks; `algorithms` is set per token.
    validation: Validation,
    rules: ClaimRules,
    max_token_bytes: usize,
}

/// Verifies JWT bearer tokens. Cheap to clone; clones share the key cache.
///
/// Key sources: a secret, a JWKS URL or a JWKS file, or a secret together with one of the
/// two key sets (not both key sets). HMAC tokens are checked against the secret (a `kid` is
/// then ignored), every other algorithm against the key set.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("JwtVerifier");
        out.field("secret", &self.inner.secret.as_ref().map(|_| "<redacted>"));
        match &self.inner.keys {
            KeySource::None => out.field("keys", &"none"),
            KeySource::File { path, keys } => {
                out.field("jwks_file", path).field("file_keys", &keys.len())
            }
            KeySource::Remote(remote) => out.field("jwks_url", remote),
        };
        out.field("issuer", &self.inner.validation.iss)
            .field("audience", &self.inner.validation.aud)
            .finish_non_exhaustive()
    }
}

fn invalid(name: &'static str, reason: &'static str) -> JwtSetupError {
    JwtSetupError::InvalidSetting { name, reason }
}

impl JwtVerifier {
    /// Checks `settings` and reads the JWKS file, if one is configured. A JWKS URL is not
    /// fetched here: [`prefetch`](Self::prefetch) or the first token does that.
    pub fn new(settings: JwtSettings) -> Result<Self, JwtSetupError> {
        let secret = match settings.secret.as_deref() {
            Some("") => return Err(invalid("secret", "is empty")),
            Some(secret) => Some(DecodingKey::from_secret(secret.as_bytes())),
            None => None,
        };
        let keys = match (settings.jwks_url.as_deref(), settings.jwks_file) {
            (Some(_), Some(_)) => return Err(JwtSetupError::TwoKeySets),
            (Some(url), None) => {
                let fetcher = Fetcher::new(JwksUrl::parse(url)?, settings.fetch_timeout)?;
                KeySource::Remote(Box::new(RemoteKeys::new(
                    fetcher,
                    settings.jwks_cache_ttl,
                    settings.jwks_refetch_cooldown,
                )))
            }
            (None, Some(path)) => {
                let document = std::fs::read(&path).map_err(|source| JwtSetupError::ReadFile {
                    path: path.clone(),
                    source,
                })?;
                let keys = KeySet::parse(&document).map_err(|e| JwtSetupError::InvalidFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                KeySource::File {
                    path,
                    keys: Arc::new(keys),
                }
            }
            (None, None) if secret.is_some() => KeySource::None,
            (None, None) => return Err(JwtSetupError::NoKeySource),
        };
        if settings.max_token_bytes == 0 {
            return Err(invalid("max_token_bytes", "must be at least 1"));
        }
        if settings.fetch_timeout.is_zero() {
            return Err(invalid("fetch_timeout", "must be longer than zero"));
        }
        if settings.roles_claim.is_empty() {
            return Err(invalid("roles_claim", "must not be empty"));
        }
        if !crate::edge::ROLES.contains(&settings.default_role.as_str()) {
            return Err(invalid("default_role", "must be viewer, editor or admin"));
        }
        if settings.org_claim.is_empty() && !super::is_identifier(&settings.default_org) {
            return Err(invalid(
                "default_org",
                "must be 1-128 characters of [A-Za-z0-9._@-]",
            ));
        }

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match settings.issuer.as_deref() {
            Some("") => return Err(invalid("issuer", "must not be empty when set")),
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => {}
        }
        if settings.audience.iter().any(String::is_empty) {
            return Err(invalid("audience", "must not contain an empty value"));
        }
        if settings.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&settings.audience);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);

        Ok(Self {
            inner: Arc::new(Inner {
                secret,
                keys,
                validation,
                rules: ClaimRules {
                    org_claim: settings.org_claim,
                    roles_claim: settings.roles_claim,
                    default_org: settings.default_org,
                    default_role: settings.default_role,
                },
                max_token_bytes: settings.max_token_bytes,
            }),
        })
    }

    /// Fetches the JWKS URL now, whatever the cooldown; does nothing without a URL. A failure
    /// is logged here with its cause and leaves the verifier working (it fetches again later).
    pub async fn prefetch(&self) -> Result<(), JwtError> {
        match &self.inner.keys {
            KeySource::Remote(remote) => remote.refresh_now().await,
            KeySource::None | KeySource::File { .. } => Ok(()),
        }
    }

    /// Verifies a bearer token (without the `Bearer ` prefix) and maps its claims.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, JwtError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(JwtError::TooLarge {
                max: inner.max_token_bytes,
            });
        }
        refuse_repeated_members(token)?;
        let header = TokenHeader::parse(token)?;
        let claims = if header.alg.family() == AlgorithmFamily::Hmac {
            let secret = inner.secret.as_ref().ok_or(JwtError::AlgorithmNotAllowed)?;
            inner.decode(token, header.alg, &[secret])?
        } else {
            match &inner.keys {
                KeySource::None => return Err(JwtError::AlgorithmNotAllowed),
                KeySource::File { keys, .. } => inner.decode_with_set(token, &header, keys)?,
                KeySource::Remote(remote) => {
                    let keys = remote.keys().await?;
                    match inner.decode_with_set(token, &header, &keys) {
                        Err(JwtError::UnknownKey) => {
                            let newer = remote.after_unknown_kid(&keys).await;
                            if Arc::ptr_eq(&newer, &keys) {
                                return Err(JwtError::UnknownKey);
                            }
                            inner.decode_with_set(token, &header, &newer)?
                        }
                        other => other?,
                    }
                }
            }
        };
        inner.rules.map(&claims)
    }
}

impl Inner {
    fn decode_with_set(
        &self,
        token: &str,
        header: &TokenHeader,
        keys: &KeySet,
    ) -> Result<Map<String, Value>, JwtError> {
        match keys.select(header.kid.as_deref(), header.alg) {
            Selection::Keys(candidates) => self.decode(token, header.alg, &candidates),
            Selection::UnknownKid => Err(JwtError::UnknownKey),
            Selection::AlgorithmNotAllowed => Err(JwtError::AlgorithmNotAllowed),
        }
    }

    /// Verifies against each candidate key in turn; the first whose signature matches decides.
    fn decode(
        &self,
        token: &str,
        alg: Algorithm,
        candidates: &[&DecodingKey],
    ) -> Result<Map<String, Value>, JwtError> {
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        for key in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(error) if is_key_mismatch(error.kind()) => continue,
                Err(error) => return Err(map_error(error.kind())),
            }
        }
        Err(JwtError::BadSignature)
    }
}

/// Errors meaning "not this key": the next candidate may still verify.
fn is_key_mismatch(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::Provider(_)
    )
}

fn map_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => JwtError::AlgorithmNotAllowed,
        _ => JwtError::Malformed,
    }
}

/// Refuse a token whose header or payload repeats a member (at any depth).
fn refuse_repeated_members(token: &str) -> Result<(), JwtError> {
    let mut parts = token.split('.');
    for segment in [parts.next(), parts.next()] {
        let bytes = URL_SAFE_NO_PAD
            .decode(segment.ok_or(JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err(JwtError::Malformed);
        }
        if !distinct::members_are_distinct(&bytes) {
            return Err(JwtError::RepeatedMember);
        }
    }
    Ok(())
}

/// The parts of a JOSE header that pick the key, read before anything is verified.
#[derive(Debug)]
struct TokenHeader {
    alg: Algorithm,
    kid: Option<String>,
}

impl TokenHeader {
    fn parse(token: &str) -> Result<Self, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed)?;
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(JwtError::Malformed);
        };
        let alg = match fields.get("alg") {
            Some(Value::String(alg)) => alg
                .parse::<Algorithm>()
                .map_err(|_| JwtError::AlgorithmNotAllowed)?,
            _ => return Err(JwtError::Malformed),
        };
        // No JWS extension is understood, so none may be marked critical (RFC 7515 §4.1.11).
        if fields.contains_key("crit") {
            return Err(JwtError::Malformed);
        }
        let kid = match fields.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(JwtError::Malformed),
        };
        Ok(Self { alg, kid })
    }
}

//! Errors of JWT verification: [`JwtError`] for a refused token, [`JwtSetupError`] for settings
//! that cannot work.

use std::path::PathBuf;

/// Why a bearer token was refused. Every message is safe to show the caller: none contains the
/// token, the secret or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// The token is longer than the configured maximum; nothing of it was decoded.
    #[error("the bearer token is longer than {max} bytes")]
    TooLarge {
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// Not three base64url parts, or a header or payload that is not JSON.
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    /// The header or the claims name a member twice: which value counts is not guessed.
    #[error("the token's header or claims repeat a member")]
    RepeatedMember,
    /// `exp` lies in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` lies in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by an issuer this server does not trust")]
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// The signature does not verify with the key the token names.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The token's `kid` is not in the key set, even after fetching it again.
    #[error("the token was signed with a key this server does not know")]
    UnknownKey,
    /// `alg: none`, an unknown algorithm, or one the selected key may not verify.
    #[error("the token's signing algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// A required claim is absent or empty.
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    /// A claim is present but has the wrong type or shape.
    #[error("the token's `{0}` claim is not valid")]
    InvalidClaim(String),
    /// The key set could not be fetched and no keys are cached.
    #[error("the token signing keys are not available right now")]
    KeysUnavailable,
}

/// JWT settings that cannot work. Messages name settings, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum JwtSetupError {
    /// Neither a secret nor a key set is configured.
    #[error("JWT auth needs a secret, a JWKS URL or a JWKS file")]
    NoKeySource,
    /// Both a JWKS URL and a JWKS file are configured.
    #[error("configure either a JWKS URL or a JWKS file, not both")]
    TwoKeySets,
    /// The JWKS URL does not parse or has parts it may not have.
    #[error("the JWKS URL is not valid: {0}")]
    InvalidUrl(&'static str),
    /// The JWKS URL is plain http to a host that is not loopback.
    #[error("the JWKS URL must use https (plain http only for 127.0.0.1, ::1 or localhost)")]
    InsecureUrl,
    /// The JWKS file cannot be read.
    #[error("cannot read the JWKS file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JWKS file is not a key set with at least one usable signing key.
    #[error("the JWKS file {path} is not usable: {reason}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// TLS for an https JWKS URL cannot be set up (for example, no trusted root certificates).
    #[error("cannot set up TLS for the JWKS URL: {0}")]
    Tls(String),
    /// Another setting has a value that cannot work.
    #[error("the JWT setting `{name}` {reason}")]
    InvalidSetting {
        /// The setting's field name in [`super::JwtSettings`].
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

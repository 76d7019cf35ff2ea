//! Why a credential was refused, in words safe to show the caller.

use crate::edge::JwtError;
use crate::edge::signed::SignedError;

/// Why a credential was refused. The message is safe to show the caller: it never contains the
/// credential itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    /// More than one `Authorization` header: which one names the caller is not guessed.
    #[error("the request carries more than one Authorization header")]
    RepeatedHeader,
    /// No credential where one is required.
    #[error("this server needs `Authorization: Bearer <token>`")]
    Missing,
    /// A token no configured token matches.
    #[error("the bearer token is not valid")]
    UnknownToken,
    /// A dev token that does not have four parts or has bad ones.
    #[error(
        "a dev token looks like dev:<user>:<org>:<role>, with role one of viewer, editor, admin"
    )]
    MalformedDevToken,
    /// A JWT that does not verify.
    #[error(transparent)]
    Jwt(JwtError),
    /// Signed tenant headers that do not verify.
    #[error(transparent)]
    Signed(SignedError),
}

impl AuthError {
    /// Whether the credential could not be checked now (the signing keys are unreachable)
    /// rather than found bad: a 503, not a 401, so clients do not throw a good token away.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            AuthError::Jwt(JwtError::KeysUnavailable) | AuthError::Signed(SignedError::Unavailable)
        )
    }

    /// A short, fixed reason for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::NotBearer => "not_bearer",
            AuthError::RepeatedHeader => "repeated_header",
            AuthError::Missing => "missing",
            AuthError::UnknownToken => "unknown_token",
            AuthError::MalformedDevToken => "malformed_dev_token",
            AuthError::Jwt(e) => match e {
                JwtError::TooLarge { .. } => "jwt_too_large",
                JwtError::Malformed => "jwt_malformed",
                JwtError::RepeatedMember => "jwt_repeated_member",
                JwtError::Expired => "jwt_expired",
                JwtError::NotYetValid => "jwt_not_yet_valid",
                JwtError::WrongIssuer => "jwt_wrong_issuer",
                JwtError::WrongAudience => "jwt_wrong_audience",
                JwtError::BadSignature => "jwt_bad_signature",
                JwtError::UnknownKey => "jwt_unknown_key",
                JwtError::AlgorithmNotAllowed => "jwt_algorithm",
                JwtError::MissingClaim(_) | JwtError::InvalidClaim(_) => "jwt_claims",
                JwtError::KeysUnavailable => "jwt_keys_unavailable",
            },
            AuthError::Signed(e) => match e {
                SignedError::Missing => "signed_missing",
                SignedError::Malformed => "signed_malformed",
                SignedError::Stale => "signed_stale",
                SignedError::Future => "signed_future",
                SignedError::BadSignature => "signed_bad_signature",
                SignedError::Replayed => "signed_replayed",
                SignedError::Unavailable => "signed_unavailable",
            },
        }
    }
}

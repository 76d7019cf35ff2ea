//! The edge: everything between the network and a tool — Host/Origin checks, authentication
//! and the [`Principal`] every request resolves to, per-tool authorization, rate limits, and
//! the JSON error bodies the edge answers with.

mod auth;
mod authz;
mod certificate;
mod challenge;
mod expiring;
mod gate;
mod jwt;
mod origin;
mod principal;
mod ratelimit;
mod reject;
mod repeated;
pub mod signed;

pub use auth::{
    AuthConfig, AuthError, AuthMode, Authenticator, RequestFacts, SigningSecrets, StaticToken,
    take_query_key,
};
pub use authz::{Access, Policy, RuleEffect, ToolFacts, ToolRule, glob};
pub use certificate::ClientCertificate;
pub use challenge::Challenges;
pub use gate::{Admission, Gate, Limits, Refusal};
pub use jwt::{
    JwtError, JwtSettings, JwtSetupError, JwtVerifier, VerifiedClaims, jwks_url_acceptable,
};
pub use origin::{InvalidOrigin, OriginPattern, OriginPolicy, OriginRefusal};
pub use principal::{AuthVia, CallerToken, Principal, ROLES, is_identifier};
pub use ratelimit::{
    Decision, FailurePolicy, MAX_KEY_LEN, Quota, RATELIMIT_LIMIT, RATELIMIT_REMAINING,
    RATELIMIT_RESET, RateLimitConfig, RateLimitSetupError, RateLimiter, ToolQuota,
};
pub use reject::reject;

/// The request id header: accepted from the caller or assigned at the edge, echoed, logged,
/// and carried to upstreams.
pub const REQUEST_ID: &str = "x-request-id";
pub(crate) use repeated::repeated;
pub use repeated::{RepeatedHeader, single_mcp_headers};

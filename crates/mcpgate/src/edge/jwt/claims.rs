//! Mapping a verified token's claims to a subject, org, roles and scopes.
//!
//! `sub` and the org claim must be identifiers (1-128 of `[A-Za-z0-9._@-]`). Roles come from
//! the roles claim — an array of strings or one space-separated string — and only the known
//! roles are kept; with none, the default role applies. Scopes come from `scope` and `scp`
//! (a space-separated string or an array of strings); values that are not RFC 6749 scope
//! tokens are dropped.

use serde_json::{Map, Value};

use super::{JwtError, VerifiedClaims};
use crate::edge::{ROLES, is_identifier};

/// Longest scope value kept.
const MAX_SCOPE_LEN: usize = 256;

/// How claims map to a [`VerifiedClaims`].
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// Claim naming the org; empty: every token gets `default_org`.
    pub(crate) org_claim: String,
    /// Claim listing the roles.
    pub(crate) roles_claim: String,
    /// The org when `org_claim` is empty.
    pub(crate) default_org: String,
    /// The role when the token carries no known role.
    pub(crate) default_role: String,
}

impl ClaimRules {
    /// Maps `claims` (a verified payload).
    pub(crate) fn map(&self, claims: &Map<String, Value>) -> Result<VerifiedClaims, JwtError> {
        let subject = identifier(claims, "sub")?;
        let org = if self.org_claim.is_empty() {
            self.default_org.clone()
        } else {
            identifier(claims, &self.org_claim)?
        };
        let mut roles = Vec::new();
        for role in words(claims, &self.roles_claim)? {
            if ROLES.contains(&role) && !roles.iter().any(|r| r == role) {
                roles.push(role.to_owned());
            }
        }
        if roles.is_empty() {
            roles.push(self.default_role.clone());
        }
        let mut scopes: Vec<String> = Vec::new();
        for name in ["scope", "scp"] {
            for scope in words(claims, name)? {
                if is_scope_token(scope) && !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_owned());
                }
            }
        }
        // Checked present and in the future by the validation before this mapping.
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_f64)
            .filter(|exp| exp.is_finite() && *exp >= 0.0)
            .ok_or_else(|| JwtError::MissingClaim("exp".to_owned()))?;
        Ok(VerifiedClaims {
            subject,
            org,
            roles,
            scopes,
            expires_at: expires_at as u64,
            issuer: claims.get("iss").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// A required identifier claim.
fn identifier(claims: &Map<String, Value>, name: &str) -> Result<String, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(JwtError::MissingClaim(name.to_owned())),
        Some(Value::String(s)) if s.is_empty() => Err(JwtError::MissingClaim(name.to_owned())),
        Some(Value::String(s)) if is_identifier(s) => Ok(s.clone()),
        Some(_) => Err(JwtError::InvalidClaim(name.to_owned())),
    }
}

/// An optional claim holding words: a space-separated string or an array of strings.
fn words<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<Vec<&'a str>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split_whitespace().collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::trim)
                    .ok_or_else(|| JwtError::InvalidClaim(name.to_owned()))
            })
            .filter(|item| !matches!(item, Ok("")))
            .collect(),
        Some(_) => Err(JwtError::InvalidClaim(name.to_owned())),
    }
}

/// RFC 6749 `scope-token`: 1*( %x21 / %x23-5B / %x5D-7E ), bounded in length.
fn is_scope_token(scope: &str) -> bool {
    (1..=MAX_SCOPE_LEN).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

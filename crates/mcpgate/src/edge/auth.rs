//! Authentication: turn a request's credentials into a [`Principal`].
//!
//! Backends: `none` (always the configured default principal, never a 401) and `dev`
//! (`Authorization: Bearer dev:<user>:<org>:<role>`, no cryptography, for development; a missing
//! header falls back to the default principal, a malformed one is a 401).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AuthVia, Principal, is_identifier, reject};
use crate::config::{AuthConfig, AuthMode, ROLES};

/// Why a credential was refused. The message is safe to show the caller: it never contains the
/// credential itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    /// A dev token that does not have four parts or has bad ones.
    #[error(
        "a dev token looks like dev:<user>:<org>:<role>, with role one of viewer, editor, admin"
    )]
    MalformedDevToken,
}

/// Resolves principals for one auth configuration.
#[derive(Debug, Clone)]
pub struct Authenticator {
    mode: AuthMode,
    default: Principal,
}

impl Authenticator {
    /// An authenticator for `config`.
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            mode: config.mode,
            default: Principal::new(
                &config.default_subject,
                &config.default_org,
                &config.default_role,
                AuthVia::Default,
            ),
        }
    }

    /// The configured default principal (what stdio and auth `none` use).
    pub fn default_principal(&self) -> &Principal {
        &self.default
    }

    /// The principal for a request with these headers.
    pub fn principal_for(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        match self.mode {
            AuthMode::None => Ok(self.default.clone()),
            AuthMode::Dev => match headers.get(header::AUTHORIZATION) {
                None => Ok(self.default.clone()),
                Some(value) => parse_dev_token(bearer(value)?),
            },
        }
    }
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

impl Authenticator {
    /// Put the caller's principal into the request's extensions.
    pub fn authenticate(&self, request: &mut Request) -> Result<(), AuthError> {
        let principal = self.principal_for(request.headers())?;
        request.extensions_mut().insert(principal);
        Ok(())
    }
}

impl IntoResponse for AuthError {
    /// 401 with a JSON body and a `WWW-Authenticate` challenge.
    fn into_response(self) -> Response {
        let mut response = reject(StatusCode::UNAUTHORIZED, "invalid_token", self.to_string());
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Authenticator {
        Authenticator::new(&AuthConfig {
            mode: AuthMode::Dev,
            default_subject: "local".into(),
            default_org: "default".into(),
            default_role: "admin".into(),
        })
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn dev_tokens_name_user_org_and_role() {
        let p = dev()
            .principal_for(&headers("Bearer dev:ann:acme:viewer"))
            .expect("valid");
        assert_eq!((&*p.subject, &*p.org), ("ann", "acme"));
        assert!(p.has_role("viewer"));
        assert_eq!(p.via, AuthVia::DevToken);
    }

    #[test]
    fn missing_header_falls_back_and_malformed_is_refused() {
        let p = dev().principal_for(&HeaderMap::new()).expect("default");
        assert_eq!(p.via, AuthVia::Default);
        for bad in [
            "Bearer dev:ann:acme",
            "Bearer dev:ann:acme:root",
            "Basic abc",
            "Bearer x:a:b:admin",
            "Bearer dev:a b:o:admin",
        ] {
            assert!(
                dev().principal_for(&headers(bad)).is_err(),
                "{bad} accepted"
            );
        }
    }
}

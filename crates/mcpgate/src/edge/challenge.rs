//! `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9728 §5.1): one place builds them for the
//! MCP endpoint and the REST API, so both name the same metadata and scopes.

use std::sync::Arc;

use axum::http::HeaderValue;

use super::AuthError;

/// Builds the `Bearer` challenges of 401 and 403 answers.
#[derive(Debug, Clone, Default)]
pub struct Challenges {
    /// The protected-resource metadata URL, when this server is an OAuth resource server.
    resource_metadata: Option<Arc<str>>,
}

impl Challenges {
    /// Challenges that point clients at `resource_metadata` (RFC 9728), when given.
    pub fn new(resource_metadata: Option<String>) -> Self {
        Self {
            resource_metadata: resource_metadata.map(Into::into),
        }
    }

    /// The protected-resource metadata URL, if any.
    pub fn resource_metadata(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// The challenge of a 401: no error code when no credential was sent (RFC 6750 §3.1),
    /// `invalid_token` when one was and it is not good.
    pub fn unauthorized(&self, error: &AuthError) -> HeaderValue {
        let mut params = Vec::new();
        if !matches!(error, AuthError::Missing) {
            params.push("error=\"invalid_token\"".to_owned());
        }
        self.finish(params)
    }

    /// The challenge of a 403 for a caller whose token lacks `scopes`: all of them in one
    /// challenge.
    pub fn insufficient_scope(&self, scopes: &[String]) -> HeaderValue {
        let scope: Vec<&str> = scopes
            .iter()
            .map(String::as_str)
            .filter(|s| is_scope_token(s))
            .collect();
        let mut params = vec!["error=\"insufficient_scope\"".to_owned()];
        if !scope.is_empty() {
            params.push(format!("scope=\"{}\"", scope.join(" ")));
        }
        params.push("error_description=\"the token lacks a scope this request needs\"".to_owned());
        self.finish(params)
    }

    fn finish(&self, mut params: Vec<String>) -> HeaderValue {
        if let Some(url) = self.resource_metadata.as_deref().filter(|u| quotable(u)) {
            params.push(format!("resource_metadata=\"{url}\""));
        }
        let text = if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// RFC 6749 §3.3 scope-token characters: visible ASCII except `"` and `\`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty() && quotable(scope) && !scope.contains(' ')
}

fn quotable(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_error_scopes_and_metadata() {
        let plain = Challenges::default();
        assert_eq!(plain.unauthorized(&AuthError::Missing), "Bearer");
        assert_eq!(
            plain.unauthorized(&AuthError::UnknownToken),
            "Bearer error=\"invalid_token\""
        );
        let oauth = Challenges::new(Some(
            "https://mcp.example/.well-known/oauth-protected-resource".into(),
        ));
        assert_eq!(
            oauth.unauthorized(&AuthError::Missing),
            "Bearer resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource\""
        );
        let scopes = [
            "tasks:write".to_owned(),
            "bad\"scope".to_owned(),
            "b".to_owned(),
        ];
        let text = oauth.insufficient_scope(&scopes);
        let text = text.to_str().expect("ascii");
        assert!(text.starts_with("Bearer error=\"insufficient_scope\", scope=\"tasks:write b\""));
        assert!(text.ends_with(
            "resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource\""
        ));
    }
}

//! What an upstream and its authorization server publish about themselves: the challenge of a
//! refused request (`WWW-Authenticate`), protected-resource metadata (RFC 9728) and
//! authorization-server metadata (RFC 8414, or OpenID Connect discovery), found with the MCP
//! authorization spec's order of well-known locations. Every URL learned this way is checked
//! before it is used ([`checked_url`]), and the authorization server's metadata must name the
//! issuer it was fetched for, character for character.

use anyhow::{Context, bail, ensure};
use reqwest::Url;
use serde::Deserialize;

/// The largest metadata document read.
const MAX_DOCUMENT: usize = 256 * 1024;

/// The parameters of a `Bearer` or `DPoP` challenge.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Challenge {
    /// `resource_metadata`: where the protected-resource metadata is.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the request needs.
    pub scope: Option<String>,
    /// `error`: `invalid_token`, `insufficient_scope`, `use_dpop_nonce`, ….
    pub error: Option<String>,
}

impl Challenge {
    /// The `Bearer` or `DPoP` challenge of a `WWW-Authenticate` value (`Bearer k="v",
    /// k2=v2`); other schemes' parameters are ignored. Nothing usable gives the empty
    /// challenge.
    pub fn parse(header: &str) -> Self {
        let mut challenge = Self::default();
        let Some(params) = bearer_params(header) else {
            return challenge;
        };
        for (name, value) in params {
            match name.to_ascii_lowercase().as_str() {
                "resource_metadata" => challenge.resource_metadata = Some(value),
                "scope" => challenge.scope = Some(value),
                "error" => challenge.error = Some(value),
                _ => {}
            }
        }
        challenge
    }

    /// The scopes it names.
    pub fn scopes(&self) -> Vec<String> {
        split_scopes(self.scope.as_deref())
    }

    /// Whether the request was refused for want of scope (a step-up can help).
    pub fn insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }

    /// Whether the request was refused for want of the server's DPoP nonce.
    pub fn wants_dpop_nonce(&self) -> bool {
        self.error.as_deref() == Some("use_dpop_nonce")
    }
}

/// Space-separated scopes as a list.
pub fn split_scopes(scopes: Option<&str>) -> Vec<String> {
    scopes
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The `name=value` parameters after `Bearer` or `DPoP` (values quoted or not).
fn bearer_params(header: &str) -> Option<Vec<(String, String)>> {
    let trimmed = header.trim_start();
    let (scheme, rest) = trimmed.split_at(trimmed.find(' ').unwrap_or(trimmed.len()));
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("dpop") {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        if !name.is_empty() {
            params.push((name, value));
        }
    }
    Some(params)
}

/// A URL learned from metadata (or configured), checked before use: absolute, `https` (plain
/// `http` only to a loopback host, and only when `loopback_http` allows it), no credentials in
/// it, no fragment.
pub fn checked_url(url: &str, loopback_http: bool) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if loopback_http && is_loopback(&parsed) => {}
        "http" => bail!("{url:?} is plain http (only https is used)"),
        other => bail!("{url:?} has scheme {other:?} (only https is used)"),
    }
    ensure!(
        parsed.username().is_empty() && parsed.password().is_none(),
        "{url:?} carries credentials"
    );
    ensure!(parsed.fragment().is_none(), "{url:?} has a fragment");
    ensure!(parsed.host().is_some(), "{url:?} has no host");
    Ok(parsed)
}

/// Whether `url` names this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// RFC 9728 protected-resource metadata (the parts used).
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceMetadata {
    /// The resource identifier, sent as the `resource` indicator.
    pub resource: String,
    /// The authorization servers that issue tokens for it.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes it knows.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// RFC 8414 authorization-server metadata (the parts used).
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMetadata {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The algorithms of DPoP proofs the server takes (RFC 9449 §5.1).
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

impl ServerMetadata {
    /// Whether the server binds tokens to a DPoP key of the algorithm mcpgate signs with.
    pub fn offers_dpop(&self) -> bool {
        self.dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|algs| algs.iter().any(|a| a == super::dpop::ALGORITHM))
    }
}

/// The well-known locations of the protected-resource metadata of `server`, in the order the
/// spec gives: with the server's path, then at the root.
pub fn resource_metadata_urls(server: &Url) -> Vec<Url> {
    let mut urls = Vec::new();
    let path = server.path().trim_end_matches('/');
    let mut base = server.clone();
    base.set_query(None);
    base.set_fragment(None);
    if !path.is_empty() {
        let mut with_path = base.clone();
        with_path.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
        urls.push(with_path);
    }
    base.set_path("/.well-known/oauth-protected-resource");
    urls.push(base);
    urls
}

/// The well-known locations of the metadata of the authorization server `issuer`, in the
/// spec's order: RFC 8414 and OpenID Connect with the path inserted, then OpenID Connect with
/// the path appended (for an issuer without a path: RFC 8414, then OpenID Connect).
pub fn server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |p: String| {
        let mut url = issuer.clone();
        url.set_path(&p);
        url.set_query(None);
        url
    };
    if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

/// Whether the resource identifier `resource` (from metadata) covers the server at `server`:
/// the same origin, and a path that is the server's or one of its parents.
pub fn resource_covers(resource: &str, server: &Url) -> bool {
    let Ok(resource) = Url::parse(resource) else {
        return false;
    };
    if resource.origin() != server.origin() {
        return false;
    }
    let own = resource.path().trim_end_matches('/');
    let theirs = server.path().trim_end_matches('/');
    own.is_empty() || theirs == own || theirs.starts_with(&format!("{own}/"))
}

/// GET a JSON document: `None` when it is not there (4xx), an error for anything else that is
/// not a 200 with JSON. Redirects are not followed (the client follows none).
pub async fn fetch<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> anyhow::Result<Option<T>> {
    let response = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .timeout(super::REQUEST_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if status.is_client_error() {
        return Ok(None);
    }
    ensure!(status.is_success(), "GET {url}: HTTP {status}");
    let body = read_limited(response).await?;
    let document =
        serde_json::from_slice(&body).with_context(|| format!("GET {url}: not the metadata"))?;
    Ok(Some(document))
}

/// A response's body, refused past [`MAX_DOCUMENT`].
pub async fn read_limited(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        ensure!(
            body.len() + chunk.len() <= MAX_DOCUMENT,
            "the answer is larger than {MAX_DOCUMENT} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_with_quoted_and_bare_values() {
        let c = Challenge::parse(
            r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(c.scopes(), ["a", "b"]);
        assert!(c.insufficient_scope());
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://x/.well-known/oauth-protected-resource/mcp")
        );
        let c = Challenge::parse(r#"bearer realm=x,scope="q\"r""#);
        assert_eq!(c.scope.as_deref(), Some("q\"r"));
        assert_eq!(Challenge::parse("Basic realm=\"x\""), Challenge::default());
        assert_eq!(Challenge::parse("Bearer"), Challenge::default());
        let c = Challenge::parse(r#"DPoP error="use_dpop_nonce", resource_metadata="https://x/m""#);
        assert!(c.wants_dpop_nonce());
        assert_eq!(c.resource_metadata.as_deref(), Some("https://x/m"));
    }

    #[test]
    fn only_https_or_loopback_http_without_credentials_is_used() {
        assert!(checked_url("https://as.example/token", false).is_ok());
        assert!(checked_url("http://127.0.0.1:9/token", true).is_ok());
        assert!(checked_url("http://localhost:9/token", true).is_ok());
        for bad in [
            "http://127.0.0.1:9/token",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://user:pw@as.example/",
            "https://as.example/#x",
            "data:text/plain,x",
            "not a url",
        ] {
            assert!(checked_url(bad, false).is_err(), "{bad}");
        }
        assert!(checked_url("http://as.example/token", true).is_err());
        assert!(checked_url("http://127.0.0.1.nip.io/token", true).is_err());
    }

    #[test]
    fn well_known_locations_follow_the_spec_order() {
        let server = Url::parse("https://h/mcp").unwrap();
        let urls: Vec<String> = resource_metadata_urls(&server)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "https://h/.well-known/oauth-protected-resource/mcp",
                "https://h/.well-known/oauth-protected-resource"
            ]
        );
        let issuer = Url::parse("https://as/tenant1").unwrap();
        let urls: Vec<String> = server_metadata_urls(&issuer)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "https://as/.well-known/oauth-authorization-server/tenant1",
                "https://as/.well-known/openid-configuration/tenant1",
                "https://as/tenant1/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn a_resource_covers_its_own_server_only() {
        let server = Url::parse("https://h:8443/api/mcp").unwrap();
        assert!(resource_covers("https://h:8443/api/mcp", &server));
        assert!(resource_covers("https://h:8443/api", &server));
        assert!(resource_covers("https://h:8443", &server));
        assert!(!resource_covers("https://h:8443/ap", &server));
        assert!(!resource_covers("https://evil.example/api/mcp", &server));
        assert!(!resource_covers("http://h:8443/api/mcp", &server));
        assert!(!resource_covers("https://h:8443/other", &server));
    }
}

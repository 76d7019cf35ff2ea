//! The token endpoint and client registration: how mcpgate authenticates as an OAuth client
//! (`none`, `client_secret_basic`, `client_secret_post`, `private_key_jwt`), the grants it asks
//! for, what it keeps of the answer, and dynamic client registration (RFC 7591).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use reqwest::Url;
use serde::Deserialize;

use super::super::SecretSource;
use super::dpop::{Dpop, Server};
use super::metadata::{ServerMetadata, read_limited};

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A public client: its id in the body.
    None,
    /// HTTP Basic with the id and secret.
    Basic,
    /// The id and secret in the body.
    Post,
    /// A JWT signed with the client's private key (RFC 7523).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The method's registered name.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// The method called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::None, Self::Basic, Self::Post, Self::PrivateKeyJwt]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// A client of one authorization server: configured, registered or a metadata document URL.
#[derive(Clone)]
pub struct Client {
    /// The issuer it belongs to (a client is never presented to another server).
    pub issuer: String,
    pub id: String,
    pub secret: Option<SecretSource>,
    /// The PEM private key of `private_key_jwt` and its algorithm.
    pub key: Option<(SecretSource, jsonwebtoken::Algorithm)>,
    pub method: AuthMethod,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("issuer", &self.issuer)
            .field("id", &self.id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// The method a client with a secret and/or a key uses at `server`: what it was told, else
/// the first the server supports of those it can do (RFC 8414's default is
/// `client_secret_basic`).
pub fn choose_method(
    configured: Option<AuthMethod>,
    has_secret: bool,
    has_key: bool,
    server: &ServerMetadata,
) -> AuthMethod {
    if let Some(method) = configured {
        return method;
    }
    let supported = server
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    let can = |m: AuthMethod| match m {
        AuthMethod::None => !has_secret && !has_key,
        AuthMethod::Basic | AuthMethod::Post => has_secret,
        AuthMethod::PrivateKeyJwt => has_key,
    };
    [
        AuthMethod::PrivateKeyJwt,
        AuthMethod::Basic,
        AuthMethod::Post,
        AuthMethod::None,
    ]
    .into_iter()
    .find(|m| can(*m) && supported.iter().any(|s| s == m.name()))
    .unwrap_or(if has_key {
        AuthMethod::PrivateKeyJwt
    } else if has_secret {
        AuthMethod::Basic
    } else {
        AuthMethod::None
    })
}

/// What a token endpoint gave.
#[derive(Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    /// When the access token stops being used (a minute before it expires).
    pub renew_at: Option<Instant>,
    /// The scopes granted, when the server said.
    pub scope: Option<String>,
    /// Whether the access token is bound to the client's DPoP key (presented with a proof).
    pub dpop: bool,
}

impl Tokens {
    /// Whether the access token can still be presented.
    pub fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A token endpoint's refusal (`invalid_grant` for a revoked refresh token, …).
#[derive(Debug, thiserror::Error)]
#[error("the token endpoint refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct Refused {
    pub error: String,
    pub description: Option<String>,
}

/// Ask `server`'s token endpoint for tokens with `params` (the grant's), as `client`, for
/// `resource` (RFC 8707), with a DPoP proof of `dpop`'s key when given (sent once more with the
/// server's nonce when it asks for one).
pub async fn request(
    http: &reqwest::Client,
    server: &ServerMetadata,
    token_endpoint: &Url,
    client: &Client,
    resource: &str,
    params: Vec<(&'static str, String)>,
    dpop: Option<&Dpop>,
) -> anyhow::Result<Tokens> {
    let mut form = params;
    form.push(("resource", resource.to_owned()));
    let mut basic = None;
    match client.method {
        AuthMethod::None => form.push(("client_id", client.id.clone())),
        AuthMethod::Basic => {
            let secret = client_secret(client)?;
            let pair = format!("{}:{}", form_encode(&client.id), form_encode(&secret));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            basic = Some(format!("Basic {encoded}"));
        }
        AuthMethod::Post => {
            form.push(("client_id", client.id.clone()));
            form.push(("client_secret", client_secret(client)?));
        }
        AuthMethod::PrivateKeyJwt => {
            form.push(("client_id", client.id.clone()));
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
        }
    }
    let started = Instant::now();
    let mut attempt = 0;
    let body = loop {
        attempt += 1;
        let mut builder = http
            .post(token_endpoint.clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(basic) = &basic {
            builder = builder.header(http::header::AUTHORIZATION, basic);
        }
        let mut form = form.clone();
        if client.method == AuthMethod::PrivateKeyJwt {
            // A fresh assertion (its own `jti`) for each attempt.
            form.push(("client_assertion", assertion(client, &server.issuer)?));
        }
        if let Some(dpop) = dpop {
            let proof = dpop.proof(Server::Authorization, "POST", token_endpoint.as_str(), None)?;
            builder = builder.header("DPoP", proof);
        }
        let response = builder
            .form(&form)
            .timeout(super::REQUEST_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("POST {token_endpoint}"))?;
        let fresh_nonce = match (dpop, super::dpop::nonce_of(response.headers())) {
            (Some(dpop), Some(nonce)) => dpop.learn(Server::Authorization, &nonce),
            _ => false,
        };
        match success_body(response, token_endpoint).await {
            Err(e)
                if attempt == 1
                    && fresh_nonce
                    && e.downcast_ref::<Refused>()
                        .is_some_and(|r| r.error == "use_dpop_nonce") => {}
            done => break done?,
        }
    };
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .with_context(|| format!("POST {token_endpoint}: not a token answer"))?;
    let bound = match answer.token_type.as_deref() {
        Some(kind) if kind.eq_ignore_ascii_case("dpop") => {
            ensure!(
                dpop.is_some(),
                "POST {token_endpoint}: a DPoP-bound token was issued to a request without a proof"
            );
            true
        }
        Some(kind) if !kind.eq_ignore_ascii_case("bearer") => {
            bail!(
                "POST {token_endpoint}: token type {kind:?} is not supported (only Bearer and DPoP)"
            )
        }
        _ => false,
    };
    let renew_at = answer.expires_in.map(|secs| {
        let lifetime = Duration::from_secs(secs);
        // A minute early, or at nine tenths of a short lifetime.
        started + lifetime.saturating_sub(Duration::from_secs(60).min(lifetime / 10))
    });
    Ok(Tokens {
        access: answer.access_token,
        refresh: answer.refresh_token,
        renew_at,
        scope: answer.scope,
        dpop: bound,
    })
}

/// The body of a successful answer from `endpoint`; an OAuth error answer as [`Refused`].
async fn success_body(response: reqwest::Response, endpoint: &Url) -> anyhow::Result<Vec<u8>> {
    let status = response.status();
    let body = read_limited(response).await?;
    if status.is_success() {
        return Ok(body);
    }
    match serde_json::from_slice::<ErrorAnswer>(&body) {
        Ok(refused) => Err(Refused {
            error: refused.error,
            description: refused.error_description,
        }
        .into()),
        Err(_) => bail!("POST {endpoint}: HTTP {status}"),
    }
}

/// An RFC 8693 token exchange at `endpoint` with `form`: the issued token.
pub async fn exchange(
    http: &reqwest::Client,
    endpoint: &Url,
    form: Vec<(&'static str, String)>,
) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Issued {
        access_token: String,
    }
    let response = http
        .post(endpoint.clone())
        .header(http::header::ACCEPT, "application/json")
        .form(&form)
        .timeout(super::REQUEST_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("POST {endpoint}"))?;
    let body = success_body(response, endpoint).await?;
    let issued: Issued = serde_json::from_slice(&body)
        .with_context(|| format!("POST {endpoint}: not a token exchange answer"))?;
    Ok(issued.access_token)
}

fn client_secret(client: &Client) -> anyhow::Result<String> {
    client
        .secret
        .as_ref()
        .context("the client has no secret")?
        .read()
        .context("the client secret")
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1 for Basic).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A `private_key_jwt` client assertion for `audience` (the issuer), valid five minutes.
fn assertion(client: &Client, audience: &str) -> anyhow::Result<String> {
    let (key, algorithm) = client
        .key
        .as_ref()
        .context("the client has no private key")?;
    let pem = key.read().context("the client's private key")?;
    let encoding = match algorithm {
        jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384 => {
            jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())
        }
        jsonwebtoken::Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .context("the client's private key is not a PEM key of its algorithm")?;
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": client.id,
        "sub": client.id,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(*algorithm), &claims, &encoding)
        .context("could not sign the client assertion")
}

/// What dynamic registration gave.
#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// Register a client at `endpoint` (RFC 7591) for the authorization code grant with
/// `redirect_uri`, as a native application, asking for the first method the server supports
/// of `none`, `client_secret_basic` and `client_secret_post`.
pub async fn register(
    http: &reqwest::Client,
    server: &ServerMetadata,
    endpoint: &Url,
    redirect_uri: &str,
) -> anyhow::Result<Client> {
    let supported = server
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    let asked = [AuthMethod::None, AuthMethod::Basic, AuthMethod::Post]
        .into_iter()
        .find(|m| supported.iter().any(|s| s == m.name()))
        .unwrap_or(AuthMethod::Basic);
    let metadata = serde_json::json!({
        "client_name": "mcpgate",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": asked.name(),
        "application_type": "native",
    });
    let response = http
        .post(endpoint.clone())
        .json(&metadata)
        .timeout(super::REQUEST_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("POST {endpoint}"))?;
    let body = success_body(response, endpoint)
        .await
        .context("client registration")?;
    let registered: Registered = serde_json::from_slice(&body)
        .with_context(|| format!("POST {endpoint}: not a registration answer"))?;
    let method = match registered.token_endpoint_auth_method.as_deref() {
        Some(name) => AuthMethod::parse(name)
            .with_context(|| format!("the server registered method {name:?}"))?,
        None if registered.client_secret.is_some() && asked == AuthMethod::None => {
            AuthMethod::Basic
        }
        None => asked,
    };
    Ok(Client {
        issuer: server.issuer.clone(),
        id: registered.client_id,
        secret: registered
            .client_secret
            .map(|s| SecretSource::Value(s.into())),
        key: None,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(methods: Option<&[&str]>) -> ServerMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://as",
            "token_endpoint": "https://as/token",
            "token_endpoint_auth_methods_supported": methods,
        }))
        .unwrap()
    }

    #[test]
    fn a_client_uses_what_it_can_and_the_server_supports() {
        let both = server(Some(&["client_secret_post", "private_key_jwt"]));
        assert_eq!(choose_method(None, true, false, &both), AuthMethod::Post);
        assert_eq!(
            choose_method(None, false, true, &both),
            AuthMethod::PrivateKeyJwt
        );
        assert_eq!(
            choose_method(None, true, false, &server(None)),
            AuthMethod::Basic
        );
        assert_eq!(
            choose_method(None, false, false, &server(Some(&["none"]))),
            AuthMethod::None
        );
        assert_eq!(
            choose_method(Some(AuthMethod::Post), true, false, &server(None)),
            AuthMethod::Post
        );
    }

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(form_encode("a b:c/d"), "a+b%3Ac%2Fd");
    }
}

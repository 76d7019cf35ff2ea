//! The authorization code grant with PKCE (S256): the request sent to the authorization
//! endpoint, and the checks of what comes back to the redirect URI — the same `state`, and an
//! `iss` equal to the issuer, character for character (RFC 9207; required when the server
//! says it sends one, compared whenever present).
//!
//! Who takes the user to the authorization endpoint is a [`UserAgent`]: `mcpgate upstreams
//! login` prints the URL and listens on a loopback port for the redirect ([`Loopback`]); the
//! conformance probe follows the endpoint's redirect itself ([`Headless`]), as the suite's
//! authorization servers approve at once.

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use reqwest::Url;
use sha2::Digest as _;

use super::metadata::ServerMetadata;

/// A PKCE verifier and its S256 challenge, and the request's `state`.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
    pub state: String,
}

impl Pkce {
    /// Fresh random values.
    pub fn new() -> Self {
        let verifier = random_token(32);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
            state: random_token(16),
        }
    }
}

/// `bytes` random bytes, base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The authorization request's URL.
pub fn request_url(
    endpoint: &Url,
    client_id: &str,
    redirect_uri: &str,
    pkce: &Pkce,
    resource: &str,
    scopes: &[String],
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", &pkce.state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", resource);
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(" "));
        }
    }
    url
}

/// The code in `redirect` (where the authorization server sent the user back), once its
/// `state` and `iss` check out.
pub fn code_of(redirect: &Url, pkce: &Pkce, server: &ServerMetadata) -> anyhow::Result<String> {
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    ensure!(
        param("state").as_deref() == Some(pkce.state.as_str()),
        "the authorization response's state is not the request's"
    );
    match param("iss") {
        Some(iss) if iss != server.issuer => bail!(
            "the authorization response came from issuer {iss:?}, not {:?}",
            server.issuer
        ),
        None if server.authorization_response_iss_parameter_supported => {
            bail!("the authorization response has no iss, though the server sends one")
        }
        _ => {}
    }
    if let Some(error) = param("error") {
        bail!(
            "authorization refused: {error}{}",
            param("error_description")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    param("code").context("the authorization response has no code")
}

/// Takes the user to the authorization endpoint and brings back where it redirected to.
#[async_trait::async_trait]
pub trait UserAgent: Send + Sync {
    /// The redirect URI to register and send.
    fn redirect_uri(&self) -> String;
    /// Have `url` authorized; the URL the user came back to.
    async fn authorize(&self, url: &Url) -> anyhow::Result<Url>;
}

/// Follows the authorization endpoint's redirect itself, without a browser (for servers that
/// approve without asking anyone, like the conformance suite's).
pub struct Headless {
    pub http: reqwest::Client,
}

/// The redirect URI a headless agent sends (never listened on).
const HEADLESS_REDIRECT: &str = "http://127.0.0.1:1/callback";

#[async_trait::async_trait]
impl UserAgent for Headless {
    fn redirect_uri(&self) -> String {
        HEADLESS_REDIRECT.to_owned()
    }

    async fn authorize(&self, url: &Url) -> anyhow::Result<Url> {
        let response = self
            .http
            .get(url.clone())
            .timeout(super::REQUEST_TIMEOUT)
            .send()
            .await
            .context("the authorization request")?;
        ensure!(
            response.status().is_redirection(),
            "the authorization endpoint answered HTTP {} without redirecting",
            response.status()
        );
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("the authorization endpoint redirected nowhere")?;
        let back = url.join(location).context("the redirect location")?;
        ensure!(
            back.as_str().starts_with(HEADLESS_REDIRECT),
            "the authorization endpoint redirected elsewhere than the redirect URI"
        );
        Ok(back)
    }
}

/// Prints the URL for the user to open and waits on a loopback port for the redirect.
pub struct Loopback {
    listener: std::sync::Mutex<Option<tokio::net::TcpListener>>,
    port: u16,
    /// How long the user has.
    pub patience: std::time::Duration,
}

impl Loopback {
    /// Listen on `127.0.0.1` (an unused port).
    pub async fn bind() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("listen for the redirect")?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener: std::sync::Mutex::new(Some(listener)),
            port,
            patience: std::time::Duration::from_secs(300),
        })
    }
}

#[async_trait::async_trait]
impl UserAgent for Loopback {
    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    async fn authorize(&self, url: &Url) -> anyhow::Result<Url> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .context("the redirect listener was used already")?;
        eprintln!("Open this URL in a browser to authorize mcpgate:\n\n  {url}\n");
        let wait = async {
            loop {
                let (mut stream, _) = listener.accept().await?;
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                // The request line is all that is needed.
                while read < buf.len() {
                    let n = stream.read(&mut buf[read..]).await?;
                    if n == 0 || buf[..read + n].windows(2).any(|w| w == b"\r\n") {
                        read += n;
                        break;
                    }
                    read += n;
                }
                let head = String::from_utf8_lossy(&buf[..read]);
                let target = head
                    .lines()
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("/");
                if !target.starts_with("/callback") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    continue;
                }
                let page = "mcpgate: authorization received; this window can be closed.";
                let _ = stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                            page.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let back = Url::parse(&self.redirect_uri())?.join(target)?;
                return anyhow::Ok(back);
            }
        };
        tokio::time::timeout(self.patience, wait)
            .await
            .context("no authorization arrived in time")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(iss_supported: bool) -> ServerMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/token",
            "authorization_response_iss_parameter_supported": iss_supported,
        }))
        .unwrap()
    }

    fn back(query: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:1/callback?{query}")).unwrap()
    }

    #[test]
    fn the_challenge_is_the_verifiers_s256() {
        let pkce = Pkce::new();
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(pkce.verifier.as_bytes()));
        assert_eq!(pkce.challenge, expected);
        assert!(pkce.verifier.len() >= 43);
        assert_ne!(Pkce::new().state, pkce.state);
    }

    #[test]
    fn a_redirect_with_another_state_or_issuer_is_refused() {
        let pkce = Pkce::new();
        let s = &pkce.state;
        let ok = back(&format!("code=c&state={s}&iss=https%3A%2F%2Fas.example"));
        assert_eq!(code_of(&ok, &pkce, &server(true)).unwrap(), "c");
        // No iss: fine unless the server said it sends one.
        let none = back(&format!("code=c&state={s}"));
        assert!(code_of(&none, &pkce, &server(false)).is_ok());
        assert!(code_of(&none, &pkce, &server(true)).is_err());
        // A wrong or merely equivalent issuer is refused whether advertised or not.
        for iss in [
            "https%3A%2F%2Fevil.example",
            "https%3A%2F%2Fas.example%2F",
            "HTTPS%3A%2F%2Fas.example",
        ] {
            let wrong = back(&format!("code=c&state={s}&iss={iss}"));
            assert!(code_of(&wrong, &pkce, &server(false)).is_err(), "{iss}");
        }
        assert!(code_of(&back("code=c&state=other"), &pkce, &server(false)).is_err());
        assert!(
            code_of(
                &back(&format!("error=access_denied&state={s}")),
                &pkce,
                &server(false)
            )
            .is_err()
        );
    }
}

//! What mcpgate presents to an HTTP upstream as its own credential (never a caller's): nothing,
//! a static bearer token (re-read at most once a second, so a rotated file is used), or an
//! OAuth access token. One per upstream, shared by its sessions, its direct path and the
//! proxy; each of them asks it for what to present with every request ([`Presented`]: the
//! `Authorization` header, and a DPoP proof of that request when the token is bound to
//! mcpgate's key) and tells it when the upstream refused one, then sends the request again
//! while it says so (at most [`Credential::MAX_RENEWALS`] times).

use std::future::Future;
use std::sync::Arc;

use super::CachedSecret;
use super::oauth::{self, OAuth};

/// What became of one attempt to send a request: the answer, the upstream's refusal of the
/// credential when that is what the answer is, and the answer's `DPoP-Nonce` (with a refusal,
/// the nonce to send again with; with any other answer, the next proof's: RFC 9449 §9).
pub struct Attempt<R> {
    pub answer: R,
    pub refusal: Option<Refusal>,
    pub nonce: Option<String>,
}

/// The upstream's refusal of what a request presented.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// 401 or 403.
    pub status: u16,
    /// Its `WWW-Authenticate`.
    pub challenge: Option<String>,
}

/// An HTTP answer, as far as an attempt is judged by it.
pub trait HttpAnswer {
    fn status_code(&self) -> u16;
    fn header_map(&self) -> &http::HeaderMap;
}

impl<B> HttpAnswer for http::Response<B> {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
    fn header_map(&self) -> &http::HeaderMap {
        self.headers()
    }
}

impl HttpAnswer for reqwest::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
    fn header_map(&self) -> &http::HeaderMap {
        self.headers()
    }
}

impl<R: HttpAnswer> Attempt<R> {
    /// An attempt answered over HTTP: a 401 or 403 is a refusal (with its challenge).
    pub fn answered(answer: R) -> Self {
        let headers = answer.header_map();
        let refusal = matches!(answer.status_code(), 401 | 403).then(|| Refusal {
            status: answer.status_code(),
            challenge: headers
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        let nonce = oauth::dpop::nonce_of(headers);
        Self {
            answer,
            refusal,
            nonce,
        }
    }
}

/// What one request presents to the upstream: its `Authorization`, and with a token bound to
/// mcpgate's DPoP key, the `DPoP` proof made for that request.
#[derive(Clone)]
pub struct Presented {
    token: String,
    authorization: http::HeaderValue,
    proof: Option<http::HeaderValue>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("dpop", &self.proof.is_some())
            .finish_non_exhaustive()
    }
}

impl Presented {
    /// `token` as a bearer token.
    pub fn bearer(token: String) -> anyhow::Result<Self> {
        Ok(Self {
            authorization: sensitive(&format!("Bearer {token}"))?,
            token,
            proof: None,
        })
    }

    /// The access token presented.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The headers to send, `Authorization` first.
    pub fn headers(&self) -> impl Iterator<Item = (http::HeaderName, http::HeaderValue)> + '_ {
        std::iter::once((http::header::AUTHORIZATION, self.authorization.clone())).chain(
            self.proof
                .iter()
                .map(|p| (http::HeaderName::from_static("dpop"), p.clone())),
        )
    }

    /// Put the headers into `headers`, replacing what was there.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for (name, value) in self.headers() {
            headers.insert(name, value);
        }
    }
}

/// `value` as a header value that is never logged.
fn sensitive(value: &str) -> anyhow::Result<http::HeaderValue> {
    let mut value = http::HeaderValue::try_from(value)
        .map_err(|_| anyhow::anyhow!("the upstream's token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// An upstream's credential.
#[derive(Clone, Default, Debug)]
pub enum Credential {
    /// Nothing is presented.
    #[default]
    None,
    /// A static bearer token.
    Bearer(Arc<CachedSecret>),
    /// OAuth: tokens from the upstream's authorization server.
    OAuth(Arc<OAuth>),
}

impl Credential {
    /// How many times a request is sent again after a refusal.
    pub const MAX_RENEWALS: usize = oauth::MAX_RENEWALS;

    /// What is presented, for `upstreams check` (never a secret); `None` when nothing is.
    pub fn describe(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Bearer(_) => Some("a static bearer token".to_owned()),
            Self::OAuth(oauth) => Some(oauth.describe()),
        }
    }

    /// The credential of `upstream`: OAuth when configured, else its bearer token, else none
    /// (always none for a child process).
    pub fn of(upstream: &super::UpstreamConfig) -> anyhow::Result<Self> {
        let super::UpstreamTransport::Http {
            url,
            bearer,
            oauth,
            tls,
            ..
        } = &upstream.transport
        else {
            return Ok(Self::None);
        };
        Ok(match (oauth, bearer) {
            (Some(config), _) => {
                // One OAuth client per configured upstream, however many copies of its
                // configuration are in use (proxy mode reaches its upstream from two places):
                // two would each renew, and a rotated refresh token would leave the other's
                // refused.
                let mut shared = config.client.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(client) = shared.upgrade() {
                    return Ok(Self::OAuth(client));
                }
                // Requests to the authorization server trust what the upstream's do.
                let http = super::tls::http_client(tls.as_ref());
                let client = Arc::new(OAuth::new(&upstream.name, url, (**config).clone(), http)?);
                *shared = Arc::downgrade(&client);
                Self::OAuth(client)
            }
            (None, Some(source)) => Self::Bearer(Arc::new(CachedSecret::new(source.clone()))),
            (None, None) => Self::None,
        })
    }

    /// What a `method` request to `url` made for the caller verified by `caller` presents, if
    /// anything (the caller's own token is used only by an on-behalf-of grant: it exchanges
    /// it).
    pub async fn present(
        &self,
        caller: Option<&str>,
        method: &str,
        url: &str,
    ) -> anyhow::Result<Option<Presented>> {
        match self {
            Self::None => Ok(None),
            Self::Bearer(secret) => Presented::bearer(secret.get()?.to_string()).map(Some),
            Self::OAuth(oauth) => {
                let Some(issued) = oauth.token_for(caller).await? else {
                    return Ok(None);
                };
                if !issued.dpop {
                    return Presented::bearer(issued.access).map(Some);
                }
                let proof = oauth.dpop().proof(
                    oauth::dpop::Server::Upstream,
                    method,
                    url,
                    Some(&issued.access),
                )?;
                Ok(Some(Presented {
                    authorization: sensitive(&format!("DPoP {}", issued.access))?,
                    proof: Some(sensitive(&proof)?),
                    token: issued.access,
                }))
            }
        }
    }

    /// The upstream refused `sent` (see [`Refusal`]), with `nonce` as its `DPoP-Nonce` when it
    /// could be read: whether sending again can help (a new token or nonce is there). Errors
    /// say why no token can be had.
    pub async fn refused(
        &self,
        refusal: &Refusal,
        nonce: Option<&str>,
        sent: Option<&str>,
    ) -> anyhow::Result<bool> {
        match self {
            Self::OAuth(oauth) => {
                oauth
                    .refused(refusal.status, refusal.challenge.as_deref(), nonce, sent)
                    .await
            }
            Self::None | Self::Bearer(_) => Ok(false),
        }
    }

    /// Why tokens cannot be had now, if that is the case.
    pub async fn problem(&self) -> Option<String> {
        match self {
            Self::OAuth(oauth) => oauth.problem().await,
            Self::None | Self::Bearer(_) => None,
        }
    }

    /// `send` a `method` request to `url` with what it presents for `caller` (see
    /// [`Self::present`]) and, while the upstream refuses it and this credential has a new
    /// token or nonce, again (at most [`Self::MAX_RENEWALS`] times); the last answer. The
    /// credential's own failures (no token can be had, and why) become the sender's error
    /// through `failed`.
    pub async fn send<R, E, F, Fut>(
        &self,
        caller: Option<&str>,
        (method, url): (&str, &str),
        mut send: F,
        failed: impl Fn(anyhow::Error) -> E,
    ) -> Result<R, E>
    where
        F: FnMut(Option<Presented>) -> Fut,
        Fut: Future<Output = Result<Attempt<R>, E>>,
    {
        let mut renewals = 0;
        loop {
            let presented = self.present(caller, method, url).await.map_err(&failed)?;
            let sent = presented.as_ref().map(|p| p.token.clone());
            let attempt = send(presented).await?;
            let Some(refusal) = attempt.refusal else {
                if let (Self::OAuth(oauth), Some(nonce)) = (self, &attempt.nonce) {
                    oauth.dpop().learn(oauth::dpop::Server::Upstream, nonce);
                }
                return Ok(attempt.answer);
            };
            if renewals >= Self::MAX_RENEWALS
                || !self.renews()
                || !self
                    .refused(&refusal, attempt.nonce.as_deref(), sent.as_deref())
                    .await
                    .map_err(&failed)?
            {
                return Ok(attempt.answer);
            }
            renewals += 1;
        }
    }

    /// Whether the upstream's refusal of a request is worth telling this credential about.
    pub fn renews(&self) -> bool {
        matches!(self, Self::OAuth(_))
    }
}

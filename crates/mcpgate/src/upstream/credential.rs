//! What mcpgate presents to an HTTP upstream as its own credential (never a caller's): nothing,
//! a static bearer token (re-read at most once a second, so a rotated file is used), or an
//! OAuth access token. One per upstream, shared by its sessions, its direct path and the
//! proxy; each of them asks it for the token of every request and tells it when the upstream
//! refused one, then sends the request again while it says so (at most
//! [`Credential::MAX_RENEWALS`] times).

use std::future::Future;
use std::sync::Arc;

use super::CachedSecret;
use super::oauth::{self, OAuth};

/// What became of one attempt to send a request: the answer, and the upstream's refusal of the
/// credential when that is what the answer is (its status and challenge).
pub struct Attempt<R> {
    pub answer: R,
    pub refusal: Option<(u16, Option<String>)>,
}

/// The refusal in an HTTP answer with `status` and `headers`: one when the status is 401 or 403,
/// with the challenge if there is one.
pub fn refusal(status: u16, headers: &http::HeaderMap) -> Option<(u16, Option<String>)> {
    matches!(status, 401 | 403).then(|| {
        let challenge = headers
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, challenge)
    })
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

    /// The bearer token of the next request, if any.
    pub async fn token(&self) -> anyhow::Result<Option<String>> {
        self.token_for(None).await
    }

    /// The bearer token of the next request made for the caller verified by `caller` (its own
    /// token, which only an on-behalf-of grant uses: it exchanges it).
    pub async fn token_for(&self, caller: Option<&str>) -> anyhow::Result<Option<String>> {
        match self {
            Self::None => Ok(None),
            Self::Bearer(secret) => Ok(Some(secret.get()?.to_string())),
            Self::OAuth(oauth) => oauth.token_for(caller).await,
        }
    }

    /// The upstream refused `sent` with HTTP `status` and the challenge `www_authenticate`:
    /// whether sending again can help (a new token is there). Errors say why no token can be
    /// had.
    pub async fn refused(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        sent: Option<&str>,
    ) -> anyhow::Result<bool> {
        match self {
            Self::OAuth(oauth) => oauth.refused(status, www_authenticate, sent).await,
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

    /// `send` a request with the token for `caller` (see [`Self::token_for`]) and, while the
    /// upstream refuses it and this credential has a new one, again (at most
    /// [`Self::MAX_RENEWALS`] times); the last answer. The credential's own failures (no token
    /// can be had, and why) become the sender's error through `failed`.
    pub async fn send<R, E, F, Fut>(
        &self,
        caller: Option<&str>,
        mut send: F,
        failed: impl Fn(anyhow::Error) -> E,
    ) -> Result<R, E>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<Attempt<R>, E>>,
    {
        let mut renewals = 0;
        loop {
            let token = self.token_for(caller).await.map_err(&failed)?;
            let attempt = send(token.clone()).await?;
            let Some((status, challenge)) = attempt.refusal else {
                return Ok(attempt.answer);
            };
            if renewals >= Self::MAX_RENEWALS
                || !self.renews()
                || !self
                    .refused(status, challenge.as_deref(), token.as_deref())
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

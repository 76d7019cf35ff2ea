//! OAuth 2.1 toward an upstream: mcpgate as the client of the upstream's authorization
//! server, never passing on a caller's token.
//!
//! The upstream's refusal drives it, as the MCP authorization spec lays out: a 401 names the
//! protected-resource metadata (or it is looked for at the well-known locations), that names
//! the authorization server, whose metadata gives the endpoints. The grant is the entry's:
//!
//! - **client credentials** (`client_secret_basic`, `client_secret_post`, `private_key_jwt`);
//! - **JWT bearer** (RFC 7523) with a workload's token read from a file, for workload identity
//!   federation;
//! - **authorization code with PKCE** for upstreams that act for a user: authorized once with
//!   `mcpgate upstreams login NAME` (pre-registered client, client ID metadata document or
//!   dynamic registration), after which the stored refresh token keeps it going.
//!
//! Every token request carries the RFC 8707 `resource` (the metadata's identifier, which must
//! cover the upstream's URL). Scopes come from the configuration, else the challenge, else the
//! metadata's `scopes_supported`; a 403 `insufficient_scope` asks again for the union of what
//! was asked and what is challenged (a step-up), at most [`MAX_RENEWALS`] times a request.
//! Tokens are cached until a minute before they expire and renewed by refresh token where
//! there is one; a 401 renews once. A change of authorization server drops the client and
//! tokens of the old one. Where the authorization server offers DPoP, tokens are bound to a
//! key of mcpgate's and every request proves it holds the key ([`dpop`]).

mod authorize;
pub mod dpop;
mod metadata;
mod store;
mod token;

use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use reqwest::Url;

pub use authorize::{Headless, Loopback, UserAgent};
pub use metadata::{Challenge, checked_url};
pub use store::{GrantStore, SecretKey};
pub use token::AuthMethod;

use super::SecretSource;
use metadata::{ResourceMetadata, ServerMetadata};
use token::{Client, Refused, Tokens};

/// The parameters of a JWT bearer grant (RFC 7523) with `assertion`.
fn jwt_bearer(assertion: String) -> Vec<(&'static str, String)> {
    vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
        ),
        ("assertion", assertion),
    ]
}

/// How many times one request is sent again after the upstream refused its token.
pub const MAX_RENEWALS: usize = 3;
/// Longest wait for any answer of an authorization server (or the upstream's challenge): a
/// server that hangs must not hold the token lock, and with it every request, for longer.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Most exchanged tokens kept (token exchange; expired ones go first).
const MAX_EXCHANGED: usize = 10_000;

/// The grant an upstream's tokens come from.
#[derive(Debug, Clone)]
pub enum Grant {
    /// `client_credentials`: the gateway acts as itself.
    ClientCredentials,
    /// `authorization_code` with PKCE, for a user, authorized with `upstreams login`.
    AuthorizationCode,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` with this assertion (a workload's
    /// identity token; re-read for each request, so a rotated file is used).
    JwtBearer(SecretSource),
    /// On-behalf-of delegation (RFC 8693): each caller's verified token is exchanged for a
    /// token of the upstream's (cached per caller until it expires); what no caller is behind
    /// (discovery, listing, heartbeats) uses client credentials.
    TokenExchange {
        /// `audience` of the exchange, when the server wants one besides the resource.
        audience: Option<String>,
    },
    /// Enterprise-managed authorization: the identity provider's ID token is exchanged there
    /// (RFC 8693) for an identity assertion grant (ID-JAG) for the upstream's authorization
    /// server, which takes it as a JWT bearer grant.
    IdentityAssertion {
        /// The identity provider's token endpoint.
        idp_token_endpoint: String,
        /// The user's ID token from the identity provider (re-read for each grant).
        id_token: SecretSource,
        /// mcpgate's client id at the identity provider.
        idp_client_id: Option<String>,
    },
}

/// `[upstreams.oauth]`.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub grant: Grant,
    /// A pre-registered client's id (without one, the authorization code grant registers).
    pub client_id: Option<String>,
    pub client_secret: Option<SecretSource>,
    /// A PEM private key for `private_key_jwt`, and its algorithm.
    pub private_key: Option<(SecretSource, jsonwebtoken::Algorithm)>,
    /// The token endpoint method, when not chosen from what the server supports.
    pub auth_method: Option<AuthMethod>,
    /// The URL of mcpgate's client ID metadata document, used as the client id where the
    /// server supports such documents.
    pub client_metadata_url: Option<String>,
    /// The scopes asked for (else the challenge's or the metadata's).
    pub scopes: Option<Vec<String>>,
    /// The authorization server to use (it must be one the upstream names, if it names any).
    pub issuer: Option<String>,
    /// Where a code grant is kept between runs.
    pub store: Option<GrantStore>,
    /// The client made from this configuration, shared by its copies (see
    /// [`super::Credential::of`]).
    pub client: SharedClient,
}

/// The one client of a configured upstream, while it is in use.
pub type SharedClient = Arc<std::sync::Mutex<std::sync::Weak<OAuth>>>;

/// An upstream's OAuth client: what is known of its servers, its client, and its tokens.
pub struct OAuth {
    name: String,
    server: Url,
    config: OAuthConfig,
    http: reqwest::Client,
    /// Whether plain-http metadata URLs are accepted (only toward loopback, and only when the
    /// upstream itself is a plain-http loopback server).
    loopback_http: bool,
    /// Who authorizes the code grant now (the probe, `upstreams login`); none when serving.
    agent: Option<Arc<dyn UserAgent>>,
    /// Where a code grant's refresh token is kept.
    store: Option<GrantStore>,
    /// The access token in use, read without the lock.
    current: arc_swap::ArcSwapOption<Tokens>,
    /// The DPoP key (kept with a code grant, whose refresh token may be bound to it) and the
    /// servers' nonces.
    dpop: dpop::Dpop,
    /// Exchanged tokens by the SHA-256 of the caller's token (token exchange).
    exchanged: std::sync::Mutex<std::collections::HashMap<[u8; 32], Tokens>>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    found: Option<Found>,
    /// Whether discovery without a challenge was tried (it is tried once).
    looked: bool,
    client: Option<Client>,
    tokens: Option<Tokens>,
    /// The scopes last asked for.
    requested: Vec<String>,
    /// Why tokens cannot be had now, for `health` and `upstreams check`.
    problem: Option<String>,
}

/// What a login was granted.
#[derive(Debug)]
pub struct Login {
    /// The scopes, as the server said.
    pub scope: Option<String>,
    /// Whether the tokens are bound to the DPoP key.
    pub dpop: bool,
}

/// An access token to present, and whether it is bound to the DPoP key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access: String,
    pub dpop: bool,
}

impl Issued {
    fn of(tokens: &Tokens) -> Self {
        Self {
            access: tokens.access.clone(),
            dpop: tokens.dpop,
        }
    }
}

/// The upstream's resource and its authorization server.
#[derive(Clone)]
struct Found {
    resource: String,
    scopes_supported: Option<Vec<String>>,
    server: ServerMetadata,
    token_endpoint: Url,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("upstream", &self.name)
            .field("grant", &self.config.grant)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// The client of upstream `name` at `url`, making its requests with `http`.
    pub fn new(
        name: &str,
        url: &str,
        config: OAuthConfig,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let store = config.store.clone();
        let server = Url::parse(url).with_context(|| format!("upstream url {url:?}"))?;
        let loopback_http = server.scheme() == "http" && metadata::is_loopback(&server);
        let mut state = State::default();
        let mut key = None;
        if let (Grant::AuthorizationCode, Some(store)) = (&config.grant, &store) {
            match store.load(name) {
                Ok(Some(refresh)) => {
                    key = refresh.dpop_key().unwrap_or_else(|e| {
                        // Tokens bound to it are refused; the grant is renewed with a new key.
                        tracing::warn!(upstream = %name, error = %format!("{e:#}"), "the stored DPoP key is unusable");
                        None
                    });
                    state.tokens = Some(Tokens {
                        access: String::new(),
                        refresh: Some(refresh.refresh_token),
                        renew_at: Some(std::time::Instant::now()),
                        scope: refresh.scope,
                        dpop: false,
                    });
                    if let Some(client) = refresh.client_id {
                        state.client = Some(Client {
                            issuer: refresh.issuer,
                            id: client,
                            secret: refresh.client_secret.map(|s| SecretSource::Value(s.into())),
                            key: None,
                            method: refresh
                                .auth_method
                                .as_deref()
                                .and_then(AuthMethod::parse)
                                .unwrap_or(AuthMethod::None),
                        });
                    }
                }
                Ok(None) => {
                    state.problem = Some(format!(
                        "not authorized yet: run `mcpgate upstreams login {name}`"
                    ));
                }
                Err(e) => state.problem = Some(format!("{e:#}")),
            }
        }
        Ok(Self {
            name: name.to_owned(),
            server,
            config,
            http,
            loopback_http,
            agent: None,
            store,
            dpop: dpop::Dpop::new(match key {
                Some(key) => key,
                None => dpop::DpopKey::generate()?,
            }),
            current: arc_swap::ArcSwapOption::empty(),
            exchanged: std::sync::Mutex::default(),
            state: tokio::sync::Mutex::new(state),
        })
    }

    /// The same client, authorizing code grants through `agent`.
    pub fn with_agent(mut self, agent: Arc<dyn UserAgent>) -> Self {
        self.agent = Some(agent);
        self
    }

    /// The access token to present now: a cached one, a renewed one, or none when none can be
    /// had before the upstream says how (its challenge starts discovery).
    pub async fn token(&self) -> anyhow::Result<Option<Issued>> {
        if let Some(tokens) = self.current.load_full()
            && tokens.fresh()
        {
            return Ok(Some(Issued::of(&tokens)));
        }
        let mut state = self.state.lock().await;
        if let Some(tokens) = &state.tokens
            && tokens.fresh()
            && !tokens.access.is_empty()
        {
            return Ok(Some(Issued::of(tokens)));
        }
        let renewable = state.tokens.as_ref().is_some_and(|t| t.refresh.is_some());
        let unattended = !matches!(self.config.grant, Grant::AuthorizationCode);
        if !renewable && !unattended {
            return Ok(None);
        }
        if self.look(&mut state).await.is_none() {
            return Ok(None);
        }
        let scopes = self.initial_scopes(&state, None);
        self.renew(&mut state, scopes).await.map(Some)
    }

    /// The DPoP key and nonces, for proofs of requests to the upstream.
    pub fn dpop(&self) -> &dpop::Dpop {
        &self.dpop
    }

    /// The grant and the access token in use, for `upstreams check`: whether the token is
    /// bound to mcpgate's DPoP key or a plain bearer token, and its scopes (never the token).
    pub fn describe(&self) -> String {
        let grant = match &self.config.grant {
            Grant::ClientCredentials => "client_credentials",
            Grant::AuthorizationCode => "authorization_code",
            Grant::JwtBearer(_) => "jwt_bearer",
            Grant::TokenExchange { .. } => "token_exchange (client_credentials without a caller)",
            Grant::IdentityAssertion { .. } => "identity assertion (ID-JAG)",
        };
        let token = match self.current.load_full() {
            None => "no access token yet".to_owned(),
            Some(tokens) => {
                let kind = match tokens.dpop {
                    true => "access token bound to mcpgate's DPoP key",
                    false => "bearer access token",
                };
                match &tokens.scope {
                    Some(scope) => format!("{kind}, scope {scope:?}"),
                    None => kind.to_owned(),
                }
            }
        };
        format!("OAuth {grant}: {token}")
    }

    /// The access token for a request made for the caller verified by `caller` (its own
    /// bearer token), where the grant is on-behalf-of; otherwise [`Self::token`].
    pub async fn token_for(&self, caller: Option<&str>) -> anyhow::Result<Option<Issued>> {
        let (Grant::TokenExchange { audience }, Some(caller)) = (&self.config.grant, caller) else {
            return self.token().await;
        };
        use sha2::Digest as _;
        let key: [u8; 32] = sha2::Sha256::digest(caller.as_bytes()).into();
        if let Some(tokens) = self.exchanged_for(&key) {
            return Ok(Some(Issued::of(&tokens)));
        }
        let found = self.look(&mut *self.state.lock().await).await;
        let Some(found) = found else {
            // The upstream's challenge will say where its authorization server is.
            return Ok(None);
        };
        let client = self.configured_client(&found)?;
        let mut params = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            ("subject_token", caller.to_owned()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token".into(),
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token".into(),
            ),
        ];
        if let Some(audience) = audience {
            params.push(("audience", audience.clone()));
        }
        if let Some(scopes) = &self.config.scopes {
            params.push(("scope", scopes.join(" ")));
        }
        let tokens = self
            .ask(&found, &client, params)
            .await
            .with_context(|| format!("upstream {}: exchanging the caller's token", self.name))?;
        // Kept five minutes at most, so a caller whose own token stops working loses the
        // delegated one soon after.
        let mut tokens = tokens;
        let latest = std::time::Instant::now() + std::time::Duration::from_secs(300);
        tokens.renew_at = Some(tokens.renew_at.map_or(latest, |at| at.min(latest)));
        let mut exchanged = self.exchanged.lock().unwrap_or_else(|e| e.into_inner());
        if exchanged.len() >= MAX_EXCHANGED {
            exchanged.retain(|_, t| t.fresh());
            if exchanged.len() >= MAX_EXCHANGED {
                exchanged.clear();
            }
        }
        let issued = Issued::of(&tokens);
        exchanged.insert(key, tokens);
        Ok(Some(issued))
    }

    /// A caller's exchanged token that is still fresh.
    fn exchanged_for(&self, key: &[u8; 32]) -> Option<Tokens> {
        let exchanged = self.exchanged.lock().unwrap_or_else(|e| e.into_inner());
        exchanged.get(key).filter(|t| t.fresh()).cloned()
    }

    /// Forget the exchanged token `sent` (the upstream refused it).
    fn forget_exchanged(&self, sent: &str) -> bool {
        let mut exchanged = self.exchanged.lock().unwrap_or_else(|e| e.into_inner());
        let before = exchanged.len();
        exchanged.retain(|_, t| t.access != sent);
        exchanged.len() != before
    }

    /// The upstream refused `sent` with HTTP `status`, `challenge` (its `WWW-Authenticate`)
    /// and `nonce` (its `DPoP-Nonce`): whether there is a new token, or a new nonce, to send
    /// the request again with.
    pub async fn refused(
        &self,
        status: u16,
        challenge: Option<&str>,
        nonce: Option<&str>,
        sent: Option<&str>,
    ) -> anyhow::Result<bool> {
        let challenge = challenge.map(Challenge::parse).unwrap_or_default();
        if challenge.wants_dpop_nonce() {
            let nonce = match (nonce, sent) {
                (Some(nonce), _) => Some(nonce.to_owned()),
                // A client that cannot see the refusal's headers (rmcp's) asks once more.
                (None, Some(sent)) => self.upstream_nonce(sent).await,
                (None, None) => None,
            };
            return Ok(nonce.is_some_and(|n| self.dpop.learn(dpop::Server::Upstream, &n)));
        }
        if status == 401 && sent.is_some_and(|sent| self.forget_exchanged(sent)) {
            // A caller's exchanged token: the next attempt exchanges again.
            return Ok(true);
        }
        let mut state = self.state.lock().await;
        let current = state.tokens.as_ref().map(|t| t.access.as_str());
        if sent.is_some() && current != sent && current.is_some_and(|c| !c.is_empty()) {
            // Another request renewed it meanwhile.
            return Ok(true);
        }
        match status {
            403 if challenge.insufficient_scope() => {
                let mut scopes = state.requested.clone();
                for scope in challenge.scopes() {
                    if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
                if state.found.is_none() {
                    state.found = Some(self.discover(Some(&challenge)).await?);
                }
                // A step-up needs a new grant: a refresh token cannot widen scopes.
                self.obtain(&mut state, scopes).await?;
                Ok(true)
            }
            401 => {
                self.current.store(None);
                if let Some(tokens) = &mut state.tokens {
                    tokens.access.clear();
                }
                let found = self.discover(Some(&challenge)).await?;
                let moved = state
                    .found
                    .as_ref()
                    .is_some_and(|f| f.server.issuer != found.server.issuer);
                if moved {
                    tracing::info!(upstream = %self.name, issuer = %found.server.issuer, "the upstream's authorization server changed");
                    state.client = None;
                    state.tokens = None;
                }
                state.found = Some(found);
                let scopes = self.initial_scopes(&state, Some(&challenge));
                self.renew(&mut state, scopes).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Why tokens cannot be had, if that is the case (for health and checks).
    pub async fn problem(&self) -> Option<String> {
        self.state.lock().await.problem.clone()
    }

    /// Authorize now, through the agent (`upstreams login`): discover, run the code grant,
    /// keep the refresh token. What was granted.
    pub async fn login(&self) -> anyhow::Result<Login> {
        let mut state = self.state.lock().await;
        state.tokens = None;
        let found = self
            .discover(None)
            .await
            .context("the upstream's authorization server could not be found without a challenge");
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                // Ask the upstream: its refusal names the metadata.
                let challenge = self
                    .challenge()
                    .await
                    .map_err(|c| c.context(format!("{e:#}")))?;
                self.discover(Some(&challenge)).await?
            }
        };
        state.found = Some(found);
        let scopes = self.initial_scopes(&state, None);
        let issued = self.obtain(&mut state, scopes).await?;
        Ok(Login {
            scope: state.tokens.as_ref().and_then(|t| t.scope.clone()),
            dpop: issued.dpop,
        })
    }

    /// The nonce the upstream asks DPoP proofs for, from its answer to a `ping` presenting
    /// `token` (a request with no effect, whatever the upstream makes of it).
    async fn upstream_nonce(&self, token: &str) -> Option<String> {
        let url = self.server.as_str();
        let proof = self
            .dpop
            .proof(dpop::Server::Upstream, "POST", url, Some(token))
            .ok()?;
        let response = self
            .http
            .post(self.server.clone())
            .header(http::header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":"mcpgate-dpop-nonce","method":"ping"}"#)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .ok()?;
        dpop::nonce_of(response.headers())
    }

    /// The upstream's challenge to a request without a token.
    async fn challenge(&self) -> anyhow::Result<Challenge> {
        let response = self
            .http
            .post(self.server.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("POST {}", self.server))?;
        let header = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .with_context(|| {
                format!(
                    "the upstream answered HTTP {} without a challenge",
                    response.status()
                )
            })?;
        Ok(Challenge::parse(header))
    }

    /// The scopes of a first grant: the configured ones, else the challenge's, else the
    /// metadata's `scopes_supported`, else none (the parameter is left out).
    fn initial_scopes(&self, state: &State, challenge: Option<&Challenge>) -> Vec<String> {
        if let Some(scopes) = &self.config.scopes {
            return scopes.clone();
        }
        if let Some(challenge) = challenge
            && challenge.scope.is_some()
        {
            return challenge.scopes();
        }
        if !state.requested.is_empty() {
            return state.requested.clone();
        }
        state
            .found
            .as_ref()
            .and_then(|f| f.scopes_supported.clone())
            .unwrap_or_default()
    }

    /// The upstream's authorization server, when known; looked for at the well-known locations
    /// (once) while no challenge has said where it is.
    async fn look(&self, state: &mut State) -> Option<Found> {
        if state.found.is_none() && !state.looked {
            state.looked = true;
            match self.discover(None).await {
                Ok(found) => state.found = Some(found),
                Err(e) => {
                    tracing::debug!(upstream = %self.name, error = %format!("{e:#}"), "no authorization metadata without a challenge")
                }
            }
        }
        state.found.clone()
    }

    /// Ask `found`'s token endpoint, as `client`, for tokens with `params` (the grant's), for
    /// `found`'s resource.
    async fn ask(
        &self,
        found: &Found,
        client: &Client,
        params: Vec<(&'static str, String)>,
    ) -> anyhow::Result<Tokens> {
        token::request(
            &self.http,
            &found.server,
            &found.token_endpoint,
            client,
            &found.resource,
            params,
            found.server.offers_dpop().then_some(&self.dpop),
        )
        .await
    }

    /// A fresh access token: by refresh token when there is one, else a new grant.
    async fn renew(&self, state: &mut State, scopes: Vec<String>) -> anyhow::Result<Issued> {
        let refresh = state.tokens.as_ref().and_then(|t| t.refresh.clone());
        if let Some(refresh) = refresh
            && let (Some(found), Some(client)) = (state.found.clone(), state.client.clone())
            && client.issuer == found.server.issuer
        {
            let answer = self
                .ask(
                    &found,
                    &client,
                    vec![
                        ("grant_type", "refresh_token".into()),
                        ("refresh_token", refresh.clone()),
                    ],
                )
                .await;
            match answer {
                Ok(mut tokens) => {
                    // A server that does not rotate refresh tokens keeps the old one valid.
                    tokens.refresh.get_or_insert(refresh);
                    return Ok(self.keep(state, tokens, None));
                }
                Err(e) if e.downcast_ref::<Refused>().is_some() => {
                    let why = format!(
                        "the grant was revoked or expired ({e:#}): run `mcpgate upstreams login {}`",
                        self.name
                    );
                    tracing::warn!(upstream = %self.name, "{why}");
                    state.tokens = None;
                    if let Some(store) = &self.store {
                        let _ = store.remove(&self.name);
                    }
                    if self.agent.is_none() {
                        state.problem = Some(why.clone());
                        bail!(why);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.obtain(state, scopes).await
    }

    /// A new grant of the configured kind for `scopes`.
    async fn obtain(&self, state: &mut State, mut scopes: Vec<String>) -> anyhow::Result<Issued> {
        let found = state
            .found
            .clone()
            .context("the upstream's authorization server is not known")?;
        let result = match &self.config.grant {
            Grant::AuthorizationCode => {
                let Some(agent) = &self.agent else {
                    let why = format!(
                        "upstream {} needs a user's authorization: run `mcpgate upstreams login {}`",
                        self.name, self.name
                    );
                    state.problem = Some(why.clone());
                    bail!(why);
                };
                if found
                    .server
                    .scopes_supported
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|s| s == "offline_access"))
                    && !scopes.iter().any(|s| s == "offline_access")
                {
                    // Ask for a refresh token where the server offers them.
                    scopes.push("offline_access".into());
                }
                self.code_grant(state, &found, agent.as_ref(), &scopes)
                    .await
            }
            unattended => {
                let client = self.configured_client(&found)?;
                let mut params = match unattended {
                    Grant::JwtBearer(assertion) => {
                        jwt_bearer(assertion.read().context("the workload's token")?)
                    }
                    Grant::IdentityAssertion {
                        idp_token_endpoint,
                        id_token,
                        idp_client_id,
                    } => jwt_bearer(
                        self.identity_assertion(
                            &found,
                            idp_token_endpoint,
                            id_token,
                            idp_client_id.as_deref(),
                            &scopes,
                        )
                        .await?,
                    ),
                    // Client credentials, and the gateway's own token under token exchange.
                    _ => vec![("grant_type", "client_credentials".to_owned())],
                };
                if !scopes.is_empty() {
                    params.push(("scope", scopes.join(" ")));
                }
                self.ask(&found, &client, params).await
            }
        };
        let tokens = match result {
            Ok(tokens) => tokens,
            Err(e) => {
                state.problem = Some(format!("{e:#}"));
                return Err(e.context(format!("upstream {}: no token", self.name)));
            }
        };
        state.requested = scopes;
        Ok(self.keep(state, tokens, Some(&found)))
    }

    /// Keep `tokens` (and store a code grant's refresh token); the access token.
    fn keep(&self, state: &mut State, tokens: Tokens, found: Option<&Found>) -> Issued {
        let issued = Issued::of(&tokens);
        if let (Some(store), Some(refresh), Grant::AuthorizationCode) =
            (&self.store, &tokens.refresh, &self.config.grant)
        {
            let issuer = found
                .or(state.found.as_ref())
                .map(|f| f.server.issuer.clone())
                .unwrap_or_default();
            let client = state.client.as_ref();
            let saved = store.save(
                &self.name,
                &store::Stored {
                    issuer,
                    refresh_token: refresh.clone(),
                    scope: tokens.scope.clone(),
                    client_id: client.map(|c| c.id.clone()),
                    client_secret: client
                        .and_then(|c| c.secret.as_ref())
                        .and_then(|s| s.read().ok()),
                    auth_method: client.map(|c| c.method.name().to_owned()),
                    dpop_key: Some(store::encode_key(self.dpop.key.pkcs8())),
                },
            );
            if let Err(e) = saved {
                tracing::warn!(upstream = %self.name, error = %format!("{e:#}"), "the refresh token could not be stored");
            }
        }
        state.problem = None;
        self.current.store(Some(Arc::new(tokens.clone())));
        state.tokens = Some(tokens);
        issued
    }

    /// An identity assertion grant for `found`'s authorization server, from the identity
    /// provider's token exchange (RFC 8693) of the user's ID token.
    async fn identity_assertion(
        &self,
        found: &Found,
        idp_token_endpoint: &str,
        id_token: &SecretSource,
        idp_client_id: Option<&str>,
        scopes: &[String],
    ) -> anyhow::Result<String> {
        let endpoint = checked_url(idp_token_endpoint, self.loopback_http)
            .context("the identity provider's token endpoint")?;
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:id-jag".into(),
            ),
            ("subject_token", id_token.read().context("the ID token")?),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token".into(),
            ),
            ("audience", found.server.issuer.clone()),
            ("resource", found.resource.clone()),
        ];
        if let Some(id) = idp_client_id {
            form.push(("client_id", id.to_owned()));
        }
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        token::exchange(&self.http, &endpoint, form).await
    }

    /// The configured client (client credentials, JWT bearer, pre-registered code clients).
    fn configured_client(&self, found: &Found) -> anyhow::Result<Client> {
        let id = self
            .config
            .client_id
            .clone()
            .context("no client_id is configured")?;
        let method = token::choose_method(
            self.config.auth_method,
            self.config.client_secret.is_some(),
            self.config.private_key.is_some(),
            &found.server,
        );
        Ok(Client {
            issuer: found.server.issuer.clone(),
            id,
            secret: self.config.client_secret.clone(),
            key: self.config.private_key.clone(),
            method,
        })
    }

    /// The authorization code grant through `agent`.
    async fn code_grant(
        &self,
        state: &mut State,
        found: &Found,
        agent: &dyn UserAgent,
        scopes: &[String],
    ) -> anyhow::Result<Tokens> {
        let server = &found.server;
        ensure!(
            server
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|m| m.iter().any(|m| m == "S256")),
            "the authorization server does not say it supports PKCE with S256"
        );
        let endpoint = checked_url(
            server
                .authorization_endpoint
                .as_deref()
                .context("the authorization server has no authorization endpoint")?,
            self.loopback_http,
        )?;
        let redirect_uri = agent.redirect_uri();
        let client = match state.client.clone() {
            Some(client) if client.issuer == server.issuer => client,
            _ => {
                let client = if self.config.client_id.is_some() {
                    self.configured_client(found)?
                } else if let (true, Some(url)) = (
                    server.client_id_metadata_document_supported,
                    &self.config.client_metadata_url,
                ) {
                    Client {
                        issuer: server.issuer.clone(),
                        id: url.clone(),
                        secret: None,
                        key: None,
                        method: AuthMethod::None,
                    }
                } else if let Some(registration) = &server.registration_endpoint {
                    let endpoint = checked_url(registration, self.loopback_http)?;
                    token::register(&self.http, server, &endpoint, &redirect_uri).await?
                } else {
                    bail!("the authorization server offers no registration: configure a client_id")
                };
                state.client = Some(client.clone());
                client
            }
        };
        let pkce = authorize::Pkce::new();
        let url = authorize::request_url(
            &endpoint,
            &client.id,
            &redirect_uri,
            &pkce,
            &found.resource,
            scopes,
        );
        let back = agent.authorize(&url).await?;
        let code = authorize::code_of(&back, &pkce, server)?;
        self.ask(
            found,
            &client,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", pkce.verifier),
            ],
        )
        .await
    }

    /// Find the upstream's resource metadata (where the challenge says, else at the well-known
    /// locations) and its authorization server's metadata.
    async fn discover(&self, challenge: Option<&Challenge>) -> anyhow::Result<Found> {
        let mut resource: Option<ResourceMetadata> = None;
        if let Some(url) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
            let url = checked_url(url, self.loopback_http)
                .context("the challenge's resource_metadata")?;
            resource = metadata::fetch(&self.http, &url).await?;
            ensure!(resource.is_some(), "no resource metadata at {url}");
        } else {
            for url in metadata::resource_metadata_urls(&self.server) {
                if let Some(found) = metadata::fetch(&self.http, &url).await? {
                    resource = Some(found);
                    break;
                }
            }
        }
        let (resource_id, scopes_supported, issuer) = match resource {
            Some(prm) => {
                ensure!(
                    metadata::resource_covers(&prm.resource, &self.server),
                    "the upstream's metadata names resource {:?}, which is not {}",
                    prm.resource,
                    self.server
                );
                let issuer = match &self.config.issuer {
                    Some(issuer) => {
                        ensure!(
                            prm.authorization_servers.is_empty()
                                || prm.authorization_servers.contains(issuer),
                            "the upstream does not name the configured authorization server {issuer}"
                        );
                        issuer.clone()
                    }
                    None => prm
                        .authorization_servers
                        .first()
                        .cloned()
                        .context("the upstream's metadata names no authorization server")?,
                };
                (prm.resource, prm.scopes_supported, issuer)
            }
            None => {
                let mut id = self.server.clone();
                id.set_fragment(None);
                let issuer = match &self.config.issuer {
                    Some(issuer) => issuer.clone(),
                    None => bail!("the upstream publishes no resource metadata"),
                };
                (id.to_string(), None, issuer)
            }
        };
        let server = self.server_metadata(&issuer).await?;
        let token_endpoint = checked_url(&server.token_endpoint, self.loopback_http)?;
        Ok(Found {
            resource: resource_id,
            scopes_supported,
            server,
            token_endpoint,
        })
    }

    /// The metadata of authorization server `issuer`, from the first well-known location that
    /// has it; it must name `issuer` exactly.
    async fn server_metadata(&self, issuer: &str) -> anyhow::Result<ServerMetadata> {
        let url = checked_url(issuer, self.loopback_http).context("the authorization server")?;
        for location in metadata::server_metadata_urls(&url) {
            if let Some(server) = metadata::fetch::<ServerMetadata>(&self.http, &location).await? {
                ensure!(
                    server.issuer == issuer,
                    "the metadata at {location} is issuer {:?}'s, not {issuer:?}'s",
                    server.issuer
                );
                return Ok(server);
            }
        }
        bail!("authorization server {issuer} publishes no metadata")
    }
}

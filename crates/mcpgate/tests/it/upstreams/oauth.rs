//! OAuth toward upstreams through the real binaries: a gateway federating (or proxying) an
//! mcpgate that only accepts JWTs from an authorization server run here, which records every
//! request it gets. Client credentials, the authorization code grant through `upstreams
//! login` with its sealed grant, refresh, revocation, and metadata that tries to send the
//! client's secret somewhere it must not go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::edge::config_file;
use crate::support::{Server, free_port};

/// The secret the authorization server signs with and the upstream verifies with.
const SIGNING: &str = "0123456789abcdef0123456789abcdef-as-signing";
/// The secret of the identity provider that signs callers' own tokens (for the gateway).
const USER_SIGNING: &str = "fedcba9876543210fedcba9876543210-user-idp";
/// The gateway's client at the authorization server.
const CLIENT: (&str, &str) = ("gateway", "gateway-secret-71c");
const ALICE: &str = "dev:alice:acme:admin";

/// A token request's form and `Authorization` header.
type TokenRequest = (HashMap<String, String>, Option<String>);

/// What the authorization server does differently.
#[derive(Default)]
struct Behaviour {
    /// The token endpoint its metadata names (else its own).
    token_endpoint: Option<String>,
    /// The issuer its metadata names (else its own).
    issuer: Option<String>,
}

/// An authorization server on a loopback port, recording what it was asked.
struct AuthServer {
    base: String,
    state: Arc<AsState>,
    _task: tokio::task::JoinHandle<()>,
}

struct AsState {
    base: String,
    behaviour: Behaviour,
    /// Each token request's form and `Authorization` header.
    tokens: Mutex<Vec<TokenRequest>>,
    /// Each authorization request's query.
    authorizations: Mutex<Vec<HashMap<String, String>>>,
    /// Refresh tokens are refused from now on.
    revoked: AtomicBool,
    /// Seconds an access token lives.
    lifetime: u64,
    issued: AtomicUsize,
}

impl AuthServer {
    async fn start(lifetime: u64, behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(AsState {
            base: base.clone(),
            behaviour,
            tokens: Mutex::default(),
            authorizations: Mutex::default(),
            revoked: AtomicBool::new(false),
            lifetime,
            issued: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/register", post(register))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            state,
            _task: task,
        }
    }

    fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.tokens.lock().unwrap().clone()
    }

    fn grants(&self) -> Vec<String> {
        self.token_requests()
            .iter()
            .map(|(form, _)| form.get("grant_type").cloned().unwrap_or_default())
            .collect()
    }
}

async fn metadata(State(s): State<Arc<AsState>>) -> Json<Value> {
    let base = &s.base;
    Json(json!({
        "issuer": s.behaviour.issuer.clone().unwrap_or_else(|| base.clone()),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": s.behaviour.token_endpoint.clone().unwrap_or_else(|| format!("{base}/token")),
        "registration_endpoint": format!("{base}/register"),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["mcp", "offline_access"],
    }))
}

async fn authorize(
    State(s): State<Arc<AsState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    s.authorizations.lock().unwrap().push(query.clone());
    let back = format!(
        "{}?code=code-1&state={}&iss={}",
        query["redirect_uri"],
        query["state"],
        url::form_urlencoded::byte_serialize(s.base.as_bytes()).collect::<String>()
    );
    Redirect::to(&back).into_response()
}

async fn register() -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({"client_id": "registered-1", "token_endpoint_auth_method": "none"})),
    )
}

async fn token(
    State(s): State<Arc<AsState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.tokens.lock().unwrap().push((form.clone(), basic.clone()));
    let refuse =
        |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response();
    let refresh = match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            use base64::Engine as _;
            let expected = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", CLIENT.0, CLIENT.1));
            if basic != Some(format!("Basic {expected}")) {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "invalid_client"})),
                )
                    .into_response();
            }
            None
        }
        Some("authorization_code") => {
            if form.get("code").map(String::as_str) != Some("code-1")
                || form.get("code_verifier").is_none_or(|v| v.len() < 43)
            {
                return refuse("invalid_grant");
            }
            Some("refresh-secret-1".to_owned())
        }
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => {
            // The caller's own token, verified; the new token names the same user.
            let mut validation = jsonwebtoken::Validation::default();
            validation.set_audience(&["gateway"]);
            let Ok(user) = jsonwebtoken::decode::<Value>(
                form.get("subject_token").map_or("", String::as_str),
                &jsonwebtoken::DecodingKey::from_secret(USER_SIGNING.as_bytes()),
                &validation,
            ) else {
                return refuse("invalid_grant");
            };
            return issue(
                &s,
                &user.claims["sub"],
                &user.claims["org"],
                form.get("resource"),
                None,
            );
        }
        Some("refresh_token") => {
            if s.revoked.load(Ordering::SeqCst) {
                return refuse("invalid_grant");
            }
            Some(format!(
                "refresh-secret-{}",
                s.issued.load(Ordering::SeqCst) + 2
            ))
        }
        _ => return refuse("unsupported_grant_type"),
    };
    issue(
        &s,
        &json!("gateway"),
        &json!("acme"),
        form.get("resource"),
        refresh,
    )
}

/// A token for `sub` of `org` for `resource`, with `refresh` beside it.
fn issue(
    s: &AsState,
    sub: &Value,
    org: &Value,
    resource: Option<&String>,
    refresh: Option<String>,
) -> Response {
    s.issued.fetch_add(1, Ordering::SeqCst);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": s.base,
        "sub": sub,
        "org": org,
        "roles": ["admin"],
        "aud": resource,
        "iat": now,
        "exp": now + s.lifetime as i64,
    });
    let access = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SIGNING.as_bytes()),
    )
    .unwrap();
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": s.lifetime,
    });
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
    }
    Json(answer).into_response()
}

/// An mcpgate that takes only the authorization server's JWTs for its own URL, and names the
/// server in its metadata (its workspace writable, so callers can leave a trace).
async fn protected(auth: &AuthServer) -> (Server, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/mcp");
    let server = Server::start_at(
        &format!("127.0.0.1:{port}"),
        &[
            ("MCPGATE_AUTH", "jwt"),
            ("MCPGATE_JWT_SECRET", SIGNING),
            ("MCPGATE_JWT_ISSUER", &auth.base),
            ("MCPGATE_JWT_AUDIENCE", &url),
            ("MCPGATE_AUTHORIZATION_SERVERS", &auth.base),
            ("MCPGATE_PUBLIC_URL", &base),
            ("MCPGATE_WORKSPACE_WRITE", "true"),
        ],
    )
    .await;
    (server, url)
}

/// The `[[upstreams]]` entry of the protected server, with `oauth` lines.
fn entry(url: &str, oauth: &str) -> String {
    format!(
        "[[upstreams]]\nname = \"up\"\ntransport = \"http\"\nurl = \"{url}\"\nprotocol = \"auto\"\n\
         [upstreams.tools]\nallow = [\"*\"]\n[upstreams.oauth]\n{oauth}\n"
    )
}

/// What `mcpgate upstreams check` reports with `env`.
pub(super) async fn check(env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new(crate::support::binary())
        .args(["upstreams", "check"])
        .envs(env.iter().copied())
        .env("MCPGATE_LOG", "off")
        .output()
        .await
        .expect("upstreams check");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Call `tool` through `server` as Alice; the JSON-RPC answer.
async fn call(server: &Server, tool: &str) -> Value {
    crate::edge::call(server, Some(ALICE), tool).await.1
}

fn succeeded(answer: &Value) -> bool {
    answer["result"].is_object() && answer["result"]["isError"] != json!(true)
}

/// The gateway's answer once the upstream has joined (its tools are listed in the background).
async fn call_when_listed(server: &Server, tool: &str) -> Value {
    let mut answer = Value::Null;
    super::faults::eventually("the upstream's tools are served", async || {
        answer = call(server, tool).await;
        succeeded(&answer)
    })
    .await;
    answer
}

#[tokio::test]
async fn client_credentials_reach_a_protected_upstream_and_tokens_are_cached_until_they_expire() {
    let auth = AuthServer::start(4, Behaviour::default()).await;
    let (_upstream, url) = protected(&auth).await;
    let (_dir, file) = config_file(&entry(
        &url,
        &format!(
            "client_id = \"{}\"\nclient_secret_env = \"GW_SECRET\"",
            CLIENT.0
        ),
    ));
    let gateway = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH", "dev"),
        ("GW_SECRET", CLIENT.1),
    ])
    .await;
    call_when_listed(&gateway, "up__server_info").await;
    for _ in 0..5 {
        assert!(succeeded(&call(&gateway, "up__server_info").await));
    }
    // One token served the listing and every call; the secret went as HTTP Basic, the
    // upstream's resource with it, and never a caller's credential.
    let requests = auth.token_requests();
    assert_eq!(auth.grants(), ["client_credentials"], "{requests:?}");
    let (form, basic) = &requests[0];
    assert_eq!(form.get("resource"), Some(&url));
    assert!(basic.as_deref().is_some_and(|b| b.starts_with("Basic ")));
    assert!(!form.contains_key("client_secret"));
    assert!(!format!("{requests:?}").contains("alice"));

    // Renewed shortly before it expires, not after the upstream refuses it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(succeeded(&call(&gateway, "up__server_info").await));
    assert_eq!(auth.grants(), ["client_credentials", "client_credentials"]);

    // `upstreams check` says what is presented (this server offers no DPoP), never the secret
    // or the token.
    let report = check(&[("MCPGATE_CONFIG", &file), ("GW_SECRET", CLIENT.1)]).await;
    assert!(
        report.contains("credential: OAuth client_credentials: bearer access token"),
        "{report}"
    );
    assert!(!report.contains(CLIENT.1), "{report}");
}

#[tokio::test]
async fn the_proxy_presents_its_own_oauth_token_and_shares_it_with_its_listing() {
    let auth = AuthServer::start(300, Behaviour::default()).await;
    let (_upstream, url) = protected(&auth).await;
    let (_dir, file) = config_file(&format!(
        "[proxy]\nupstream = \"{url}\"\n[proxy.oauth]\nclient_id = \"{}\"\nclient_secret_env = \"GW_SECRET\"\n",
        CLIENT.0
    ));
    let gateway = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH", "dev"),
        ("GW_SECRET", CLIENT.1),
    ])
    .await;
    call_when_listed(&gateway, "server_info").await;
    assert!(succeeded(&call(&gateway, "server_info").await));
    // The relay and the background listing are one client with one token.
    assert_eq!(auth.grants(), ["client_credentials"]);
}

#[tokio::test]
async fn metadata_that_would_send_the_secret_elsewhere_is_refused_before_any_request() {
    for (behaviour, why) in [
        (
            Behaviour {
                token_endpoint: Some("javascript:alert(1)".into()),
                ..Behaviour::default()
            },
            "scheme",
        ),
        (
            Behaviour {
                token_endpoint: Some("http://user:pw@127.0.0.1:1/token".into()),
                ..Behaviour::default()
            },
            "credentials",
        ),
        (
            Behaviour {
                issuer: Some("https://attacker.example".into()),
                ..Behaviour::default()
            },
            "attacker.example",
        ),
    ] {
        let auth = AuthServer::start(300, behaviour).await;
        let (_upstream, url) = protected(&auth).await;
        let (_dir, file) = config_file(&entry(
            &url,
            &format!(
                "client_id = \"{}\"\nclient_secret_env = \"GW_SECRET\"",
                CLIENT.0
            ),
        ));
        let data = tempfile::tempdir().unwrap();
        let report = check(&[
            ("MCPGATE_CONFIG", &file),
            ("MCPGATE_DATA_DIR", data.path().to_str().unwrap()),
            ("GW_SECRET", CLIENT.1),
        ])
        .await;
        assert!(
            report.contains("FAILED") && report.contains(why),
            "{why}: {report}"
        );
        assert!(!report.contains(CLIENT.1));
        assert!(
            auth.token_requests().is_empty(),
            "{why}: the secret was sent"
        );
    }
}

#[tokio::test]
async fn login_keeps_a_sealed_grant_that_serve_refreshes_until_it_is_revoked() {
    let auth = AuthServer::start(3, Behaviour::default()).await;
    let (_upstream, url) = protected(&auth).await;
    let (_config, file) = config_file(&entry(&url, "grant = \"authorization_code\"").replace(
        "protocol = \"auto\"\n",
        "protocol = \"auto\"\nheartbeat_interval = \"1s\"\n",
    ));
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let key = "a long enough secret key for the test";
    let env = [
        ("MCPGATE_CONFIG", file.as_str()),
        ("MCPGATE_DATA_DIR", data_dir.as_str()),
        ("MCPGATE_SECRET_KEY", key),
    ];

    // Without a login, serving says what to do.
    let report = check(&env).await;
    assert!(report.contains("upstreams login up"), "{report}");

    // `upstreams login`: the test is the user's browser.
    let out = login(&env, &auth.base).await;
    assert!(out.contains("up: authorized"), "{out}");
    let query = auth.state.authorizations.lock().unwrap()[0].clone();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["resource"], url);
    assert!(query["scope"].contains("offline_access"));

    // The grant is sealed at rest.
    let sealed = std::fs::read_to_string(data.path().join("oauth/up.grant")).unwrap();
    assert!(!sealed.contains("refresh-secret"));

    // Serving uses it: the refresh token gets an access token (no browser involved).
    let gateway = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_DATA_DIR", &data_dir),
        ("MCPGATE_SECRET_KEY", key),
        ("MCPGATE_AUTH", "dev"),
    ])
    .await;
    call_when_listed(&gateway, "up__server_info").await;
    assert_eq!(auth.grants()[..2], ["authorization_code", "refresh_token"]);

    // The user revokes the grant: once the access token lapses, calls say what to do, and so
    // does `upstreams check`.
    auth.state.revoked.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answer = call(&gateway, "up__server_info").await;
    assert!(!succeeded(&answer));
    assert!(
        answer.to_string().contains("upstreams login up"),
        "{answer}"
    );
    let report = check(&env).await;
    assert!(
        report.contains("FAILED") && report.contains("upstreams login up"),
        "{report}"
    );
}

/// `mcpgate upstreams login up` with `env`, the test acting as the user's browser at the
/// authorization server at `base` (which approves at once); what the login printed.
pub(super) async fn login(env: &[(&str, &str)], base: &str) -> String {
    let mut login = tokio::process::Command::new(crate::support::binary())
        .args(["upstreams", "login", "up"])
        .envs(env.iter().copied())
        .env("MCPGATE_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("login");
    let stderr = login.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let authorize = loop {
        let line = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("the login prints a URL")
            .unwrap()
            .expect("a line");
        if let Some(at) = line.find(&format!("{base}/authorize?")) {
            break line[at..].trim().to_owned();
        }
    };
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = browser.get(&authorize).send().await.unwrap();
    let back = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    let page = browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("authorization received"));
    let done = tokio::time::timeout(Duration::from_secs(15), login.wait_with_output())
        .await
        .expect("login ends")
        .unwrap();
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{out}");
    out
}

/// A caller's own token, minted by the identity provider the gateway trusts.
fn user_token(sub: &str, org: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": sub, "org": org, "roles": ["admin"], "aud": "gateway", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(USER_SIGNING.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn token_exchange_lets_the_upstream_see_each_user_without_ever_seeing_their_token() {
    let auth = AuthServer::start(300, Behaviour::default()).await;
    let (_upstream, url) = protected(&auth).await;
    let (_dir, file) = config_file(
        &entry(
            &url,
            &format!(
                "grant = \"token_exchange\"\nclient_id = \"{}\"\nclient_secret_env = \"GW_SECRET\"",
                CLIENT.0
            ),
        )
        .replace("protocol = \"auto\"", "protocol = \"2026-07-28\""),
    );
    let gateway = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_AUTH", "jwt"),
        ("MCPGATE_JWT_SECRET", USER_SIGNING),
        ("MCPGATE_JWT_AUDIENCE", "gateway"),
        ("GW_SECRET", CLIENT.1),
    ])
    .await;
    let alice = user_token("alice", "acme");
    let bob = user_token("bob", "acme");
    let create = |token: String, title: &'static str| {
        let gateway = &gateway;
        async move {
            let params = json!({"name": "up__create_note", "arguments": {"title": title}});
            let response = crate::edge::rpc(gateway, Some(&token), "tools/call", params).await;
            crate::support::messages(&response.text().await.unwrap())
                .pop()
                .unwrap_or_default()
        }
    };
    let mut made = Value::Null;
    super::faults::eventually("the upstream's tools are served", async || {
        made = create(alice.clone(), "alice's").await;
        succeeded(&made)
    })
    .await;
    // The upstream saw Alice herself, from a token of its own audience.
    assert_eq!(
        made["result"]["structuredContent"]["created_by"], "alice",
        "{made}"
    );
    let made = create(bob.clone(), "bob's").await;
    assert_eq!(
        made["result"]["structuredContent"]["created_by"], "bob",
        "{made}"
    );
    assert!(succeeded(&create(alice.clone(), "again").await));

    // One exchange per user (cached), each of the user's own token, for the upstream's
    // resource; the listing went as the gateway itself.
    let requests = auth.token_requests();
    let exchanges: Vec<&HashMap<String, String>> = requests
        .iter()
        .map(|(form, _)| form)
        .filter(|form| form["grant_type"].ends_with("token-exchange"))
        .collect();
    assert_eq!(exchanges.len(), 2, "{requests:?}");
    assert_eq!(exchanges[0]["subject_token"], alice);
    assert_eq!(exchanges[1]["subject_token"], bob);
    assert!(exchanges.iter().all(|form| form["resource"] == url));
    assert!(auth.grants().contains(&"client_credentials".to_owned()));
}

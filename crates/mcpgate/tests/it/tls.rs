//! Serving TLS directly through the real binary, with certificates made in the test: both HTTP
//! versions by ALPN, a renewed certificate picked up without a restart (new connections only),
//! and client certificates required and checked against the configured CA.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::Server;

/// A certificate authority made for one test.
fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

/// A certificate and key (PEM) issued by `ca` for `purpose`.
fn issue(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    purpose: ExtendedKeyUsagePurpose,
) -> (String, String) {
    issue_in(ca, name, None, purpose)
}

/// A certificate and key (PEM) issued by `ca` for `name` of `org`, for `purpose`.
fn issue_in(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    org: Option<&str>,
    purpose: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    if let Some(org) = org {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("signed");
    (cert.pem(), key.serialize_pem())
}

/// The files a server reads, in a directory that lives as long as the guard.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) {
        // Written beside and renamed, as a renewal tool would: never half a file.
        let temporary = self.dir.path().join(format!("{name}.new"));
        std::fs::write(&temporary, text).expect("write");
        std::fs::rename(&temporary, self.dir.path().join(name)).expect("rename");
    }
}

/// A client that trusts `ca`, speaks `h2` or HTTP/1.1 only, and presents `identity` if given.
fn client(
    ca: &CertifiedIssuer<'static, KeyPair>,
    h2: bool,
    identity: Option<&(String, String)>,
) -> Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
            )
            .expect("client identity"),
        None => builder.with_no_client_auth(),
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let connector = if h2 {
        connector.enable_http2().build()
    } else {
        connector.enable_http1().build()
    };
    Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .build(connector)
}

/// GET `path` on `server` over TLS; the HTTP version and status, or the error.
async fn get(
    client: &Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
    server: &Server,
    path: &str,
) -> Result<(http::Version, u16), String> {
    let uri = format!("https://localhost:{}{path}", server.addr.port());
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.get(uri.parse().expect("uri")),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| format!("{e:?}"))?;
    let (version, status) = (response.version(), response.status().as_u16());
    let _ = response.into_body().collect().await;
    Ok((version, status))
}

#[tokio::test]
async fn tls_serves_both_http_versions_and_a_renewed_certificate_without_a_restart() {
    let first = authority("first CA");
    let files = Files::new();
    let (cert, key) = issue(&first, "mcpgate", ExtendedKeyUsagePurpose::ServerAuth);
    files.write("cert.pem", &cert);
    files.write("key.pem", &key);
    let server = Server::start(&[
        ("MCPGATE_TLS_CERT", &files.path("cert.pem")),
        ("MCPGATE_TLS_KEY", &files.path("key.pem")),
        ("MCPGATE_TLS_RELOAD_INTERVAL", "200ms"),
    ])
    .await;
    let h1 = client(&first, false, None);
    let h2 = client(&first, true, None);
    assert_eq!(
        get(&h1, &server, "/healthz").await,
        Ok((http::Version::HTTP_11, 200))
    );
    // The container health check probes its own TLS listener (a private CA it cannot know).
    let listen = format!("127.0.0.1:{}", server.addr.port());
    let (code, stdout, stderr) = crate::support::run_binary(
        &["health"],
        &[
            ("MCPGATE_LISTEN", listen.as_str()),
            ("MCPGATE_TLS_CERT", files.path("cert.pem").as_str()),
            ("MCPGATE_TLS_KEY", files.path("key.pem").as_str()),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("https://127.0.0.1:"), "{stdout}");
    // A URL given by hand is checked like any other: that CA is unknown.
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    let (code, _, stderr) = crate::support::run_binary(&["health", "--url", &url], &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        get(&h2, &server, "/healthz").await,
        Ok((http::Version::HTTP_2, 200))
    );
    // MCP itself over HTTP/2.
    let request = http::Request::post(format!("https://localhost:{}/mcp", server.addr.port()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(Full::new(Bytes::from(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
                "params": {"_meta": crate::support::modern_meta()}})
            .to_string(),
        )))
        .expect("request");
    let answer = h2.request(request).await.expect("answer");
    assert_eq!(answer.status(), 200);
    let body = answer.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("\"tools\""));

    // The certificate is renewed by another CA: new connections get it, no restart.
    let second = authority("second CA");
    let (cert, key) = issue(&second, "mcpgate", ExtendedKeyUsagePurpose::ServerAuth);
    files.write("key.pem", &key);
    files.write("cert.pem", &cert);
    let fresh = client(&second, true, None);
    let mut renewed = false;
    for _ in 0..50 {
        if get(&fresh, &server, "/healthz").await.is_ok() {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "the renewed certificate was never served");
    // The connection opened before the renewal still works; a new one trusting only the old
    // CA is now refused.
    assert_eq!(
        get(&h2, &server, "/healthz").await,
        Ok((http::Version::HTTP_2, 200))
    );
    assert!(
        get(&client(&first, true, None), &server, "/healthz")
            .await
            .is_err()
    );
    // A broken file does not take the served certificate down.
    files.write("cert.pem", "not a certificate");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        get(&client(&second, false, None), &server, "/healthz")
            .await
            .is_ok()
    );
}

/// A server whose certificate `servers` issued, requiring client certificates from `clients`,
/// with `env` besides; the files live as long as the guard.
async fn mutual_tls(
    servers: &CertifiedIssuer<'static, KeyPair>,
    clients: &CertifiedIssuer<'static, KeyPair>,
    env: &[(&str, &str)],
) -> (Server, Files) {
    let files = Files::new();
    let (cert, key) = issue(servers, "mcpgate", ExtendedKeyUsagePurpose::ServerAuth);
    files.write("cert.pem", &cert);
    files.write("key.pem", &key);
    files.write("clients.pem", &clients.pem());
    let (cert, key, ca) = (
        files.path("cert.pem"),
        files.path("key.pem"),
        files.path("clients.pem"),
    );
    let mut all = vec![
        ("MCPGATE_TLS_CERT", cert.as_str()),
        ("MCPGATE_TLS_KEY", key.as_str()),
        ("MCPGATE_TLS_CLIENT_CA", ca.as_str()),
    ];
    all.extend_from_slice(env);
    (Server::start(&all).await, files)
}

#[tokio::test]
async fn client_certificates_are_required_and_must_come_from_the_configured_ca() {
    let servers = authority("server CA");
    let clients = authority("client CA");
    let strangers = authority("someone else's CA");
    let (server, _files) = mutual_tls(&servers, &clients, &[]).await;
    let member = issue(&clients, "alice", ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = issue(&strangers, "mallory", ExtendedKeyUsagePurpose::ClientAuth);
    assert!(
        get(&client(&servers, false, None), &server, "/healthz")
            .await
            .is_err(),
        "a client without a certificate got in"
    );
    assert!(
        get(
            &client(&servers, false, Some(&stranger)),
            &server,
            "/healthz"
        )
        .await
        .is_err(),
        "a certificate from another CA got in"
    );
    for h2 in [false, true] {
        assert!(
            get(&client(&servers, h2, Some(&member)), &server, "/healthz")
                .await
                .is_ok_and(|(_, status)| status == 200)
        );
    }
}

/// `method` `path` on `server` over TLS with a JSON `body`; the status and JSON answer.
async fn json_over_tls(
    client: &Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
    server: &Server,
    method: &str,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost:{}{path}", server.addr.port()))
        .header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("in time")
        .expect("answered");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn with_auth_mtls_the_client_certificate_is_the_caller_and_nothing_else_is() {
    let servers = authority("server CA");
    let clients = authority("client CA");
    let (server, _files) = mutual_tls(
        &servers,
        &clients,
        &[
            ("MCPGATE_AUTH", "mtls"),
            ("MCPGATE_WORKSPACE_WRITE", "true"),
        ],
    )
    .await;
    let alice = client(
        &servers,
        false,
        Some(&issue_in(
            &clients,
            "alice",
            Some("acme"),
            ExtendedKeyUsagePurpose::ClientAuth,
        )),
    );
    let bob = client(
        &servers,
        true,
        Some(&issue_in(
            &clients,
            "bob",
            Some("globex"),
            ExtendedKeyUsagePurpose::ClientAuth,
        )),
    );
    let note = r#"{"title": "from alice"}"#;
    // A bearer token claiming to be someone else changes nothing: the certificate decides.
    let (status, made) = json_over_tls(
        &alice,
        &server,
        "POST",
        "/api/v1/notes",
        note,
        Some("dev:mallory:globex:admin"),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["created_by"], "alice");
    // Bob's certificate names another organization: he does not see Alice's note.
    let (_, seen) = json_over_tls(&bob, &server, "GET", "/api/v1/notes", "", None).await;
    assert_eq!(seen["items"], serde_json::json!([]), "{seen}");
    let (_, seen) = json_over_tls(&alice, &server, "GET", "/api/v1/notes", "", None).await;
    assert_eq!(seen["items"][0]["title"], "from alice", "{seen}");
}

#[tokio::test]
async fn auth_mtls_without_client_certificates_is_a_configuration_error() {
    let out = tokio::process::Command::new(crate::support::binary())
        .args(["config", "check"])
        .env("MCPGATE_AUTH", "mtls")
        .output()
        .await
        .expect("config check");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MCPGATE_TLS_CLIENT_CA"));
}

/// Call `tool` on `server` (plain HTTP) with no arguments; the JSON-RPC answer.
async fn call_tool(server: &Server, tool: &str) -> serde_json::Value {
    crate::edge::call(server, None, tool).await.1
}

#[tokio::test]
async fn https_upstreams_are_federated_and_proxied_with_a_private_ca_and_a_client_certificate() {
    let servers = authority("internal server CA");
    let clients = authority("internal client CA");
    let files = Files::new();
    let (cert, key) = issue(&servers, "inner", ExtendedKeyUsagePurpose::ServerAuth);
    files.write("inner-cert.pem", &cert);
    files.write("inner-key.pem", &key);
    files.write("servers.pem", &servers.pem());
    files.write("clients.pem", &clients.pem());
    let (cert, key) = issue(&clients, "gateway", ExtendedKeyUsagePurpose::ClientAuth);
    files.write("gateway-cert.pem", &cert);
    files.write("gateway-key.pem", &key);
    // The internal server: TLS with client certificates required.
    let inner = Server::start(&[
        ("MCPGATE_TLS_CERT", &files.path("inner-cert.pem")),
        ("MCPGATE_TLS_KEY", &files.path("inner-key.pem")),
        ("MCPGATE_TLS_CLIENT_CA", &files.path("clients.pem")),
        ("MCPGATE_MODULES", "system"),
    ])
    .await;
    let url = format!("https://localhost:{}/mcp", inner.addr.port());
    let tls = format!(
        "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        files.path("servers.pem"),
        files.path("gateway-cert.pem"),
        files.path("gateway-key.pem"),
    );
    // Federated, in both eras: the direct path (2026-07-28) and rmcp's client (legacy).
    let (_dir, file) = crate::edge::config_file(&format!(
        r#"
[[upstreams]]
name = "modern"
transport = "http"
url = "{url}"
protocol = "2026-07-28"
{tls}
[upstreams.tools]
allow = ["health"]

[[upstreams]]
name = "legacy"
transport = "http"
url = "{url}"
protocol = "legacy"
{tls}
[upstreams.tools]
allow = ["health"]
"#
    ));
    let gateway = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    for tool in ["modern__health", "legacy__health"] {
        let answer = call_tool(&gateway, tool).await;
        assert_eq!(answer["result"]["isError"], false, "{tool}: {answer}");
    }
    // In proxy mode.
    let (_dir, file) = crate::edge::config_file(&format!("[proxy]\nupstream = \"{url}\"\n{tls}"));
    let proxy = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    let answer = call_tool(&proxy, "health").await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    // Without the client certificate the internal server never answers.
    let (_dir, file) = crate::edge::config_file(&format!(
        "[proxy]\nupstream = \"{url}\"\nca_file = \"{}\"\n",
        files.path("servers.pem")
    ));
    let anonymous = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    let answer = call_tool(&anonymous, "health").await;
    assert!(answer.get("error").is_some(), "{answer}");
}

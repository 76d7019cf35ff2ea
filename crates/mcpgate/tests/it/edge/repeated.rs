//! Host, Origin and the other deciding headers through the real binary, on every route: a
//! foreign `Host` or `Origin` is refused, and so is a second copy of a deciding header (`Host`,
//! `Origin`, `Authorization`, `MCP-Protocol-Version`) and a URI authority that disagrees with
//! `Host` — over HTTP/1.1 (absolute-form targets) and HTTP/2 (`:authority`). The requests are
//! written by hand: HTTP client libraries merge or drop repeated headers.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::jwt::{claims, hs256, jwt_env};
use crate::support::Server;

/// Every route, with the status a plain `GET` from loopback without a credential gets.
const ROUTES: [(&str, u16); 8] = [
    ("/mcp", 401),
    ("/healthz", 200),
    ("/readyz", 200),
    ("/metrics", 200),
    ("/api/v1/notes", 401),
    ("/docs", 200),
    ("/openapi.json", 200),
    ("/.well-known/oauth-protected-resource", 200),
];

/// A JWT server: every route exists, the metadata route included.
async fn start() -> Server {
    let env = jwt_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&env).await
}

/// Send `GET target` over HTTP/1.1 with exactly `headers`, in order; the status and the body
/// as JSON (`Null` when it is not JSON).
async fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut head = format!("GET {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read to close");
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn deciding_headers_count_once_on_every_route_over_http1() {
    let server = start().await;
    let addr = server.addr;
    let port = addr.port();
    let local = format!("127.0.0.1:{port}");
    for (path, plain) in ROUTES {
        let get = |headers: Vec<(&'static str, String)>| {
            let target = path.to_owned();
            async move {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                raw_get(addr, &target, &headers).await
            }
        };
        let (status, _) = get(vec![("Host", local.clone())]).await;
        assert_eq!(status, plain, "{path}: the request itself is fine");

        let refusals = [
            (
                "a foreign Host",
                vec![("Host", "evil.example".to_owned())],
                403,
                "forbidden_host",
            ),
            (
                "a foreign Origin",
                vec![
                    ("Host", local.clone()),
                    ("Origin", "https://evil.example".to_owned()),
                ],
                403,
                "forbidden_origin",
            ),
            (
                "two Hosts, the allowed one first",
                vec![
                    ("Host", "localhost".to_owned()),
                    ("Host", "evil.example".to_owned()),
                ],
                400,
                "repeated_host",
            ),
            (
                "two Origins, the allowed one first",
                vec![
                    ("Host", local.clone()),
                    ("Origin", "http://localhost:3000".to_owned()),
                    ("Origin", "https://evil.example".to_owned()),
                ],
                403,
                "repeated_origin",
            ),
            (
                "two protocol versions",
                vec![
                    ("Host", local.clone()),
                    ("MCP-Protocol-Version", "2026-07-28".to_owned()),
                    ("MCP-Protocol-Version", "2025-11-25".to_owned()),
                ],
                400,
                "repeated_header",
            ),
        ];
        for (case, headers, want, code) in refusals {
            let (status, body) = get(headers).await;
            assert_eq!(status, want, "{path}, {case}: {body}");
            assert_eq!(body["error"], code, "{path}, {case}");
        }

        // An absolute-form target names the host too, and must agree with Host.
        let (status, body) = raw_get(
            addr,
            &format!("http://evil.example{path}"),
            &[("Host", &local)],
        )
        .await;
        assert_eq!(status, 400, "{path}, absolute-form target: {body}");
        assert_eq!(body["error"], "conflicting_host", "{path}");
        let (status, _) =
            raw_get(addr, &format!("http://{local}{path}"), &[("Host", &local)]).await;
        assert_eq!(status, plain, "{path}, an absolute-form target that agrees");
    }
}

#[tokio::test]
async fn a_second_authorization_header_is_refused_on_the_protected_routes() {
    let server = start().await;
    let local = format!("127.0.0.1:{}", server.addr.port());
    let good = format!("Bearer {}", hs256(&claims("ann", &["viewer"], "")));
    let other = format!("Bearer {}", hs256(&claims("mallory", &["admin"], "")));
    for path in ["/mcp", "/api/v1/notes"] {
        let (status, _) = raw_get(
            server.addr,
            path,
            &[("Host", &local), ("Authorization", &good)],
        )
        .await;
        assert_ne!(status, 401, "{path}: one good token is accepted");
        for second in [good.as_str(), other.as_str()] {
            let (status, body) = raw_get(
                server.addr,
                path,
                &[
                    ("Host", &local),
                    ("Authorization", &good),
                    ("Authorization", second),
                ],
            )
            .await;
            assert_eq!(status, 401, "{path}: {body}");
            assert!(
                body.to_string()
                    .contains("more than one Authorization header"),
                "{path}: {body}"
            );
        }
    }
}

/// Send `GET uri` over HTTP/2 (prior knowledge), with a `host` header when given; the status
/// and the body as JSON (`Null` when it is not JSON).
async fn h2_get(
    client: &mut h2::client::SendRequest<axum::body::Bytes>,
    uri: &str,
    host: Option<&str>,
) -> (u16, Value) {
    let mut request = http::Request::get(uri);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let request = request.body(()).expect("request");
    let (response, _) = client
        .clone()
        .ready()
        .await
        .expect("ready")
        .send_request(request, true)
        .expect("send");
    let response = response.await.expect("response");
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body chunk");
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn http2_authority_and_host_must_agree_on_every_route() {
    let server = start().await;
    let local = format!("127.0.0.1:{}", server.addr.port());
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    for (path, plain) in ROUTES {
        let (status, _) = h2_get(&mut client, &format!("http://{local}{path}"), None).await;
        assert_eq!(status, plain, "{path}: :authority alone names the host");
        let (status, _) = h2_get(&mut client, &format!("http://{local}{path}"), Some(&local)).await;
        assert_eq!(status, plain, "{path}: :authority and host agree");
        let (status, body) = h2_get(
            &mut client,
            &format!("http://evil.example{path}"),
            Some(&local),
        )
        .await;
        assert_eq!(
            status, 400,
            "{path}: :authority evil.example, host local: {body}"
        );
        assert_eq!(body["error"], "conflicting_host", "{path}");
        let (status, body) = h2_get(&mut client, &format!("http://evil.example{path}"), None).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"], "forbidden_host", "{path}");
    }
}

#[tokio::test]
async fn the_admin_listener_counts_host_and_origin_once_too() {
    let server = Server::start(&[]).await;
    let url = server.admin("/");
    let local = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let addr: SocketAddr = local.parse().expect("the admin address");
    let cases = [
        (
            "two Hosts, the loopback one first",
            vec![("Host", local.clone()), ("Host", "evil.example".to_owned())],
            400,
            "repeated_host",
        ),
        (
            "two Origins, its own first",
            vec![
                ("Host", local.clone()),
                ("Origin", format!("http://{local}")),
                ("Origin", "https://evil.example".to_owned()),
            ],
            403,
            "repeated_origin",
        ),
    ];
    for (what, headers, status, code) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        for path in ["/status", "/metrics", "/healthz", "/readyz"] {
            let (got, body) = raw_get(addr, path, &headers).await;
            assert_eq!(got, status, "{what} on {path}: {body}");
            assert_eq!(body["error"], code, "{what} on {path}");
        }
    }
    // One of each is answered.
    let (got, _) = raw_get(addr, "/healthz", &[("Host", &local)]).await;
    assert_eq!(got, 200);
}

//! Host and Origin validation against DNS rebinding and cross-site requests, on every route.
//!
//! `Host` must name an allowed host (an entry without a port allows any port; `*` allows all).
//! `Origin`, when present, must match an allowed pattern `scheme://host[:port|:*]` (no port means
//! the scheme's default port; `null` matches the opaque origin; `*` allows all). Requests without
//! `Origin` (non-browser clients) pass.
//!
//! Each is read from one value only: a request with two `Host` headers (400) or two `Origin`
//! headers (403) is refused, and so is one whose URI authority — HTTP/2's `:authority`, or an
//! absolute-form target in HTTP/1.1 — names another host than its `Host` header (400): the
//! server would check one and a proxy or the router could act on the other.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::reject;
use super::repeated::repeated;

/// An origin pattern that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected scheme://host[:port|:*], \"null\" or \"*\"")]
pub struct InvalidOrigin;

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// Any origin.
    Any,
    /// The opaque origin `null`.
    Null,
    /// A scheme, host and port (`None` = any port).
    Site {
        /// `http` or `https`.
        scheme: String,
        /// Lower-case host, IPv6 without brackets.
        host: String,
        /// A port, or any.
        port: Option<u16>,
    },
}

impl OriginPattern {
    /// Parse `scheme://host[:port|:*]`, `null` or `*`.
    pub fn parse(text: &str) -> Result<Self, InvalidOrigin> {
        match text {
            "*" => return Ok(Self::Any),
            "null" => return Ok(Self::Null),
            _ => {}
        }
        let (scheme, rest) = text.split_once("://").ok_or(InvalidOrigin)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(InvalidOrigin);
        }
        let (host, port) = split_host_port(rest).ok_or(InvalidOrigin)?;
        let port = match port {
            None => Some(default_port(&scheme)),
            Some("*") => None,
            Some(p) => Some(p.parse().map_err(|_| InvalidOrigin)?),
        };
        Ok(Self::Site { scheme, host, port })
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Null => origin == "null",
            Self::Site { scheme, host, port } => {
                let Ok(Self::Site {
                    scheme: s,
                    host: h,
                    port: p,
                }) = Self::parse(origin)
                else {
                    return false;
                };
                s == *scheme && h == *host && (port.is_none() || p == *port)
            }
        }
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// Split `host[:port]` (IPv6 in brackets) into a lower-case host without brackets and the port
/// text. `None` when malformed or when there is a path.
fn split_host_port(text: &str) -> Option<(String, Option<&str>)> {
    if text.is_empty() || text.contains('/') {
        return None;
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        return Some((host.to_ascii_lowercase(), port));
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address without brackets has several colons.
        Some((host, _)) if host.contains(':') => Some((text.to_ascii_lowercase(), None)),
        Some((host, port)) => Some((host.to_ascii_lowercase(), Some(port))),
        None => Some((text.to_ascii_lowercase(), None)),
    }
}

/// The Host and Origin allowlists of one listener.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    hosts: Arc<[(String, Option<String>)]>,
    any_host: bool,
    origins: Arc<[OriginPattern]>,
}

impl OriginPolicy {
    /// A policy from configured host entries and origin patterns (already validated).
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        let any_host = hosts.iter().any(|h| h == "*");
        let hosts = hosts
            .iter()
            .filter(|h| *h != "*")
            .filter_map(|h| split_host_port(h).map(|(host, port)| (host, port.map(str::to_owned))))
            .collect::<Vec<_>>();
        let origins = origins
            .iter()
            .filter_map(|o| OriginPattern::parse(o).ok())
            .collect::<Vec<_>>();
        Self {
            hosts: hosts.into(),
            any_host,
            origins: origins.into(),
        }
    }

    /// Whether `host` (a `Host` header value) is allowed.
    pub fn host_allowed(&self, host: &str) -> bool {
        if self.any_host {
            return true;
        }
        let Some((name, port)) = split_host_port(host) else {
            return false;
        };
        self.hosts
            .iter()
            .any(|(h, p)| *h == name && (p.is_none() || p.as_deref() == port))
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| p.matches(origin))
    }
}

/// Why the edge refused a request's `Host` or `Origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OriginRefusal {
    /// The `Host` names a host this server does not serve (DNS rebinding).
    #[error("the Host header names a host this server does not serve")]
    ForeignHost,
    /// The request has no `Host`.
    #[error("the request has no Host header")]
    MissingHost,
    /// A browser page from another origin made the request.
    #[error("requests from this Origin are not allowed")]
    ForeignOrigin,
    /// More than one `Host` header.
    #[error("the request carries more than one Host header")]
    RepeatedHost,
    /// The URI authority (`:authority` in HTTP/2) and `Host` name different hosts.
    #[error("the request's authority and its Host header name different hosts")]
    ConflictingHost,
    /// More than one `Origin` header.
    #[error("the request carries more than one Origin header")]
    RepeatedOrigin,
}

impl IntoResponse for OriginRefusal {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            Self::ForeignHost => (StatusCode::FORBIDDEN, "forbidden_host"),
            Self::MissingHost => (StatusCode::BAD_REQUEST, "missing_host"),
            Self::ForeignOrigin => (StatusCode::FORBIDDEN, "forbidden_origin"),
            Self::RepeatedHost => (StatusCode::BAD_REQUEST, "repeated_host"),
            Self::ConflictingHost => (StatusCode::BAD_REQUEST, "conflicting_host"),
            Self::RepeatedOrigin => (StatusCode::FORBIDDEN, "repeated_origin"),
        };
        reject(status, code, self.to_string())
    }
}

impl OriginPolicy {
    /// Check a request's `Host` and (when present) `Origin`, each from its only value.
    pub fn check(&self, request: &Request) -> Result<(), OriginRefusal> {
        let headers = request.headers();
        if repeated(headers, header::HOST) {
            return Err(OriginRefusal::RepeatedHost);
        }
        let authority = request.uri().authority().map(|a| a.as_str());
        let host = match (headers.get(header::HOST), authority) {
            (Some(value), authority) => {
                let host = value.to_str().map_err(|_| OriginRefusal::ForeignHost)?;
                if authority.is_some_and(|a| !same_host(a, host)) {
                    return Err(OriginRefusal::ConflictingHost);
                }
                host
            }
            (None, Some(authority)) => authority,
            (None, None) => return Err(OriginRefusal::MissingHost),
        };
        if !self.host_allowed(host) {
            return Err(OriginRefusal::ForeignHost);
        }
        if repeated(headers, header::ORIGIN) {
            return Err(OriginRefusal::RepeatedOrigin);
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let allowed = origin
                .to_str()
                .map(|o| self.origin_allowed(o))
                .unwrap_or(false);
            if !allowed {
                return Err(OriginRefusal::ForeignOrigin);
            }
        }
        Ok(())
    }
}

/// Whether a URI authority and a `Host` value name the same host and port (case aside). An
/// authority with user info never matches: no client sends one to mean this server.
fn same_host(authority: &str, host: &str) -> bool {
    if authority.contains('@') {
        return false;
    }
    match (split_host_port(authority), split_host_port(host)) {
        (Some(a), Some(h)) => a == h,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(
            &[
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "api.example.com:8443".into(),
            ],
            &[
                "http://localhost:*".into(),
                "https://app.example.com".into(),
                "null".into(),
            ],
        )
    }

    #[test]
    fn hosts_match_by_name_and_optional_port() {
        let p = policy();
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "api.example.com:8443",
            "LOCALHOST",
        ] {
            assert!(p.host_allowed(ok), "{ok} refused");
        }
        for bad in [
            "evil.com",
            "api.example.com",
            "api.example.com:80",
            "localhost.evil.com",
            "",
            "[::1",
        ] {
            assert!(!p.host_allowed(bad), "{bad} allowed");
        }
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let p = policy();
        for ok in [
            "http://localhost:3000",
            "http://localhost",
            "https://app.example.com",
            "https://app.example.com:443",
            "null",
        ] {
            assert!(p.origin_allowed(ok), "{ok} refused");
        }
        for bad in [
            "https://localhost:3000",
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://evil.com",
            "garbage",
        ] {
            assert!(!p.origin_allowed(bad), "{bad} allowed");
        }
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn host_and_origin_are_read_from_one_value_only() {
        let p = policy();
        let check = |uri: &str, headers: &[(&str, &str)]| p.check(&request(uri, headers));
        assert_eq!(check("/mcp", &[("host", "localhost")]), Ok(()));
        assert_eq!(
            check("/mcp", &[("host", "localhost"), ("host", "evil.example")]),
            Err(OriginRefusal::RepeatedHost)
        );
        assert_eq!(
            check(
                "/mcp",
                &[
                    ("host", "localhost"),
                    ("origin", "http://localhost:3000"),
                    ("origin", "https://evil.example"),
                ]
            ),
            Err(OriginRefusal::RepeatedOrigin)
        );
        // An absolute-form target (or HTTP/2's :authority) must agree with Host.
        assert_eq!(
            check("http://evil.example/mcp", &[("host", "127.0.0.1")]),
            Err(OriginRefusal::ConflictingHost)
        );
        assert_eq!(
            check("http://LocalHost:8080/mcp", &[("host", "localhost:8080")]),
            Ok(())
        );
        assert_eq!(
            check("http://localhost:8080/mcp", &[("host", "localhost")]),
            Err(OriginRefusal::ConflictingHost)
        );
        assert_eq!(
            check("http://u@localhost/mcp", &[("host", "localhost")]),
            Err(OriginRefusal::ConflictingHost)
        );
        // Without Host, the authority is the host.
        assert_eq!(check("http://[::1]:9/mcp", &[]), Ok(()));
        assert_eq!(
            check("http://evil.example/mcp", &[]),
            Err(OriginRefusal::ForeignHost)
        );
        assert_eq!(check("/mcp", &[]), Err(OriginRefusal::MissingHost));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::props::config;

    /// Text shaped like hosts and origins: names, ports, brackets, schemes, wildcards.
    fn hostish() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.*-]{0,20}(:[0-9*]{0,6})?",
            "(https?|ftp)://[a-z0-9.\\[\\]:*-]{0,24}(/[a-z]{0,4})?",
            "\\[[0-9a-f:]{0,20}\\](:[0-9]{0,5})?",
            any::<String>(),
        ]
    }

    fn loopback() -> OriginPolicy {
        OriginPolicy::new(
            &["localhost".into(), "127.0.0.1".into()],
            &["http://localhost:*".into()],
        )
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn patterns_parse_or_refuse_without_panic(text in hostish()) {
            let _ = OriginPattern::parse(&text);
            let _ = split_host_port(&text);
            let policy = OriginPolicy::new(std::slice::from_ref(&text), std::slice::from_ref(&text));
            let _ = policy.host_allowed(&text);
            let _ = policy.origin_allowed(&text);
        }

        /// Whatever Host, authority and Origin a request carries, a loopback-only policy lets it
        /// through only when the host it names is a loopback name.
        #[test]
        fn only_allowed_hosts_pass(
            host in hostish(),
            authority in prop::option::of("[a-z0-9.-]{1,12}(:[0-9]{1,5})?"),
            origin in prop::option::of(hostish()),
        ) {
            let uri = match &authority {
                Some(a) => format!("http://{a}/mcp"),
                None => "/mcp".to_owned(),
            };
            let Ok(mut request) = Request::builder().uri(&uri).body(axum::body::Body::empty()) else {
                return Ok(());
            };
            let Ok(value) = axum::http::HeaderValue::from_str(&host) else {
                return Ok(());
            };
            request.headers_mut().insert(header::HOST, value);
            if let Some(origin) = origin.as_deref().and_then(|o| axum::http::HeaderValue::from_str(o).ok()) {
                request.headers_mut().insert(header::ORIGIN, origin);
            }
            if loopback().check(&request).is_ok() {
                let name = split_host_port(&host).map(|(name, _)| name);
                prop_assert!(
                    matches!(name.as_deref(), Some("localhost" | "127.0.0.1")),
                    "{host:?} passed"
                );
            }
        }
    }
}

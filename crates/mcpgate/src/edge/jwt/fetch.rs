//! Fetching a JWKS document over HTTP(S).
//!
//! The URL must be https, except plain http to a loopback host (127.0.0.0/8, ::1, `localhost`).
//! TLS is rustls with the ring provider and the platform's root certificates (honouring
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`). A fetch is bounded in time (the whole exchange) and size
//! ([`MAX_JWKS_BYTES`]); redirects are not followed. URLs appear in logs without their query.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::JwtSetupError;
use super::keys::{KeySet, KeySetError};
use crate::telemetry::error_chain;

/// The largest JWKS document accepted, in bytes.
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;

/// A JWKS URL that passed the transport policy.
#[derive(Clone)]
pub(crate) struct JwksUrl {
    uri: Uri,
    https: bool,
    /// Scheme, host and path only: safe to log.
    redacted: String,
}

impl JwksUrl {
    /// Parses `text` and applies the policy: https, or http to a loopback host; no user info.
    pub(crate) fn parse(text: &str) -> Result<Self, JwtSetupError> {
        let uri: Uri = text
            .trim()
            .parse()
            .map_err(|_| JwtSetupError::InvalidUrl("it does not parse as a URL"))?;
        let authority = uri
            .authority()
            .ok_or(JwtSetupError::InvalidUrl("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(JwtSetupError::InvalidUrl("it may not carry user info"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(JwtSetupError::InvalidUrl("it has no host"));
        }
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(host) => false,
            Some("http") => return Err(JwtSetupError::InsecureUrl),
            _ => return Err(JwtSetupError::InvalidUrl("the scheme must be https")),
        };
        let redacted = format!(
            "{}://{}{}",
            if https { "https" } else { "http" },
            authority.as_str(),
            uri.path()
        );
        Ok(Self {
            uri,
            https,
            redacted,
        })
    }

    /// The URL without its query: safe to log.
    pub(crate) fn redacted(&self) -> &str {
        &self.redacted
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a fetch produced no key set. Messages carry no URL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The exchange took longer than the fetch timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting or the HTTP exchange failed.
    #[error("request failed: {0}")]
    Request(String),
    /// The server answered with a status other than 2xx.
    #[error("the server answered {0}")]
    Status(http::StatusCode),
    /// The document is larger than [`MAX_JWKS_BYTES`].
    #[error("the document is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The document is not a usable key set.
    #[error("{0}")]
    KeySet(#[from] KeySetError),
}

/// Fetches one JWKS URL.
pub(crate) struct Fetcher {
    url: JwksUrl,
    timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Fetcher {
    /// A fetcher for `url`; every fetch is bounded by `timeout`.
    pub(crate) fn new(url: JwksUrl, timeout: Duration) -> Result<Self, JwtSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = if url.https {
            HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(provider)
                .map_err(|e| JwtSetupError::Tls(e.to_string()))?
        } else {
            // Plain http to loopback: the TLS side is never used, so it trusts nothing.
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| JwtSetupError::Tls(e.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            HttpsConnectorBuilder::new().with_tls_config(config)
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self {
            url,
            timeout,
            client,
        })
    }

    /// The URL this fetcher reads.
    pub(crate) fn url(&self) -> &JwksUrl {
        &self.url
    }

    /// Fetches and parses the key set.
    pub(crate) async fn fetch(&self) -> Result<KeySet, FetchError> {
        tokio::time::timeout(self.timeout, self.exchange())
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }

    async fn exchange(&self) -> Result<KeySet, FetchError> {
        let request = Request::get(self.url.uri.clone())
            .header(header::ACCEPT, "application/jwk-set+json, application/json")
            .header(
                header::USER_AGENT,
                concat!("mcpgate/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| FetchError::Request(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchError::Request(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_JWKS_BYTES as u64) {
            return Err(FetchError::TooLarge);
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    FetchError::TooLarge
                } else {
                    FetchError::Request(error_chain(e.as_ref()))
                }
            })?
            .to_bytes();
        Ok(KeySet::parse(&body)?)
    }
}

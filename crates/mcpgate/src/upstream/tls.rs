//! TLS toward HTTPS upstreams (and the proxy's upstream): rustls with the ring provider,
//! trusting the platform's roots (honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus an
//! upstream's own CA bundle (`ca_file`, for an internal CA), and presenting a client
//! certificate when the upstream asks for one (`client_cert`, `client_key`). Built once when the
//! configuration is read, so a bad file is a configuration problem; shared by every client of
//! that upstream (rmcp's, the direct path's, the proxy's). Only HTTP/1.1 is offered by ALPN:
//! those clients pool HTTP/1.1 connections.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS settings of one upstream, ready to connect with.
pub type UpstreamTls = Arc<ClientConfig>;

/// The client configuration for an upstream: the platform's roots and `ca_file`'s, and the
/// client identity of `identity` (certificate chain and key files, PEM).
pub fn client_config(
    ca_file: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<UpstreamTls> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        for cert in pem_certs(path)? {
            roots
                .add(cert)
                .with_context(|| format!("a CA certificate in {}", path.display()))?;
        }
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "no CA certificate to trust: the platform has none and no `ca_file` is set"
    );
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let chain = pem_certs(cert)?;
            anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
            let key_pem = std::fs::read(key).with_context(|| format!("read {}", key.display()))?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .with_context(|| format!("{} holds no private key", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("the client certificate and key do not make an identity")?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Make ring the process's default rustls provider, unless the process already chose one.
///
/// mcpgate's own clients always carry an explicit configuration and never need this; it is for
/// HTTP clients built elsewhere in the same process with reqwest's defaults (reqwest here has
/// no provider of its own and would refuse to build one). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client configuration that trusts nothing, for clients whose upstream is plain HTTP (the
/// TLS side of their connector is never used).
pub fn unused() -> UpstreamTls {
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

fn pem_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM", path.display()))
}

/// An HTTP/1.1 connector for `tls` that also speaks plain HTTP, sending small writes at once.
pub fn connector(
    tls: &UpstreamTls,
    connect_timeout: Option<std::time::Duration>,
) -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(connect_timeout);
    http.enforce_http(false);
    // The connector offers ALPN itself (and refuses a configuration that already does).
    let mut config = (**tls).clone();
    config.alpn_protocols.clear();
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// The reqwest client of one upstream (rmcp's sessions, OAuth requests): connections are kept and reused (rmcp's default
/// client opens one per request, which costs a TCP handshake and a TIME-WAIT socket per call;
/// rmcp drains each response stream so a connection can be reused), no redirect is followed (a
/// redirect could carry the upstream's token elsewhere), and small writes go out at once.
pub(super) fn http_client(tls: Option<&UpstreamTls>) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_idle_timeout(std::time::Duration::from_secs(60));
    // Always a TLS configuration of ours (ring, and only what this upstream trusts), never
    // reqwest's process-wide default.
    let tls = tls.cloned().unwrap_or_else(unused);
    let builder = builder.tls_backend_preconfigured((*tls).clone());
    builder.build().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the upstream HTTP client could not be built as configured");
        reqwest::Client::default()
    })
}

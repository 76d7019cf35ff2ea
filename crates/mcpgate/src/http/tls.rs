//! Serving TLS directly, for deployments without a load balancer to end it (rustls, ring).
//!
//! - HTTP/1.1 and HTTP/2 are both offered by ALPN (`h2`, `http/1.1`); the connection then runs
//!   exactly as a plain one (the same limits, drain and answers).
//! - The handshake runs in the connection's own task, bounded by `http.header_read_timeout`,
//!   so a client that connects and says nothing holds no more than a plain one would.
//! - **Reload without a restart.** The certificate and key files are read again every
//!   `http.tls_reload_interval`; when they changed and parse, new connections get the new
//!   certificate (the resolver hands out whichever is current), open connections keep theirs.
//!   A change that does not parse is logged and the current certificate stays.
//! - **Client certificates** (`http.tls_client_ca`): required, and checked against that CA
//!   bundle during the handshake; a client without one, or with one from elsewhere, never
//!   gets an HTTP exchange.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::lifecycle::Lifecycle;

/// The TLS side of the listener.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Load the certificate, key and client CAs of `config`, and keep the certificate fresh in
    /// a background task of `lifecycle` (see the module documentation).
    pub fn load(
        config: &TlsConfig,
        handshake_timeout: Duration,
        lifecycle: &Lifecycle,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let files = Files {
            cert: config.cert.clone(),
            key: config.key.clone(),
        };
        let (bytes, key) = files.read()?;
        let current = Arc::new(Current {
            key: ArcSwap::from(key),
            read: Mutex::new(bytes),
        });
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &config.client_ca {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(path)? {
                    roots
                        .add(cert)
                        .with_context(|| format!("a CA certificate in {}", path.display()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .context("the client certificate verifier (http.tls_client_ca)")?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_cert_resolver(Arc::clone(&current) as _);
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let every = config.reload_interval;
        lifecycle
            .tasks()
            .spawn("TLS certificate reload", move |stop| async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(every) => current.refresh(&files),
                    }
                }
            });
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            handshake_timeout,
        })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// The certificate and key files' contents, as last read.
type Contents = (Vec<u8>, Vec<u8>);

/// Where the certificate and key are.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    /// Both files' bytes, and the certified key they make.
    fn read(&self) -> anyhow::Result<(Contents, Arc<CertifiedKey>)> {
        use anyhow::Context;
        let cert_pem = std::fs::read(&self.cert)
            .with_context(|| format!("read {} (http.tls_cert)", self.cert.display()))?;
        let key_pem = std::fs::read(&self.key)
            .with_context(|| format!("read {} (http.tls_key)", self.key.display()))?;
        let key = certified_key(&cert_pem, &key_pem)?;
        Ok(((cert_pem, key_pem), key))
    }
}

/// A certificate chain and key from PEM text.
fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<Arc<CertifiedKey>> {
    use anyhow::Context;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .context("the certificate file is not PEM")?;
    anyhow::ensure!(
        !chain.is_empty(),
        "the certificate file holds no certificate"
    );
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).context("the key file holds no private key")?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .context("the private key is of a kind rustls cannot sign with")?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .context("the private key does not belong to the certificate")?;
    Ok(Arc::new(certified))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use anyhow::Context;
    let pem = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM", path.display()))
}

/// The certificate served now, and the file contents it was made from.
struct Current {
    key: ArcSwap<CertifiedKey>,
    read: Mutex<Contents>,
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Current").finish_non_exhaustive()
    }
}

impl Current {
    /// Read the files again; serve what they hold now if it changed and is whole.
    fn refresh(&self, files: &Files) {
        let cert = std::fs::read(&files.cert);
        let key = std::fs::read(&files.key);
        let (Ok(cert), Ok(key)) = (cert, key) else {
            tracing::warn!("TLS certificate or key unreadable; the current one stays");
            return;
        };
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        if read.0 == cert && read.1 == key {
            return;
        }
        match certified_key(&cert, &key) {
            Ok(certified) => {
                self.key.store(certified);
                *read = (cert, key);
                tracing::info!("TLS certificate reloaded; new connections get it");
            }
            // A renewal written in two steps may be caught halfway: tried again next round.
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "TLS certificate change not usable yet"
            ),
        }
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.load_full())
    }
}

//! One client session with an upstream: its transport (a child process or Streamable HTTP), the
//! era negotiated, its peer, and how it is closed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use rmcp::model::{ClientRequest, PingRequest, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::{ClientHandler, Peer, RoleClient};

use super::child;
use super::correlate::Correlated;
use super::{Credential, TenantSigner, UpstreamConfig, UpstreamProtocol, UpstreamTransport};

/// Ids that tell sessions apart (so a stale eviction never closes a replacement).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A connected session.
pub(super) struct Session<H: ClientHandler + Clone> {
    /// Unique in this process.
    pub id: u64,
    /// Where requests go.
    pub peer: Peer<RoleClient>,
    /// What hears the session's notifications.
    pub handler: H,
    /// Calls, reads and prompts of a stateless (2026-07-28) HTTP upstream go straight over
    /// HTTP rather than through the client service.
    pub direct: Option<super::direct::Direct>,
    running: Mutex<Option<RunningService<RoleClient, H>>>,
    /// A stdio upstream's child.
    process: Mutex<Option<child::Process>>,
}

impl<H: ClientHandler + Clone> Session<H> {
    /// Start the transport and open the session (`initialize`, `server/discover`, or both in
    /// turn, as configured).
    pub async fn open(
        config: &UpstreamConfig,
        handler: H,
        http: &HttpClients,
    ) -> anyhow::Result<Self> {
        let lifecycle = lifecycle(config.protocol);
        // Dropped (the child killed) if opening fails.
        let mut process = None;
        let child_slot = &mut process;
        let mut direct = None;
        let running = match &config.transport {
            UpstreamTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let (process, stdout, stdin) =
                    child::spawn(&config.name, command, args, env, cwd.as_deref())?;
                *child_slot = Some(process);
                handler
                    .clone()
                    .serve_with_lifecycle((stdout, stdin), lifecycle)
                    .await
                    .context("initialize the session")?
            }
            UpstreamTransport::Http {
                url,
                sse: true,
                headers,
                ..
            } => {
                super::sse::open(
                    url,
                    headers,
                    http.credential.clone(),
                    http.rmcp.clone(),
                    handler.clone(),
                )
                .await?
            }
            UpstreamTransport::Http {
                url,
                headers,
                signing,
                ..
            } => {
                let signer = signing.clone().map(TenantSigner::new);
                let running = open_http(
                    url,
                    headers,
                    handler.clone(),
                    lifecycle,
                    Correlated {
                        client: http.rmcp.clone(),
                        signer: signer.clone(),
                        credential: http.credential.clone(),
                    },
                )
                .await?;
                let version = running
                    .peer()
                    .peer_info()
                    .map(|i| i.protocol_version.clone());
                if super::direct::Direct::applies(url, version.as_ref()) {
                    direct = Some(super::direct::Direct::new(
                        http.direct.clone(),
                        url,
                        headers,
                        http.credential.clone(),
                        signer,
                        &handler.get_info(),
                    )?);
                }
                running
            }
        };
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            peer: running.peer().clone(),
            handler,
            direct,
            running: Mutex::new(Some(running)),
            process: Mutex::new(process),
        })
    }

    /// Whether the session can still carry requests (its transport is open).
    pub fn is_alive(&self) -> bool {
        !self.peer.is_transport_closed()
            && self
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|r| !r.is_closed())
    }

    /// The era the session speaks.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.peer
            .peer_info()
            .map(|info| info.protocol_version.clone())
    }

    /// One `ping` round trip. Any JSON-RPC answer proves the upstream is there: a 2026-07-28
    /// server may answer `ping` with "method not found".
    pub async fn ping(&self) -> anyhow::Result<()> {
        match self
            .peer
            .send_request(ClientRequest::PingRequest(PingRequest::default()))
            .await
        {
            Ok(_) | Err(rmcp::service::ServiceError::McpError(_)) => Ok(()),
            Err(e) => Err(anyhow::Error::from(e).context("ping")),
        }
    }

    /// Close the session: a legacy HTTP session is ended with DELETE, a child's stdin is
    /// closed and the child stopped. Closing twice does nothing.
    pub async fn close(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(running) = running
            && let Err(e) = running.cancel().await
        {
            tracing::debug!(error = %e, "upstream session ended uncleanly");
        }
        let process = self
            .process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(process) = process {
            process.stop().await;
        }
    }
}

/// An HTTP upstream's clients, shared by its sessions so connections are reused across them:
/// reqwest under rmcp's client sessions, hyper-util's for the direct path; and the credential
/// they present.
#[derive(Clone)]
pub(super) struct HttpClients {
    pub rmcp: reqwest::Client,
    pub direct: super::direct::HttpClient,
    pub credential: Credential,
}

impl HttpClients {
    /// The clients of `config` (plain ones for a child process, which uses none of them).
    pub fn new(config: &UpstreamConfig) -> Self {
        let tls = match &config.transport {
            UpstreamTransport::Http { tls, .. } => tls.as_ref(),
            UpstreamTransport::Stdio { .. } => None,
        };
        let credential = Credential::of(config).unwrap_or_else(|e| {
            tracing::error!(upstream = %config.name, error = %format!("{e:#}"), "the upstream's credential cannot be used");
            Credential::None
        });
        Self {
            rmcp: super::tls::http_client(tls),
            direct: super::direct::client(tls),
            credential,
        }
    }
}

/// rmcp's lifecycle for the era configured.
pub(super) fn lifecycle(protocol: UpstreamProtocol) -> ClientLifecycleMode {
    let modern = vec![ProtocolVersion::V_2026_07_28];
    match protocol {
        UpstreamProtocol::Legacy => ClientLifecycleMode::Initialize,
        UpstreamProtocol::Modern => ClientLifecycleMode::Discover {
            preferred_versions: modern,
        },
        UpstreamProtocol::Auto => ClientLifecycleMode::Auto {
            preferred_versions: modern,
            legacy_version: None,
        },
    }
}

/// Connect to a Streamable HTTP upstream with its own headers (its credential is the
/// client's).
pub(super) async fn open_http<H: ClientHandler>(
    url: &str,
    headers: &BTreeMap<String, String>,
    handler: H,
    lifecycle: ClientLifecycleMode,
    client: Correlated,
) -> anyhow::Result<RunningService<RoleClient, H>> {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut custom = std::collections::HashMap::new();
    for (name, value) in headers {
        let name = http::HeaderName::try_from(name.as_str())
            .with_context(|| format!("header name {name:?}"))?;
        let value = http::HeaderValue::try_from(value.as_str())
            .with_context(|| format!("the value of header {name}"))?;
        custom.insert(name, value);
    }
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    let transport = StreamableHttpClientTransport::with_client(client, config);
    handler
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .with_context(|| format!("initialize the session with {url}"))
}

//! The admin listener beside the app's intake: started once the app is built, stopped after
//! the app has drained (so readiness and metrics stay readable while it drains).

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::App;
use crate::http::{ConnectionLimits, DrainSignals};

/// How long a stopping admin listener waits for its open answers.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running admin listener (or none).
pub struct AdminServer {
    drain: DrainSignals,
    server: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Serve [`App::admin_router`] on `listener`, when there is one.
    pub fn start(listener: Option<TcpListener>, app: &App) -> Self {
        let drain = DrainSignals::default();
        let Some(listener) = listener else {
            return Self {
                drain,
                server: None,
            };
        };
        let config = app.config();
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(address = %addr, "serving admin endpoints (metrics, probes, status page)");
            if !addr.ip().is_loopback() && config.admin.metrics_token.is_none() {
                tracing::warn!(
                    address = %addr,
                    "the admin listener is reachable off this host without a token: set \
                     MCPGATE_METRICS_TOKEN, or keep it on a network only operators reach"
                );
            }
        }
        let http = &config.http;
        let limits = ConnectionLimits::of(http, Duration::ZERO);
        let server = crate::http::serve(listener, app.admin_router(), limits, drain.clone(), None);
        Self {
            drain,
            server: Some(tokio::spawn(server)),
        }
    }

    /// Stop accepting, answer what is open (up to a few seconds), close.
    pub async fn stop(self) {
        let Some(server) = self.server else {
            return;
        };
        self.drain.closing.cancel();
        self.drain.stop_accepting.cancel();
        self.drain.close_connections.cancel();
        if tokio::time::timeout(STOP_GRACE, server).await.is_err() {
            tracing::warn!("the admin listener did not close in time");
        }
    }
}

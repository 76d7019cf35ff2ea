//! What each transport does at the steps of the one drain sequence ([`crate::lifecycle`]).

use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use rmcp::ServiceExt;
use rmcp::service::RunningServiceCancellationToken;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::HttpConfig;
use crate::http::{ConnectionLimits, DrainSignals};
use crate::lifecycle::{Intake, remaining};
use crate::mcp::Handler;

/// The HTTP server: its accept loop and connections, drained in the order
/// [`DrainSignals`] documents.
pub struct HttpIntake {
    server: Option<JoinHandle<()>>,
    drain: DrainSignals,
    delay: Duration,
    linger: Duration,
    failed: Option<anyhow::Error>,
}

impl HttpIntake {
    /// Start serving `router` on `listener`.
    pub fn start(
        listener: TcpListener,
        router: Router,
        http: &HttpConfig,
        tls: Option<crate::http::Tls>,
    ) -> Self {
        let drain = DrainSignals::default();
        let limits = ConnectionLimits::of(http, http.hsts_max_age);
        let server = crate::http::serve(listener, router, limits, drain.clone(), tls);
        Self {
            server: Some(tokio::spawn(server)),
            drain,
            delay: http.shutdown_delay,
            linger: http.shutdown_linger,
            failed: None,
        }
    }

    /// Resolves only if the server ends before it was asked to (it never should).
    pub async fn stopped_on_its_own(&mut self) -> anyhow::Result<()> {
        let Some(server) = self.server.as_mut() else {
            return std::future::pending().await;
        };
        let result = server.await;
        self.server = None;
        result.context("server task")
    }
}

impl Intake for HttpIntake {
    async fn stop(&mut self) {
        self.drain.closing.cancel();
        if !self.delay.is_zero() {
            tracing::info!(
                delay_s = self.delay.as_secs_f64(),
                "shutting down: not ready, still accepting"
            );
            tokio::time::sleep(self.delay).await;
        }
        self.drain.stop_accepting.cancel();
    }

    async fn close(&mut self, deadline: Instant) {
        // Connections that were idle when draining began have not seen `Connection: close`;
        // a request may be on its way on one of them. Give it time to arrive (it is answered),
        // unless every connection has closed already.
        let linger = self.linger.min(remaining(deadline));
        if let Some(server) = self.server.as_mut()
            && let Ok(result) = tokio::time::timeout(linger, &mut *server).await
        {
            self.server = None;
            self.failed = result.context("server task").err();
        }
        self.drain.close_connections.cancel();
    }

    async fn finish(&mut self, deadline: Instant) -> anyhow::Result<()> {
        if let Some(failed) = self.failed.take() {
            return Err(failed);
        }
        let Some(server) = self.server.as_mut() else {
            return Ok(());
        };
        match tokio::time::timeout(remaining(deadline), &mut *server).await {
            Ok(result) => result.context("server task")?,
            Err(_) => {
                tracing::warn!("connections still open at the shutdown deadline; closing them");
                server.abort();
            }
        }
        self.server = None;
        Ok(())
    }
}

type Waiting = JoinHandle<Result<rmcp::service::QuitReason, tokio::task::JoinError>>;

/// MCP over stdin/stdout: one client, one session.
pub struct StdioIntake {
    cancel: Option<RunningServiceCancellationToken>,
    waiting: Option<Waiting>,
}

impl StdioIntake {
    /// Start serving `handler` on stdin/stdout.
    pub async fn start(handler: Handler) -> anyhow::Result<Self> {
        let running = handler
            .serve(rmcp::transport::stdio())
            .await
            .context("start the stdio transport")?;
        Ok(Self {
            cancel: Some(running.cancellation_token()),
            waiting: Some(tokio::spawn(running.waiting())),
        })
    }

    /// Resolves when the client closes stdin (the session is over).
    pub async fn client_closed(&mut self) {
        let Some(waiting) = self.waiting.as_mut() else {
            return std::future::pending().await;
        };
        let _ = waiting.await;
        self.waiting = None;
    }
}

impl Intake for StdioIntake {
    async fn stop(&mut self) {}

    async fn close(&mut self, deadline: Instant) {
        if let Some(cancel) = self.cancel.take() {
            cancel.cancel();
        }
        if let Some(waiting) = self.waiting.as_mut()
            && tokio::time::timeout(remaining(deadline), &mut *waiting)
                .await
                .is_ok()
        {
            self.waiting = None;
        }
    }

    async fn finish(&mut self, _: Instant) -> anyhow::Result<()> {
        if let Some(waiting) = self.waiting.take() {
            waiting.abort();
        }
        Ok(())
    }
}

/// A host application's own server: it owns the listener and the connections, so there is
/// nothing for the app to stop or close.
pub struct HostIntake;

impl Intake for HostIntake {
    async fn stop(&mut self) {}

    async fn close(&mut self, _: Instant) {}

    async fn finish(&mut self, _: Instant) -> anyhow::Result<()> {
        Ok(())
    }
}

//! The HTTP server loop: accept connections and serve the router on each with hyper, under the
//! connection limits `axum::serve` does not expose:
//!
//! - a client must send a request's head within `http.header_read_timeout`, and an idle
//!   keep-alive connection is closed after the same time (hyper starts the timer whenever it
//!   waits for a head), so slow or idle clients cannot hold connections open;
//! - a request head larger than `http.max_header_bytes` is answered 431 and the connection
//!   closed (HTTP/2: the header list size is bounded the same);
//! - an HTTP/2 connection (or one that has not sent a request yet) with no open stream for
//!   `http.http2_idle_timeout` gets GOAWAY and is closed: hyper's keep-alive PINGs prove the
//!   peer is alive, not that it is using the connection, and HTTP/2 has no other idle limit;
//! - every request carries its peer address (`ConnectInfo<SocketAddr>`) for per-IP limits;
//! - the answers hyper writes itself (unparseable requests) are made whole by `bare_answers`.
//!
//! Shutdown follows [`DrainSignals`], in an order chosen so that no request a client has written
//! is left unanswered: a client may find the listener closed (it knows nothing was sent), but
//! never a connection closed under a request it already sent.
//!
//! 1. `closing`: every HTTP/1 answer carries `Connection: close`, so clients stop reusing
//!    connections and each closes after its next answer;
//! 2. `stop_accepting`: connections the kernel already completed are accepted and served
//!    (closing the listener with them queued would reset them after the client had written),
//!    then the listener closes; HTTP/2 connections get GOAWAY, which tells the client exactly
//!    which streams will still be answered;
//! 3. `close_connections`: connections still open close once their current request is
//!    answered. hyper closes an idle HTTP/1 connection at once, even if a request is on its way
//!    (it cannot know), so the app sends this only after in-flight work is done and idle
//!    connections had `http.shutdown_linger` to deliver a last request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Version, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bare_answers::{BareAnswers, Guarded};
use super::tls::Tls;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request head; also the idle keep-alive time.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Time an HTTP/2 connection may stay open without an open stream.
    pub http2_idle_timeout: Duration,
    /// `Strict-Transport-Security` max-age (zero: none), for the answers hyper makes.
    pub hsts_max_age: Duration,
}

impl ConnectionLimits {
    /// The limits `http` sets, with `hsts_max_age` for the answers hyper makes.
    pub fn of(http: &crate::config::HttpConfig, hsts_max_age: Duration) -> Self {
        Self {
            header_read_timeout: http.header_read_timeout,
            max_header_bytes: http.max_header_bytes,
            http2_idle_timeout: http.http2_idle_timeout,
            hsts_max_age,
        }
    }
}

/// The steps of a drain, each a token the app cancels in order (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct DrainSignals {
    /// HTTP/1 answers carry `Connection: close` from now on.
    pub closing: CancellationToken,
    /// Accept what is queued, close the listener, send HTTP/2 connections GOAWAY.
    pub stop_accepting: CancellationToken,
    /// Close every connection once its current request is answered.
    pub close_connections: CancellationToken,
}

/// Serve `router` on `listener` until `drain.stop_accepting`, then until every connection has
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    drain: DrainSignals,
    tls: Option<Tls>,
) {
    let builder = Arc::new(builder(limits));
    let answers = Arc::new(BareAnswers {
        max_header_bytes: limits.max_header_bytes,
        hsts: (!limits.hsts_max_age.is_zero()).then(|| {
            format!(
                "max-age={}; includeSubDomains",
                limits.hsts_max_age.as_secs()
            )
        }),
    });
    let connections = TaskTracker::new();
    let serve_one = |tcp: TcpStream, peer: SocketAddr| {
        // Small MCP responses stall ~40 ms behind Nagle's algorithm and delayed ACKs without it.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        let (builder, answers, router, drain) = (
            Arc::clone(&builder),
            Arc::clone(&answers),
            router.clone(),
            drain.clone(),
        );
        let idle = limits.http2_idle_timeout;
        match &tls {
            None => connections.spawn(serve_connection(
                builder,
                Guarded::new(tcp, peer, answers),
                Connection {
                    peer,
                    certificate: None,
                },
                router,
                drain,
                idle,
            )),
            Some(tls) => {
                let tls = tls.clone();
                connections.spawn(async move {
                    let handshake = tls.acceptor().accept(tcp);
                    match tokio::time::timeout(tls.handshake_timeout, handshake).await {
                        Ok(Ok(stream)) => {
                            // Verified against the client CA in the handshake, when one is set.
                            let certificate = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .and_then(|cert| crate::edge::ClientCertificate::from_der(cert))
                                .map(Arc::new);
                            serve_connection(
                                builder,
                                Guarded::new(stream, peer, answers),
                                Connection { peer, certificate },
                                router,
                                drain,
                                idle,
                            )
                            .await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                })
            }
        };
    };
    loop {
        tokio::select! {
            () = drain.stop_accepting.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => serve_one(tcp, peer),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    for (tcp, peer) in take_queued(listener) {
        serve_one(tcp, peer);
    }
    connections.close();
    connections.wait().await;
}

fn builder(limits: ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// The connections the kernel has completed but nobody accepted yet, then the listener closes.
/// Their clients may already have written a request; closing the listener would reset them.
fn take_queued(listener: TcpListener) -> Vec<(TcpStream, SocketAddr)> {
    let listener = match listener.into_std() {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(error = %e, "cannot take queued connections");
            return Vec::new();
        }
    };
    let mut queued = Vec::new();
    // The listener is non-blocking: this ends at the first `WouldBlock`.
    while let Ok((tcp, peer)) = listener.accept() {
        let tcp = tcp
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(tcp));
        match tcp {
            Ok(tcp) => queued.push((tcp, peer)),
            Err(e) => tracing::warn!(error = %e, %peer, "cannot serve a queued connection"),
        }
    }
    queued
}

/// What a connection tells each of its requests: the peer, and the TLS client certificate.
struct Connection {
    peer: SocketAddr,
    certificate: Option<Arc<crate::edge::ClientCertificate>>,
}

/// Serve one connection through the drain steps.
async fn serve_connection<T>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    tcp: Guarded<T>,
    connection: Connection,
    router: Router,
    drain: DrainSignals,
    idle_timeout: Duration,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let Connection { peer, certificate } = connection;
    let service = {
        let activity = Arc::clone(&activity);
        let closing = drain.closing.clone();
        tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(Arc::clone(certificate));
            }
            let version = request.version();
            let stream = activity.request(version);
            let answer = tower::Service::call(&mut router.clone(), request);
            let closing = closing.clone();
            async move {
                let mut response = answer.await?;
                if version < Version::HTTP_2 && closing.is_cancelled() {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(match stream {
                    Some(stream) => super::edge_layer::hold_while_streaming(response, stream),
                    None => response,
                })
            }
        })
    };
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service));
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = drain.stop_accepting.cancelled() => None,
        () = activity.idle_for(idle_timeout) => {
            tracing::debug!(%peer, "idle HTTP/2 connection closed");
            connection.as_mut().graceful_shutdown();
            Some(connection.as_mut().await)
        }
    };
    let result = match result {
        Some(result) => result,
        None => {
            if activity.protocol.load(Ordering::Relaxed) == H2 {
                connection.as_mut().graceful_shutdown();
            }
            tokio::select! {
                result = connection.as_mut() => result,
                () = drain.close_connections.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

const UNKNOWN: u8 = 0;
const H1: u8 = 1;
const H2: u8 = 2;

/// What a connection is doing, for the HTTP/2 idle limit: its protocol once a request shows it,
/// its open streams, and when the last one ended. HTTP/1 connections are not tracked (hyper's
/// own keep-alive timer closes them).
struct Activity {
    protocol: AtomicU8,
    open: AtomicUsize,
    since: Mutex<tokio::time::Instant>,
    changed: Notify,
}

/// One open HTTP/2 stream; dropping it (the answer is sent) may start the idle clock.
struct Stream(Arc<Activity>);

impl Drop for Stream {
    fn drop(&mut self) {
        *self.0.since.lock().expect("activity lock") = tokio::time::Instant::now();
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            protocol: AtomicU8::new(UNKNOWN),
            open: AtomicUsize::new(0),
            since: Mutex::new(tokio::time::Instant::now()),
            changed: Notify::new(),
        }
    }

    /// A request arrives: an open stream to hold until its answer is sent (HTTP/2 only).
    fn request(self: &Arc<Self>, version: Version) -> Option<Stream> {
        if version < Version::HTTP_2 {
            if self.protocol.load(Ordering::Relaxed) != H1 {
                self.protocol.store(H1, Ordering::Relaxed);
                // Woken, the idle watch sees HTTP/1 and stops for good, instead of polling
                // its timer and its wake-up on every turn of the connection (~1,000
                // instructions a request).
                self.changed.notify_one();
            }
            return None;
        }
        self.protocol.store(H2, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::AcqRel);
        Some(Stream(Arc::clone(self)))
    }

    /// Resolves once the connection has had no open stream for `limit` (never for HTTP/1).
    async fn idle_for(&self, limit: Duration) {
        loop {
            let changed = self.changed.notified();
            if self.protocol.load(Ordering::Relaxed) == H1 {
                return std::future::pending().await;
            }
            if self.open.load(Ordering::Acquire) == 0 {
                let until = *self.since.lock().expect("activity lock") + limit;
                if tokio::time::Instant::now() >= until {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

//! A JWKS endpoint on loopback that counts its fetches, for the JWKS URL key source.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::*;

/// What the endpoint answers with.
#[derive(Clone)]
pub(super) enum Reply {
    Body(String),
    Status(StatusCode),
    Slow(Duration),
}

#[derive(Clone)]
struct ServerState {
    fetches: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
}

/// The endpoint, stopped when dropped.
pub(super) struct JwksServer {
    url: String,
    state: ServerState,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub(super) async fn start(reply: Reply) -> Self {
        let state = ServerState {
            fetches: Arc::new(AtomicUsize::new(0)),
            reply: Arc::new(Mutex::new(reply)),
        };
        let app = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/jwks.json?tenant=t1"),
            state,
            task,
        }
    }

    pub(super) fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    pub(super) fn reply(&self, reply: Reply) {
        *self.state.reply.lock().expect("reply lock") = reply;
    }

    pub(super) fn verifier(&self, tune: impl FnOnce(&mut JwtSettings)) -> JwtVerifier {
        let mut settings = JwtSettings {
            jwks_url: Some(self.url.clone()),
            ..settings()
        };
        tune(&mut settings);
        JwtVerifier::new(settings).expect("url verifier")
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(state): State<ServerState>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let reply = state.reply.lock().expect("reply lock").clone();
    match reply {
        Reply::Body(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Reply::Status(status) => status.into_response(),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ([(header::CONTENT_TYPE, "application/json")], JWKS).into_response()
        }
    }
}

//! Upstreams that only speak the legacy HTTP+SSE transport (2024-11-05), `transport = "sse"`:
//! a GET opens the event stream, whose first event names the endpoint to post messages to
//! (it must be on the same origin as the stream, or the session is refused); the server's
//! messages come as `message` events. rmcp has no client for it, so here it is: two tasks
//! between the stream, the endpoint and rmcp's client service, which runs over a pair of
//! channels. Every request carries the upstream's credential (renewed as on Streamable HTTP);
//! a message the endpoint does not take is answered to its sender with an error, so no caller
//! waits for an answer that will not come.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use futures::{SinkExt as _, StreamExt as _};
use reqwest::Url;
use rmcp::model::{ClientJsonRpcMessage, ErrorCode, ErrorData, JsonRpcError, ServerJsonRpcMessage};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RunningService};
use rmcp::{ClientHandler, RoleClient};

use super::{Attempt, Credential};

/// Messages in flight between the tasks and the service before senders wait.
const QUEUE: usize = 64;

/// `request` (a `method` request to `url`) with what the credential presents, renewed while
/// the upstream refuses it.
async fn send(
    credential: &Credential,
    (method, url): (&str, &Url),
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<reqwest::Response> {
    credential
        .send(
            None,
            (method, url.as_str()),
            |presented| {
                let mut builder = request();
                if let Some(presented) = &presented {
                    for (name, value) in presented.headers() {
                        builder = builder.header(name, value);
                    }
                }
                async move {
                    let response = builder.send().await?;
                    Ok(Attempt::answered(response))
                }
            },
            |e| e.context("the upstream credential"),
        )
        .await
}

/// Open a session with the legacy SSE server at `url` (the `initialize` handshake).
pub(super) async fn open<H: ClientHandler>(
    url: &str,
    headers: &BTreeMap<String, String>,
    credential: Credential,
    http: reqwest::Client,
    handler: H,
) -> anyhow::Result<RunningService<RoleClient, H>> {
    let stream_url = Url::parse(url).with_context(|| format!("upstream url {url:?}"))?;
    let with_headers = |mut builder: reqwest::RequestBuilder| {
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
    };
    let response = send(&credential, ("GET", &stream_url), || {
        with_headers(http.get(stream_url.clone())).header(http::header::ACCEPT, "text/event-stream")
    })
    .await
    .with_context(|| format!("GET {stream_url}"))?;
    ensure!(
        response.status().is_success(),
        "GET {stream_url}: HTTP {}",
        response.status()
    );
    let mut events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
    // The first event names the endpoint.
    let endpoint = loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.next())
            .await
            .context("no endpoint event in time")?
            .context("the stream ended before naming its endpoint")?
            .context("reading the event stream")?;
        if event.event.as_deref() == Some("endpoint") {
            let data = event.data.unwrap_or_default();
            let endpoint = stream_url
                .join(data.trim())
                .with_context(|| format!("the endpoint {data:?}"))?;
            if endpoint.origin() != stream_url.origin() {
                bail!("the server named an endpoint on another origin ({endpoint}); refused");
            }
            break endpoint;
        }
    };

    let (to_server, mut outgoing) = futures::channel::mpsc::channel::<ClientJsonRpcMessage>(QUEUE);
    let (mut incoming, from_server) =
        futures::channel::mpsc::channel::<ServerJsonRpcMessage>(QUEUE);
    // The server's messages, into the service.
    let mut into_service = incoming.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            if event.event.as_deref().is_some_and(|e| e != "message") {
                continue;
            }
            let Some(data) = event.data else { continue };
            match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                Ok(message) => {
                    if into_service.send(message).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "an SSE upstream sent something that is not an MCP message")
                }
            }
        }
    });
    // The service's messages, posted to the endpoint.
    let headers = headers.clone();
    tokio::spawn(async move {
        while let Some(message) = outgoing.next().await {
            let body = match serde_json::to_vec(&message) {
                Ok(body) => body,
                Err(_) => continue,
            };
            let posted = send(&credential, ("POST", &endpoint), || {
                let mut builder = http
                    .post(endpoint.clone())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                for (name, value) in &headers {
                    builder = builder.header(name, value);
                }
                builder
            })
            .await;
            let failure = match posted {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("the upstream answered HTTP {}", response.status())),
                Err(e) => Some(format!("{e:#}")),
            };
            if let (Some(why), ClientJsonRpcMessage::Request(request)) = (failure, &message) {
                let error = ServerJsonRpcMessage::Error(JsonRpcError {
                    jsonrpc: Default::default(),
                    id: Some(request.id.clone()),
                    error: ErrorData::new(
                        ErrorCode::INTERNAL_ERROR,
                        format!("the message could not be delivered: {why}"),
                        None,
                    ),
                });
                if incoming.send(error).await.is_err() {
                    break;
                }
            }
        }
    });
    handler
        .serve_with_lifecycle((to_server, from_server), ClientLifecycleMode::Initialize)
        .await
        .with_context(|| format!("initialize the session with {url}"))
}

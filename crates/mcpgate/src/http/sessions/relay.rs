//! `Last-Event-ID` across replicas: resuming a shared session's stream on a replica that does
//! not hold it.
//!
//! A stream lives on the replica that serves its request (the standalone stream, on each
//! replica that holds the session); its event ids name that replica (see `events`). When a
//! client resumes on replica B with the id of an event of replica A's stream, B asks A over
//! Redis pub/sub (channel `mcpgate:relay:<A>`) to relay the stream from that event. A attaches
//! to the stream as its reader — exactly as a resume on A would — and appends each event to a
//! short-lived Redis stream that B reads, with a heartbeat while the request runs and an end
//! mark when it is answered. B writes the events out with their original ids, so a later resume
//! works again, from any replica. The standalone stream is relayed once (what A cached after
//! the id); the client then reads B's own.
//!
//! When A is gone — nobody listens on its channel (a killed process's subscription ends with
//! its connection), or its relay falls silent for [`SILENT_MAX`] — B answers the request with
//! a JSON-RPC error saying so (the request's id is in the event id), so the client's call fails
//! at once rather than waiting for an answer that cannot come.
//!
//! The other way, what the client sends that is not a request — its answer to a request of the
//! server (an elicitation, a sampling), a cancellation — may concern a request another replica
//! serves: it is published on `mcpgate:session-bus`, and every replica holding the session
//! passes it to its copy (a copy without that request ignores it). A `DELETE` is published
//! there too, and every replica closes its copy at once.
//!
//! Nothing is written to Redis on the common path: only a resume on another replica costs a
//! publish and a Redis stream that expires after [`RELAY_TTL`], and each client answer or
//! cancellation one publish.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use redis::AsyncConnectionConfig;
use redis::streams::StreamReadReply;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ErrorData, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::events::{BUFFER, Origin, parse_last};
use super::{Session, Sessions};
use crate::redis_link::RedisLink;

/// The relaying replica writes a heartbeat this often while the request runs.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// A relay silent this long (no event, no heartbeat) is taken for gone.
const SILENT_MAX: Duration = Duration::from_secs(7);

/// A relay's Redis stream expires this long after its last entry.
const RELAY_TTL: Duration = Duration::from_secs(60);

/// How long one read waits for entries before looking again.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// Events kept in a relay's Redis stream (a reader far behind loses the oldest).
const RELAY_MAX: usize = 1024;

/// A client message of a shared session, for every replica holding it; none when the session
/// was ended (`DELETE`), so every replica lets its copy go at once.
#[derive(Debug, Serialize, Deserialize)]
struct Posted {
    from: String,
    session: String,
    message: Option<ClientJsonRpcMessage>,
}

/// Whether a client message may concern a request another replica serves: an answer to a
/// request of the server, or a notification other than `initialized` (a cancellation, a
/// change of roots).
pub(super) fn for_every_replica(message: &ClientJsonRpcMessage) -> bool {
    match message {
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => true,
        ClientJsonRpcMessage::Notification(n) => !matches!(
            n.notification,
            ClientNotification::InitializedNotification(_)
        ),
        ClientJsonRpcMessage::Request(_) => false,
    }
}

/// What the resuming replica asks of the one holding the stream.
#[derive(Debug, Serialize, Deserialize)]
struct Ask {
    session: String,
    last: String,
    key: String,
}

/// One relayed event.
#[derive(Debug, Serialize, Deserialize)]
struct Relayed {
    id: Option<String>,
    message: Option<ServerJsonRpcMessage>,
    retry_ms: Option<u64>,
}

impl From<&ServerSseMessage> for Relayed {
    fn from(event: &ServerSseMessage) -> Self {
        Self {
            id: event.event_id.clone(),
            message: event.message.as_deref().cloned(),
            retry_ms: event
                .retry
                .map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

impl From<Relayed> for ServerSseMessage {
    fn from(relayed: Relayed) -> Self {
        let mut event = match relayed.message {
            Some(message) => ServerSseMessage::from_message(message),
            None => ServerSseMessage::retry(Duration::ZERO),
        };
        event.event_id = relayed.id;
        event.retry = relayed.retry_ms.map(Duration::from_millis);
        event
    }
}

/// This replica's end of the relay: its name, and Redis.
pub struct Relay {
    link: RedisLink,
    replica: Arc<str>,
    /// Before every key and channel name (`MCPGATE_SESSION_PREFIX`).
    prefix: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// The relay of this replica, on `link`, under a fresh random name, its keys and channels
    /// after `prefix`.
    pub fn new(link: RedisLink, prefix: &str) -> Self {
        let replica = uuid::Uuid::new_v4().simple().to_string()[..12].into();
        Self {
            link,
            replica,
            prefix: prefix.to_owned(),
        }
    }

    /// The channel `replica` takes relay requests on.
    fn channel(&self, replica: &str) -> String {
        format!("{}relay:{replica}", self.prefix)
    }

    /// The channel every replica listens on for client messages of shared sessions.
    fn bus(&self) -> String {
        format!("{}session-bus", self.prefix)
    }

    /// Publish `message` of session `session` for the other replicas holding it (a failure is
    /// only logged: the replica that received it still gets it).
    pub async fn broadcast(&self, session: &str, message: Option<&ClientJsonRpcMessage>) {
        let posted = Posted {
            from: self.replica.to_string(),
            session: session.to_owned(),
            message: message.cloned(),
        };
        let Ok(text) = serde_json::to_string(&posted) else {
            return;
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.bus()).arg(text);
        if let Err(error) = self.link.call::<i64>(&publish).await {
            tracing::warn!(%error, "a client message could not be passed to the other replicas");
        }
    }

    /// This replica's name in event ids.
    pub fn replica(&self) -> &Arc<str> {
        &self.replica
    }

    /// The events of the stream `last` (an event id of `origin`'s) came from, after it, as
    /// `origin` relays them (see the module docs).
    pub fn follow(
        self: &Arc<Self>,
        session: &str,
        last: &str,
        origin: Origin,
    ) -> mpsc::Receiver<ServerSseMessage> {
        let (tx, rx) = mpsc::channel(BUFFER);
        let ask = Ask {
            session: session.to_owned(),
            last: last.to_owned(),
            key: format!(
                "{}:{}",
                self.channel(&origin.replica),
                uuid::Uuid::new_v4().simple()
            ),
        };
        let relay = Arc::clone(self);
        tokio::spawn(async move {
            if relay.read(&ask, &origin, &tx).await == Heard::Gone
                && let Some(request) = origin.request
            {
                tracing::info!(
                    replica = %origin.replica,
                    "a resumed request's replica is gone; its call is answered with an error"
                );
                let _ = tx.send(gone(request)).await;
            }
        });
        rx
    }

    /// Ask `origin` for the stream and pass on what it relays, until the end mark, the reader
    /// leaving, or silence.
    async fn read(&self, ask: &Ask, origin: &Origin, tx: &mpsc::Sender<ServerSseMessage>) -> Heard {
        let Ok(text) = serde_json::to_string(ask) else {
            return Heard::Ended;
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.channel(&origin.replica)).arg(text);
        match self.link.call::<i64>(&publish).await {
            Ok(0) => return Heard::Gone,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot ask another replica for a stream; it ends here");
                return Heard::Ended;
            }
        }
        // A connection of its own: a blocking read would hold up every call queued behind it
        // on the shared one.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.link.timeout))
            .set_response_timeout(Some(READ_BLOCK + self.link.timeout));
        let mut connection = match self
            .link
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(connection) => connection,
            Err(e) => {
                let error = self.link.scrub(e.to_string());
                tracing::warn!(%error, "cannot read another replica's relay; the stream ends here");
                return Heard::Ended;
            }
        };
        let mut from = "0-0".to_owned();
        let mut heard = Instant::now();
        loop {
            if tx.is_closed() {
                return Heard::Ended;
            }
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT")
                .arg(64)
                .arg("BLOCK")
                .arg(u64::try_from(READ_BLOCK.as_millis()).unwrap_or(1000))
                .arg("STREAMS")
                .arg(&ask.key)
                .arg(&from);
            let reply: Option<StreamReadReply> = match read.query_async(&mut connection).await {
                Ok(reply) => reply,
                Err(e) => {
                    let error = self.link.scrub(e.to_string());
                    tracing::warn!(%error, "reading another replica's relay failed; the stream ends here");
                    return Heard::Ended;
                }
            };
            let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
            let mut any = false;
            for entry in entries {
                any = true;
                from.clone_from(&entry.id);
                if entry.map.contains_key("end") {
                    return Heard::Ended;
                }
                let Some(data) = entry.get::<String>("d") else {
                    continue; // a heartbeat
                };
                let Ok(relayed) = serde_json::from_str::<Relayed>(&data) else {
                    continue;
                };
                if tx.send(relayed.into()).await.is_err() {
                    return Heard::Ended;
                }
            }
            if any {
                heard = Instant::now();
            } else if heard.elapsed() >= SILENT_MAX {
                return Heard::Gone;
            }
        }
    }

    /// Append `fields` to the relay stream `key` and restart its expiry.
    async fn append(&self, key: &str, fields: &[(&str, &str)]) -> Result<(), String> {
        let mut pipe = redis::pipe();
        let add = pipe
            .cmd("XADD")
            .arg(key)
            .arg("MAXLEN")
            .arg("~")
            .arg(RELAY_MAX)
            .arg("*");
        for (field, value) in fields {
            add.arg(*field).arg(*value);
        }
        pipe.ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(u64::try_from(RELAY_TTL.as_millis()).unwrap_or(u64::MAX))
            .ignore();
        self.link.pipe::<()>(&pipe).await
    }

    /// Relay what `ask` wants of `session` (held here, or `None`) into its Redis stream.
    async fn relay(&self, session: Option<Arc<Session>>, ask: Ask, stop: CancellationToken) {
        let key = ask.key.as_str();
        let local = parse_last(&ask.last).ok().map(|(id, _)| id);
        let (Some(session), Some(last)) = (session, local) else {
            let _ = self.append(key, &[("end", "unknown")]).await;
            return;
        };
        let send = |event: &ServerSseMessage| {
            let data = serde_json::to_string(&Relayed::from(event)).unwrap_or_default();
            async move { self.append(key, &[("d", &data)]).await }
        };
        if last.stream.is_none() {
            for event in session.replay_standalone(last.index) {
                if send(&event).await.is_err() {
                    return;
                }
            }
            let _ = self.append(key, &[("end", "done")]).await;
            return;
        }
        let Ok(mut events) = session.resume(last) else {
            let _ = self.append(key, &[("end", "unknown")]).await;
            return;
        };
        loop {
            let written = tokio::select! {
                event = events.recv() => match event {
                    Some(event) => send(&event).await,
                    None => break,
                },
                () = tokio::time::sleep(HEARTBEAT) => self.append(key, &[("h", "")]).await,
                // Shutting down with the request unanswered: the reader's silence tells.
                () = stop.cancelled() => return,
            };
            if let Err(error) = written {
                tracing::warn!(%error, "relaying a stream to another replica failed");
                return;
            }
        }
        let _ = self.append(key, &[("end", "done")]).await;
    }
}

/// How reading a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// The end mark, the reader left, or the relay could not be read.
    Ended,
    /// Nobody holds the stream any more.
    Gone,
}

/// The answer to `request` when the replica serving it is gone.
fn gone(request: RequestId) -> ServerSseMessage {
    ServerSseMessage::from_message(ServerJsonRpcMessage::error(
        ErrorData::internal_error(
            "the replica serving this request stopped before it answered; whether the request \
             took effect is unknown",
            None,
        ),
        Some(request),
    ))
}

/// Until `stop`: listen on this replica's channel and relay each stream asked for, and on the
/// bus and pass each client message to the session's copy here.
pub(super) async fn serve(sessions: Weak<Sessions>, relay: Arc<Relay>, stop: CancellationToken) {
    let (name, bus) = (relay.channel(&relay.replica), relay.bus());
    loop {
        let subscribe = async {
            let mut pubsub = relay.link.client.get_async_pubsub().await?;
            pubsub.subscribe(&[name.as_str(), bus.as_str()]).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::select! {
            subscribed = subscribe => subscribed,
            () = stop.cancelled() => return,
        };
        match subscribed {
            Err(e) => {
                let error = relay.link.scrub(e.to_string());
                tracing::warn!(%error, "cannot listen for relay requests; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = stop.cancelled() => return,
                }
            }
            Ok(pubsub) => {
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        () = stop.cancelled() => return,
                    };
                    // The connection ended: subscribe again.
                    let Some(message) = message else { break };
                    let Some(sessions) = sessions.upgrade() else {
                        return;
                    };
                    let payload = message.get_payload_bytes();
                    if message.get_channel_name() == bus {
                        if let Ok(posted) = serde_json::from_slice::<Posted>(payload)
                            && *posted.from != *relay.replica
                        {
                            match posted.message {
                                Some(message) => {
                                    if let Some(session) = sessions.get(&posted.session) {
                                        tokio::spawn(async move {
                                            let _ = session.accept(message).await;
                                        });
                                    }
                                }
                                None => sessions.close(&posted.session),
                            }
                        }
                        continue;
                    }
                    let Ok(ask) = serde_json::from_slice::<Ask>(payload) else {
                        continue;
                    };
                    let session = sessions.get(&ask.session);
                    let (relay, stop) = (Arc::clone(&relay), stop.clone());
                    tokio::spawn(async move { relay.relay(session, ask, stop).await });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a replica relays arrives as it would have been sent there: the message survives
    /// the typed round trip (rmcp's message types are untagged unions, so a lossy variant
    /// would drop fields).
    #[test]
    fn relayed_events_arrive_as_they_were_sent() {
        let messages = [
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "result": {
                "content": [{"type": "text", "text": "{\"a\":1}"}],
                "structuredContent": {"a": 1}, "isError": false,
                "_meta": {"io.example/x": "y"}}}),
            serde_json::json!({"jsonrpc": "2.0", "id": "s-1", "result": {
                "tools": [{"name": "t", "inputSchema": {"type": "object"}}],
                "nextCursor": "c2"}}),
            serde_json::json!({"jsonrpc": "2.0", "id": 3, "error": {
                "code": -32602, "message": "Unknown tool: x", "data": {"tool": "x"}}}),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": 7, "progress": 1.0, "total": 3.0,
                           "message": "one of three"}}),
            serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "elicitation/create",
                "params": {"message": "who?", "requestedSchema": {"type": "object",
                    "properties": {"name": {"type": "string"}}, "required": ["name"]}}}),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "info", "logger": "l", "data": {"k": [1, 2]}}}),
            serde_json::json!({"jsonrpc": "2.0", "id": 4, "result": {}}),
        ];
        for sent in messages {
            let message: ServerJsonRpcMessage =
                serde_json::from_value(sent).expect("a server message");
            // What the holding replica would have written out itself.
            let sent = serde_json::to_value(&message).expect("JSON");
            let mut event = ServerSseMessage::from_message(message);
            event.event_id = Some("1/0~r~n2".to_owned());
            let text = serde_json::to_string(&Relayed::from(&event)).expect("encoded");
            let relayed: ServerSseMessage = serde_json::from_str::<Relayed>(&text)
                .expect("decoded")
                .into();
            assert_eq!(relayed.event_id.as_deref(), Some("1/0~r~n2"));
            let arrived =
                serde_json::to_value(relayed.message.as_deref().expect("a message")).expect("JSON");
            assert_eq!(arrived, sent);
        }
        // A priming event (no message) keeps its retry.
        let priming = ServerSseMessage::retry(Duration::from_millis(3000));
        let text = serde_json::to_string(&Relayed::from(&priming)).expect("encoded");
        let back: ServerSseMessage = serde_json::from_str::<Relayed>(&text)
            .expect("decoded")
            .into();
        assert!(back.message.is_none());
        assert_eq!(back.retry, Some(Duration::from_millis(3000)));
    }
}

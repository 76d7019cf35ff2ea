//! One SSE stream of a legacy session: event ids a client can resume from, a short replay
//! cache, and the sender of whoever reads the stream now.
//!
//! Event ids are `index/stream` for the stream of one POST and `index` for the standalone (GET)
//! stream, so a `Last-Event-ID` names the stream it came from. A session shared by replicas
//! adds `~replica` (which replica holds the stream) and, on a POST stream, `~request` (the
//! JSON-RPC id of its request, `n<number>` or `s<base64url>`), so any replica can find the
//! stream, or fail its request cleanly when that replica is gone (see `relay`). The cache keeps the last
//! [`REPLAY`] events; a reader that falls [`BUFFER`] events behind is cut off (its stream ends,
//! the events stay cached) instead of holding the session up.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{NumberOrString, RequestId};
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use tokio::sync::mpsc;

/// Events kept per stream for a client that resumes with `Last-Event-ID`.
const REPLAY: usize = 32;

/// Events a reader may leave unread before its stream is cut off (at least [`REPLAY`], so a
/// resume's replay always fits).
pub(super) const BUFFER: usize = 64;

/// Which of a session's streams: one POST's (numbered in the session) or the standalone one.
pub(super) type StreamNo = u64;

/// An event's place: its stream (`None`: the standalone stream) and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EventId {
    pub stream: Option<StreamNo>,
    pub index: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stream {
            Some(stream) => write!(f, "{}/{stream}", self.index),
            None => write!(f, "{}", self.index),
        }
    }
}

/// A `Last-Event-ID` that no stream of ours could have sent.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("not an event id of this server")]
pub struct BadEventId;

impl FromStr for EventId {
    type Err = BadEventId;

    fn from_str(s: &str) -> Result<Self, BadEventId> {
        let number = |s: &str| {
            // Digits only: `u64::from_str` would also take a leading `+`.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadEventId);
            }
            s.parse::<u64>().map_err(|_| BadEventId)
        };
        Ok(match s.split_once('/') {
            Some((index, stream)) => Self {
                stream: Some(number(stream)?),
                index: number(index)?,
            },
            None => Self {
                stream: None,
                index: number(s)?,
            },
        })
    }
}

/// The longest request id written into event ids (encoded); longer ones are left out.
const REQUEST_MAX: usize = 64;

/// Where a shared session's stream lives: the `~replica[~request]` of its event ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    /// The replica holding the stream.
    pub replica: String,
    /// The request of a POST stream, when its id was short enough to be written.
    pub request: Option<RequestId>,
}

impl Origin {
    /// The suffix of the events of a stream held by `replica`, for `request` (a POST's).
    /// Made once per POST, so it is written by hand rather than through `format!`.
    pub fn suffix(replica: &str, request: Option<&RequestId>) -> Arc<str> {
        let mut suffix = String::with_capacity(replica.len() + 2 + REQUEST_MAX);
        suffix.push('~');
        suffix.push_str(replica);
        match request {
            Some(NumberOrString::Number(n)) => {
                suffix.push_str("~n");
                suffix.push_str(itoa::Buffer::new().format(*n));
            }
            Some(NumberOrString::String(s)) if s.len().div_ceil(3) * 4 < REQUEST_MAX => {
                suffix.push_str("~s");
                URL_SAFE_NO_PAD.encode_string(s.as_bytes(), &mut suffix);
            }
            _ => {}
        }
        suffix.into()
    }

    fn parse(text: &str) -> Result<Self, BadEventId> {
        let (replica, request) = match text.split_once('~') {
            Some((replica, request)) => (replica, Some(request)),
            None => (text, None),
        };
        if replica.is_empty()
            || replica.len() > 32
            || !replica.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(BadEventId);
        }
        let request = match request {
            None => None,
            Some(r) if r.len() > REQUEST_MAX => return Err(BadEventId),
            Some(r) => Some(match r.split_at_checked(1) {
                Some(("n", n)) => NumberOrString::Number(n.parse().map_err(|_| BadEventId)?),
                Some(("s", s)) => {
                    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| BadEventId)?;
                    let text = String::from_utf8(bytes).map_err(|_| BadEventId)?;
                    NumberOrString::String(text.into())
                }
                _ => return Err(BadEventId),
            }),
        };
        Ok(Self {
            replica: replica.to_owned(),
            request,
        })
    }
}

/// A `Last-Event-ID`: the event's place in its stream, and where a shared session's stream
/// lives (`None`: here, as for every session that is not shared).
pub(super) fn parse_last(text: &str) -> Result<(EventId, Option<Origin>), BadEventId> {
    match text.split_once('~') {
        Some((local, origin)) => Ok((local.parse()?, Some(Origin::parse(origin)?))),
        None => Ok((text.parse()?, None)),
    }
}

/// One stream's events and its current reader.
#[derive(Debug)]
pub(super) struct EventLog {
    stream: Option<StreamNo>,
    /// `~replica[~request]` after each id, for a shared session's stream.
    suffix: Option<Arc<str>>,
    next_index: u64,
    cache: VecDeque<(u64, ServerSseMessage)>,
    reader: Option<mpsc::Sender<ServerSseMessage>>,
}

impl EventLog {
    /// An empty log for `stream`, whose first event gets index `first_index`.
    #[cfg(test)]
    pub fn new(stream: Option<StreamNo>, first_index: u64) -> Self {
        Self::with_suffix(stream, first_index, None)
    }

    /// An empty log whose event ids end with `suffix` (a shared session's stream).
    pub fn with_suffix(
        stream: Option<StreamNo>,
        first_index: u64,
        suffix: Option<Arc<str>>,
    ) -> Self {
        Self {
            stream,
            suffix,
            next_index: first_index,
            cache: VecDeque::new(),
            reader: None,
        }
    }

    /// Give `event` the next id, keep it for replay, and pass it to the reader if there is one.
    pub fn push(&mut self, mut event: ServerSseMessage) {
        let index = self.next_index;
        self.next_index += 1;
        event.event_id = Some(self.event_id(index));
        if self.cache.len() == REPLAY {
            self.cache.pop_front();
        }
        self.cache.push_back((index, event.clone()));
        if let Some(reader) = &self.reader
            && let Err(mpsc::error::TrySendError::Full(_)) = reader.try_send(event)
        {
            tracing::warn!(
                stream = ?self.stream,
                "an SSE reader fell {BUFFER} events behind; its stream is ended (the client may \
                 resume with Last-Event-ID)"
            );
            self.reader = None;
        }
    }

    /// A new reader of this stream, which first receives the cached events after `after` (all
    /// of them for `None`). It replaces the previous reader.
    pub fn attach(&mut self, after: Option<u64>) -> mpsc::Receiver<ServerSseMessage> {
        let (tx, rx) = mpsc::channel(BUFFER);
        for (index, event) in &self.cache {
            if after.is_none_or(|after| *index > after) {
                // Cannot fail: the channel is new and holds more than the cache.
                let _ = tx.try_send(event.clone());
            }
        }
        self.reader = Some(tx);
        rx
    }

    /// The id of event `index` (`index[/stream][suffix]`), written by hand: every event of
    /// every session gets one.
    fn event_id(&self, index: u64) -> String {
        let suffix = self.suffix.as_deref().unwrap_or("");
        let mut id = String::with_capacity(44 + suffix.len());
        let mut digits = itoa::Buffer::new();
        id.push_str(digits.format(index));
        if let Some(stream) = self.stream {
            id.push('/');
            id.push_str(digits.format(stream));
        }
        id.push_str(suffix);
        id
    }

    /// The cached events after `after`, for a replica that relays them.
    pub fn cached_after(&self, after: u64) -> Vec<ServerSseMessage> {
        self.cache
            .iter()
            .filter(|(index, _)| *index > after)
            .map(|(_, event)| event.clone())
            .collect()
    }

    /// End the current reader's stream (the events stay cached).
    pub fn detach(&mut self) {
        self.reader = None;
    }

    /// Whether somebody is reading this stream now.
    pub fn is_read(&self) -> bool {
        self.reader.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(rx: &mut mpsc::Receiver<ServerSseMessage>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(event) = rx.try_recv() {
            out.push(event.event_id.unwrap_or_default());
        }
        out
    }

    #[test]
    fn event_ids_name_their_stream_and_parse_back() {
        for id in [
            EventId {
                stream: Some(7),
                index: 3,
            },
            EventId {
                stream: None,
                index: 12,
            },
        ] {
            assert_eq!(id.to_string().parse::<EventId>().ok(), Some(id));
        }
        for bad in [
            "",
            "/",
            "1/",
            "/1",
            "+1",
            "1/+2",
            "a",
            "1/2/3",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shared_event_ids_name_their_replica_and_request_and_parse_back() {
        for request in [
            None,
            Some(NumberOrString::Number(42)),
            Some(NumberOrString::Number(-7)),
            Some(NumberOrString::String("call~1/ä".into())),
        ] {
            let suffix = Origin::suffix("a1b2c3", request.as_ref());
            let text = format!("3/9{suffix}");
            let (id, origin) = parse_last(&text).expect(&text);
            assert_eq!(
                id,
                EventId {
                    stream: Some(9),
                    index: 3
                }
            );
            let origin = origin.expect("an origin");
            assert_eq!(origin.replica, "a1b2c3");
            assert_eq!(origin.request, request, "{text}");
        }
        // A request id too long to carry is left out, not cut.
        let long = NumberOrString::String("x".repeat(100).into());
        assert_eq!(&*Origin::suffix("r1", Some(&long)), "~r1");
        assert_eq!(
            parse_last("5").expect("local"),
            (
                EventId {
                    stream: None,
                    index: 5
                },
                None
            )
        );
        for bad in [
            "1~",
            "1~~n1",
            "1~r-1",
            "1~r1~",
            "1~r1~x1",
            "1~r1~nabc",
            "1~r1~s%%",
            "1/2~r1~n1~n2",
            "x~r1",
        ] {
            assert!(parse_last(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_new_reader_gets_what_it_missed_and_the_cache_is_bounded() {
        let mut log = EventLog::new(Some(4), 0);
        for _ in 0..REPLAY + 5 {
            log.push(ServerSseMessage::retry(std::time::Duration::from_secs(1)));
        }
        let mut all = log.attach(None);
        let replayed = ids(&mut all);
        assert_eq!(replayed.len(), REPLAY);
        assert_eq!(replayed[0], "5/4");
        let mut tail = log.attach(Some(34));
        assert_eq!(ids(&mut tail), ["35/4", "36/4"]);
        // The old reader was replaced: its stream has ended.
        assert!(all.is_closed());
    }

    #[test]
    fn a_reader_that_falls_behind_is_cut_off() {
        let mut log = EventLog::new(None, 1);
        let rx = log.attach(None);
        for _ in 0..=BUFFER {
            log.push(ServerSseMessage::retry(std::time::Duration::from_secs(1)));
        }
        assert!(!log.is_read());
        drop(rx);
    }
}

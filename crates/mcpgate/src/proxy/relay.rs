//! An upstream answer's body on its way to the client, frame by frame.
//!
//! A frame is read from the upstream only when the client's connection asks for the next one
//! (hyper polls a body when it can write), so a slow client slows the upstream down instead of
//! filling memory. Three things are added to a plain pass-through:
//!
//! - an event stream that has been idle for the keep-alive interval gets a comment (`:\n\n`),
//!   written only between events, so proxies and clients do not time it out;
//! - the stream ends when `end` is cancelled (the drain);
//! - with a [`Rewrite`], JSON-RPC messages are read and may be changed on their way (the
//!   per-caller `tools/list` filter): an event stream is cut into whole events, each event's
//!   data parsed and, when changed, written again with its other fields as they were; a JSON
//!   answer is read whole (up to [`MAX_MESSAGE`]) and written again. Events that are not
//!   JSON pass untouched.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The largest message a rewrite reads (a JSON answer, or one event).
const MAX_MESSAGE: usize = 16 << 20;

/// The comment that keeps an idle event stream alive.
const KEEP_ALIVE: &[u8] = b":\n\n";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A change to JSON-RPC messages on their way to the client.
pub trait Rewrite: Send + 'static {
    /// Change `message` in place; `true` when it changed.
    fn rewrite(&mut self, message: &mut Value) -> bool;
}

/// The relayed body (see the module documentation).
pub struct Relay {
    inner: Incoming,
    /// The answer is an event stream.
    events: bool,
    keep_alive: Option<(Duration, Pin<Box<Sleep>>)>,
    /// The last bytes handed on, to tell whether an event just ended.
    tail: [u8; 2],
    end: Pin<Box<WaitForCancellationFutureOwned>>,
    rewrite: Option<Rewriting>,
    done: bool,
}

struct Rewriting {
    rewrite: Box<dyn Rewrite>,
    buffer: BytesMut,
}

impl Relay {
    /// Relay `inner`; `events` when it is an event stream (kept alive every `keep_alive`).
    pub fn new(
        inner: Incoming,
        events: bool,
        keep_alive: Option<Duration>,
        end: CancellationToken,
        rewrite: Option<Box<dyn Rewrite>>,
    ) -> Self {
        Self {
            inner,
            events,
            keep_alive: keep_alive.map(|every| (every, Box::pin(tokio::time::sleep(every)))),
            tail: *b"\n\n",
            end: Box::pin(end.cancelled_owned()),
            rewrite: rewrite.map(|rewrite| Rewriting {
                rewrite,
                buffer: BytesMut::new(),
            }),
            done: false,
        }
    }

    /// Data is about to be handed on: remember how it ends, restart the keep-alive clock.
    fn sent(&mut self, data: &[u8]) {
        match data {
            [] => {}
            [only] => self.tail = [self.tail[1], *only],
            [.., a, b] => self.tail = [*a, *b],
        }
        if let Some((every, sleep)) = &mut self.keep_alive {
            sleep.as_mut().reset(Instant::now() + *every);
        }
    }

    /// Whether the bytes handed on so far end an event (or nothing was sent yet).
    fn between_events(&self) -> bool {
        &self.tail == b"\n\n"
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.end.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: MCP has none to relay
                    };
                    let data = match &mut this.rewrite {
                        None => data,
                        Some(rewriting) => {
                            rewriting.buffer.extend_from_slice(&data);
                            if rewriting.buffer.len() > MAX_MESSAGE {
                                this.done = true;
                                return Poll::Ready(Some(Err(
                                    "an upstream message is larger than the proxy reads".into(),
                                )));
                            }
                            if !this.events {
                                continue; // a JSON answer is rewritten once it is whole
                            }
                            let out = rewriting.complete_events();
                            if out.is_empty() {
                                continue;
                            }
                            out
                        }
                    };
                    this.sent(&data);
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    tracing::debug!(error = %e, "the upstream's answer broke off");
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let rest = match &mut this.rewrite {
                        Some(rewriting) if !rewriting.buffer.is_empty() => {
                            if this.events {
                                rewriting.buffer.split().freeze()
                            } else {
                                rewriting.whole_answer()
                            }
                        }
                        _ => return Poll::Ready(None),
                    };
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                Poll::Pending => {
                    let quiet = this.events && this.between_events();
                    if let Some((every, sleep)) = &mut this.keep_alive {
                        ready!(sleep.as_mut().poll(cx));
                        sleep.as_mut().reset(Instant::now() + *every);
                        if quiet {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                                KEEP_ALIVE,
                            )))));
                        }
                        // Mid-event: nothing can be inserted; poll the timer again.
                        let _ = sleep.as_mut().poll(cx);
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        // A relayed body keeps the upstream's length (hyper then sends it as
        // `Content-Length`); a rewritten one is sent chunked.
        match (&self.rewrite, self.events) {
            (None, false) => self.inner.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

impl Rewriting {
    /// The whole events in the buffer, each rewritten where its message changed.
    fn complete_events(&mut self) -> Bytes {
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.buffer) {
            let event = self.buffer.split_to(end);
            match rewrite_event(&event, self.rewrite.as_mut()) {
                Some(changed) => out.extend_from_slice(&changed),
                None => out.extend_from_slice(&event),
            }
        }
        out.freeze()
    }

    /// A whole JSON answer, rewritten if its message changed.
    fn whole_answer(&mut self) -> Bytes {
        let body = self.buffer.split().freeze();
        let Ok(mut message) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        if self.rewrite.rewrite(&mut message) {
            serde_json::to_vec(&message).map_or(body, Bytes::from)
        } else {
            body
        }
    }
}

/// Where the first whole event in `buffer` ends (after its blank line), if one is whole.
fn event_end(buffer: &[u8]) -> Option<usize> {
    let mut previous = None;
    for (i, &b) in buffer.iter().enumerate() {
        if b == b'\n' {
            if let Some(p) = previous
                && (i == p + 1 || (i == p + 2 && buffer[p + 1] == b'\r'))
            {
                return Some(i + 1);
            }
            previous = Some(i);
        }
    }
    None
}

/// One event with its JSON data rewritten, or `None` when it stays as it was.
fn rewrite_event(event: &[u8], rewrite: &mut dyn Rewrite) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data = String::new();
    let mut others = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        } else if !line.is_empty() {
            others.push(line);
        }
    }
    let mut message: Value = serde_json::from_str(&data).ok()?;
    if !rewrite.rewrite(&mut message) {
        return None;
    }
    let mut out = Vec::with_capacity(event.len());
    for line in others {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut out, &message).ok()?;
    out.extend_from_slice(b"\n\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct DropSecret;

    impl Rewrite for DropSecret {
        fn rewrite(&mut self, message: &mut Value) -> bool {
            message
                .as_object_mut()
                .and_then(|m| m.remove("secret"))
                .is_some()
        }
    }

    #[test]
    fn events_end_at_a_blank_line_in_either_line_ending() {
        assert_eq!(event_end(b"data: 1\n\ndata: 2"), Some(9));
        assert_eq!(event_end(b"data: 1\r\n\r\ndata: 2"), Some(11));
        assert_eq!(event_end(b"data: 1\ndata: 2\n"), None);
    }

    #[test]
    fn a_changed_event_keeps_its_other_fields_and_an_unchanged_one_is_untouched() {
        let changed = rewrite_event(
            b"id: 7\nevent: message\ndata: {\"secret\":1,\"a\":2}\n\n",
            &mut DropSecret,
        )
        .expect("changed");
        assert_eq!(
            String::from_utf8(changed).expect("utf-8"),
            "id: 7\nevent: message\ndata: {\"a\":2}\n\n"
        );
        assert!(rewrite_event(b"id: 8\ndata: {\"a\":2}\n\n", &mut DropSecret).is_none());
        assert!(rewrite_event(b": comment\n\n", &mut DropSecret).is_none());
        assert!(rewrite_event(b"data: not json\n\n", &mut DropSecret).is_none());
    }

    #[test]
    fn events_are_rewritten_whole_across_frames() {
        let mut rewriting = Rewriting {
            rewrite: Box::new(DropSecret),
            buffer: BytesMut::new(),
        };
        rewriting.buffer.extend_from_slice(b"data: {\"secret\":1,");
        assert!(rewriting.complete_events().is_empty());
        rewriting
            .buffer
            .extend_from_slice(b"\"b\":3}\n\ndata: {\"c\"");
        assert_eq!(&rewriting.complete_events()[..], b"data: {\"b\":3}\n\n");
        assert_eq!(&rewriting.buffer[..], b"data: {\"c\"");
    }
}

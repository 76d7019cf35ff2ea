//! Incremental `text/event-stream` parser.
//!
//! Streamable HTTP servers may answer a POST with a server-sent event stream instead of a
//! JSON body. The bytes arrive in arbitrary chunks, so this parser buffers partial lines and
//! yields whole events as soon as their terminating blank line has been seen. It follows the
//! WHATWG event-stream grammar: `LF`, `CR` and `CRLF` line endings, `:` comment lines, a single
//! optional space after the field colon, and multi-line `data` joined with `\n`. A leading
//! byte-order mark is not stripped; MCP servers do not send one.

use thiserror::Error;

/// Default cap on buffered bytes (partial lines plus pending data) per stream: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id` field, if the event carried one.
    pub id: Option<String>,
    /// The `event` field (event type), if the event carried one.
    pub event: Option<String>,
    /// The `data` lines joined with `\n`; empty for priming events.
    pub data: String,
    /// The `retry` field in milliseconds, if present and numeric.
    pub retry: Option<u64>,
}

/// What can go wrong while parsing an event stream.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SseError {
    /// The stream buffered more than the configured limit without completing an event.
    #[error("event stream buffered more than {limit} bytes without completing an event")]
    TooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
}

/// Streaming parser: feed chunks with [`SseParser::push`], then drain [`SseParser::next_event`].
#[derive(Debug)]
pub struct SseParser {
    buf: Vec<u8>,
    pos: usize,
    skip_lf: bool,
    pending: SseEvent,
    has_field: bool,
    max_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser that refuses to buffer more than `max_bytes` for one event.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            skip_lf: false,
            pending: SseEvent::default(),
            has_field: false,
            max_bytes,
        }
    }

    /// Appends a chunk of the stream. Call [`SseParser::next_event`] until it returns `None`
    /// before pushing the next chunk.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), SseError> {
        // A CR that ended the previous chunk may be the first half of a CRLF.
        if self.skip_lf && !chunk.is_empty() {
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
            self.skip_lf = false;
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(chunk);
        if self.buf.len() + self.pending.data.len() > self.max_bytes {
            return Err(SseError::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// The next complete event in the buffered bytes, if any.
    ///
    /// Blocks made only of comments yield nothing; an event with an empty `data` (such as
    /// a priming event carrying just `id` and `retry`) is yielded so callers can see it.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let rest = &self.buf[self.pos..];
            let rel = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
            let start = self.pos;
            let end = start + rel;
            self.pos = end + 1;
            if self.buf[end] == b'\r' {
                match self.buf.get(self.pos) {
                    Some(b'\n') => self.pos += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if start == end {
                if let Some(event) = self.dispatch() {
                    return Some(event);
                }
                continue;
            }
            let line = &self.buf[start..end];
            self.has_field |= apply_line(&mut self.pending, line);
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !std::mem::take(&mut self.has_field) {
            return None;
        }
        let mut event = std::mem::take(&mut self.pending);
        if event.data.ends_with('\n') {
            event.data.pop();
        }
        Some(event)
    }
}

/// Applies one non-empty line to the event being built; true if it set a field.
fn apply_line(event: &mut SseEvent, line: &[u8]) -> bool {
    if line[0] == b':' {
        return false;
    }
    let (name, value) = match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            let value = &line[colon + 1..];
            (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
        }
        None => (line, &[][..]),
    };
    let value = String::from_utf8_lossy(value);
    match name {
        b"data" => {
            event.data.push_str(&value);
            event.data.push('\n');
        }
        b"id" if !value.contains('\0') => event.id = Some(value.into_owned()),
        b"event" => event.event = Some(value.into_owned()),
        b"retry" => match value.parse() {
            Ok(ms) => event.retry = Some(ms),
            Err(_) => return false,
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            parser
                .push(chunk)
                .expect("test streams stay under the limit");
            while let Some(event) = parser.next_event() {
                events.push(event);
            }
        }
        events
    }

    fn data_event(data: &str) -> SseEvent {
        SseEvent {
            data: data.to_owned(),
            ..SseEvent::default()
        }
    }

    const RMCP_STREAM: &str = "id: 0\nretry: 3000\ndata:\n\n: keep-alive\n\n\
        event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";

    #[test]
    fn whole_stream_in_one_chunk() {
        let events = parse_chunks(&[RMCP_STREAM.as_bytes()]);
        assert_eq!(
            events.len(),
            2,
            "priming event and response, comment skipped"
        );
        assert_eq!(events[0].id.as_deref(), Some("0"));
        assert_eq!(events[0].retry, Some(3000));
        assert_eq!(events[0].data, "", "priming events carry empty data");
        assert_eq!(events[1].event.as_deref(), Some("message"));
        assert_eq!(events[1].data, r#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
    }

    #[test]
    fn any_split_point_gives_the_same_events() {
        let bytes = RMCP_STREAM.as_bytes();
        let expected = parse_chunks(&[bytes]);
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(parse_chunks(&[a, b]), expected, "split at byte {split}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_chunks(&singles), expected, "one byte per chunk");
    }

    #[test]
    fn event_waits_for_its_blank_line() {
        let mut parser = SseParser::default();
        parser.push(b"data: {\"id\":1}\n").expect("small chunk");
        assert_eq!(parser.next_event(), None, "no blank line yet");
        parser.push(b"\n").expect("small chunk");
        assert_eq!(parser.next_event(), Some(data_event("{\"id\":1}")));
    }

    #[test]
    fn comment_only_blocks_yield_nothing() {
        let events = parse_chunks(&[b": ping\n\n:another\n\n", b"data: x\n\n"]);
        assert_eq!(events, vec![data_event("x")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let events = parse_chunks(&[b"data: {\ndata:  \"a\": 1\ndata: }\n\n"]);
        assert_eq!(events, vec![data_event("{\n \"a\": 1\n}")]);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let events = parse_chunks(&[b"data: a\r\n\r\ndata: b\r\rdata: c\r", b"\n\r\n"]);
        assert_eq!(
            events,
            vec![data_event("a"), data_event("b"), data_event("c")]
        );
    }

    #[test]
    fn field_without_colon_or_space() {
        let events = parse_chunks(&[b"data\n\ndata:tight\nunknown: x\nretry: soon\n\n"]);
        assert_eq!(events, vec![data_event(""), data_event("tight")]);
    }

    #[test]
    fn unterminated_event_is_not_dispatched() {
        let events = parse_chunks(&[b"data: complete\n\ndata: partial\n"]);
        assert_eq!(events, vec![data_event("complete")]);
    }

    #[test]
    fn oversized_event_is_refused() {
        let mut parser = SseParser::new(16);
        parser.push(b"data: 0123456").expect("under the limit");
        assert_eq!(
            parser.push(b"789abcdef"),
            Err(SseError::TooLarge { limit: 16 })
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    /// Stream bytes that are mostly SSE syntax, with raw bytes mixed in.
    fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                6 => prop::sample::select(b"data: id:event:retry:\r\n\n:{}x0".to_vec()),
                1 => any::<u8>(),
            ],
            0..512,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any stream, cut into any chunks, parses without panic, and the parser never holds
        /// more than its limit: a push past it is refused.
        #[test]
        fn any_stream_in_any_chunks_parses_within_the_limit(
            stream in sse_bytes(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            limit in 16usize..256,
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut parser = SseParser::new(limit);
            for pair in cuts.windows(2) {
                if parser.push(&stream[pair[0]..pair[1]]).is_err() {
                    break;
                }
                while let Some(event) = parser.next_event() {
                    prop_assert!(event.data.len() <= limit);
                }
            }
        }

        /// The same stream gives the same events however it is chunked.
        #[test]
        fn chunking_does_not_change_the_events(
            stream in sse_bytes(),
            cut in any::<prop::sample::Index>(),
        ) {
            let events = |chunks: &[&[u8]]| {
                let mut parser = SseParser::new(1 << 20);
                let mut out = Vec::new();
                for chunk in chunks {
                    parser.push(chunk).expect("under the limit");
                    while let Some(event) = parser.next_event() {
                        out.push((event.id, event.data));
                    }
                }
                out
            };
            let at = cut.index(stream.len() + 1);
            prop_assert_eq!(events(&[&stream]), events(&[&stream[..at], &stream[at..]]));
        }
    }
}

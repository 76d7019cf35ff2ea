//! Answers hyper writes itself, made like every other answer.
//!
//! When an HTTP/1 request cannot be parsed — a head over `http.max_header_bytes` (431), a bad
//! request line, header or framing (400), a URI too long (414) — hyper answers before any
//! service runs, with a bare head: no body, no `X-Request-Id`, no security headers, no log
//! line. hyper 1 has no hook for these answers, so the connection's IO is wrapped, and a write
//! that starts with an error status line and carries no `X-Request-Id` is replaced by a full
//! answer: the same JSON body as the edge's refusals, a new request id, the security headers,
//! `Connection: close` (hyper closes the connection after it), and a warning in the log.
//!
//! Why this design: only hyper writes a head without `X-Request-Id` (the edge sets it on every
//! answer it lets out), and hyper writes a head at the start of a write. Reading heads ahead of
//! hyper would parse every request twice and re-implement framing; raising hyper's limits to
//! enforce them in the edge would cover 431 but not 400. Here the cost on the hot path is one
//! comparison of at most 10 bytes per write syscall (a normal answer starts `HTTP/1.1 2`), and
//! nothing on reads.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the replacement answers need to know.
#[derive(Debug, Clone)]
pub struct BareAnswers {
    /// Largest request head, to state in a 431.
    pub max_header_bytes: usize,
    /// `Strict-Transport-Security` value, when configured.
    pub hsts: Option<String>,
}

/// A connection's IO whose bare hyper error answers are replaced (see the module docs).
pub struct Guarded<T> {
    inner: T,
    peer: SocketAddr,
    answers: std::sync::Arc<BareAnswers>,
    /// Replacement bytes not yet written, and how many of them were.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> Guarded<T> {
    /// Wrap the IO of a connection from `peer`.
    pub fn new(inner: T, peer: SocketAddr, answers: std::sync::Arc<BareAnswers>) -> Self {
        Self {
            inner,
            peer,
            answers,
            pending: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> Guarded<T> {
    /// Write what is left of a replacement; ready once it is all written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// If `buf` is a bare error answer from hyper, queue its replacement and say so.
    fn replace(&mut self, buf: &[u8]) -> bool {
        let Some(status) = bare_error_status(buf) else {
            return false;
        };
        self.pending = Some((replacement(status, self.peer, &self.answers), 0));
        true
    }
}

/// The status of `buf` when it is a complete error head without `X-Request-Id`.
fn bare_error_status(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if !matches!(code[0], b'4' | b'5') {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &buf[..end];
    let tagged = head
        .windows(REQUEST_ID.len())
        .any(|w| w.eq_ignore_ascii_case(REQUEST_ID));
    if tagged {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

const REQUEST_ID: &[u8] = b"x-request-id:";

/// A full answer for a request hyper refused, logged with its new request id.
fn replacement(status: u16, peer: SocketAddr, answers: &BareAnswers) -> Vec<u8> {
    let (code, message) = match status {
        431 => (
            "header_too_large",
            format!(
                "the request head is larger than the limit of {} bytes",
                answers.max_header_bytes
            ),
        ),
        414 => ("uri_too_long", "the request URI is too long".to_owned()),
        _ => (
            "bad_request",
            "the request could not be parsed (request line, headers or framing)".to_owned(),
        ),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::warn!(
        request_id,
        %peer,
        status,
        code,
        "request refused before routing: {message}"
    );
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let hsts = answers
        .hsts
        .as_deref()
        .map(|v| format!("strict-transport-security: {v}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\
         x-request-id: {request_id}\r\nx-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\nreferrer-policy: no-referrer\r\n{hsts}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if self.replace(buf) {
            // Written as far as the socket takes it now; flush and shutdown finish it.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && self.replace(first)
        {
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(first.len()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_error_heads_are_replaced() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(bare_error_status(bare), Some(431));
        let ours = b"HTTP/1.1 413 Payload Too Large\r\nx-request-id: abc\r\n\r\n{}";
        assert_eq!(bare_error_status(ours), None);
        assert_eq!(bare_error_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(bare_error_status(b"{\"jsonrpc\":\"2.0\"}"), None);
        assert_eq!(
            bare_error_status(b"HTTP/1.1 400 Bad Req"),
            None,
            "incomplete"
        );
    }

    #[test]
    fn replacements_are_json_with_an_id_and_the_security_headers() {
        let answers = BareAnswers {
            max_header_bytes: 8192,
            hsts: None,
        };
        let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let text = String::from_utf8(replacement(431, peer, &answers)).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large"));
        for line in [
            "x-request-id: ",
            "x-frame-options: DENY",
            "connection: close",
        ] {
            assert!(head.contains(line), "{head}");
        }
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"], "header_too_large");
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }
}

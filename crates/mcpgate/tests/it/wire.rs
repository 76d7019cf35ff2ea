//! A minimal HTTP/1.1 client over raw TCP, for tests that must know exactly what happened on the
//! wire: whether a request was written before the connection failed, whether the server asked
//! to close, and what hyper or the edge wrote byte for byte (a library client hides all three).

#![allow(dead_code)] // Each test module uses a different part.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response as read from the wire.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl Answer {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the server announced it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// The JSON-RPC message of a JSON answer, or the last one of an event-stream answer
    /// (`Null` when there is none).
    pub fn json_or_events(&self) -> serde_json::Value {
        if self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
        {
            return self
                .body
                .lines()
                .rev()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<serde_json::Value>(data.trim()).ok())
                .find(|message| message.get("id").is_some())
                .unwrap_or_default();
        }
        self.json()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// What became of one request.
#[derive(Debug)]
pub enum Attempt {
    /// A complete response came back.
    Answered(Answer),
    /// The connection was refused, or failed before the request was completely written: the
    /// server never saw it, and the client knows it may send it elsewhere.
    NotSent(String),
    /// The request was written completely and no complete response came back.
    Unanswered(String),
}

/// One client connection with its read buffer.
pub struct Connection {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    /// Connect to `addr`.
    pub async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Self {
            tcp,
            buf: Vec::new(),
        })
    }

    /// Whether the server has closed this idle connection (what a client pool checks before
    /// reusing one).
    pub fn closed_by_server(&self) -> bool {
        let mut probe = [0u8; 1];
        !matches!(self.tcp.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Write `request` and read one response, each bounded by `within`.
    pub async fn exchange(&mut self, request: &[u8], within: Duration) -> Attempt {
        match tokio::time::timeout(within, self.tcp.write_all(request)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Attempt::NotSent(e.to_string()),
            Err(_) => return Attempt::NotSent("write timed out".into()),
        }
        match tokio::time::timeout(within, self.read_answer()).await {
            Ok(Ok(answer)) => Attempt::Answered(answer),
            Ok(Err(e)) => Attempt::Unanswered(e),
            Err(_) => Attempt::Unanswered("no answer in time".into()),
        }
    }

    /// Write raw bytes (a request the test crafted by hand).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tcp.write_all(bytes).await
    }

    /// Read one complete response.
    pub async fn read_answer(&mut self) -> Result<Answer, String> {
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not a status line: {head:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = if let Some(length) = get("content-length") {
            let length: usize = length.parse().map_err(|_| "bad content-length")?;
            self.take(length).await?
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            self.chunked().await?
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else {
            // Delimited by the end of the connection.
            while self.fill().await.is_ok() {}
            std::mem::take(&mut self.buf)
        };
        Ok(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Read until the server closes the connection; what it sent meanwhile.
    pub async fn read_to_end(&mut self) -> String {
        while self.fill().await.is_ok() {}
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }

    async fn chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(at) = find(&self.buf, b"\r\n") {
                    break at;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..line_end + 2);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            let chunk = self.take(size + 2).await?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    async fn take(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        match self.tcp.read(&mut chunk).await {
            Ok(0) => Err("connection closed".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A POST of a JSON body to `path`, with extra header lines (each `Name: value`).
pub fn post(addr: SocketAddr, path: &str, headers: &[String], body: &str) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    for line in headers {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    request.into_bytes()
}

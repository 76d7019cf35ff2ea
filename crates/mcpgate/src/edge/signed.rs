//! Signed tenant headers: how an mcpgate at the edge tells an internal mcpgate (or any backend
//! that checks them) whom a request is for, without passing the user's token on.
//!
//! The sender adds four headers and a nonce:
//!
//! - `X-Mcpgate-Tenant`, `X-Mcpgate-Subject`: the caller's org and subject;
//! - `X-Mcpgate-Timestamp`: Unix seconds;
//! - `X-Mcpgate-Nonce`: 128 random bits in hex, so no two requests sign alike;
//! - `X-Mcpgate-Signature`: `v1=` and the lower-case hex HMAC-SHA256, under a shared secret, of
//!   the canonical string — these lines joined by `\n`, with no newline at the end:
//!
//!   ```text
//!   MCPGATE-HMAC-SHA256-V1
//!   <method, upper case>
//!   <path and query, as sent>
//!   <tenant>
//!   <subject>
//!   <timestamp>
//!   <nonce>
//!   <lower-case hex SHA-256 of the body (of nothing, for a request without one)>
//!   ```
//!
//! The receiver ([`Verifier`]) recomputes it with each of its secrets (several at once, so a
//! secret can be rotated: add the new one on the receivers, move the senders, drop the old),
//! compares in constant time, accepts a timestamp within ±5 minutes of its clock, and refuses
//! a signature it has seen before within that window (kept in process, or in Redis when
//! replicas share it), so a captured request cannot be sent again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

/// The caller's org.
pub const TENANT: HeaderName = HeaderName::from_static("x-mcpgate-tenant");
/// The caller's subject.
pub const SUBJECT: HeaderName = HeaderName::from_static("x-mcpgate-subject");
/// Unix seconds at signing.
pub const TIMESTAMP: HeaderName = HeaderName::from_static("x-mcpgate-timestamp");
/// 128 random bits, hex.
pub const NONCE: HeaderName = HeaderName::from_static("x-mcpgate-nonce");
/// `v1=<hex HMAC>`.
pub const SIGNATURE: HeaderName = HeaderName::from_static("x-mcpgate-signature");

/// How far a timestamp may be from the receiver's clock, either way.
pub const WINDOW: Duration = Duration::from_secs(300);

/// The shortest secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 32;

const SCHEME: &str = "MCPGATE-HMAC-SHA256-V1";

type HmacSha256 = Hmac<Sha256>;

/// What a signature covers, besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path and query, as sent.
    pub target: &'a str,
    /// The caller's org.
    pub tenant: &'a str,
    /// The caller's subject.
    pub subject: &'a str,
    /// Unix seconds.
    pub timestamp: u64,
    /// The request's nonce.
    pub nonce: &'a str,
}

impl Signed<'_> {
    /// The MAC of this request with `body` under `secret`.
    fn mac(&self, secret: &[u8], body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
        let body_digest = hex(&Sha256::digest(body));
        for (i, part) in [
            SCHEME,
            &self.method.to_ascii_uppercase(),
            self.target,
            self.tenant,
            self.subject,
            &self.timestamp.to_string(),
            self.nonce,
            &body_digest,
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                mac.update(b"\n");
            }
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The `X-Mcpgate-Signature` value.
    pub fn signature(&self, secret: &[u8], body: &[u8]) -> String {
        format!(
            "v1={}",
            hex(&self.mac(secret, body).finalize().into_bytes())
        )
    }
}

/// The five headers for a request for `tenant`/`subject`, signed now under `secret`.
pub fn sign(
    secret: &[u8],
    method: &str,
    target: &str,
    tenant: &str,
    subject: &str,
    body: &[u8],
) -> Vec<(HeaderName, HeaderValue)> {
    let nonce = hex(&rand::random::<[u8; 16]>());
    let signed = Signed {
        method,
        target,
        tenant,
        subject,
        timestamp: now(),
        nonce: &nonce,
    };
    let value = |text: &str| HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static(""));
    vec![
        (TENANT, value(tenant)),
        (SUBJECT, value(subject)),
        (TIMESTAMP, value(&signed.timestamp.to_string())),
        (NONCE, value(&nonce)),
        (SIGNATURE, value(&signed.signature(secret, body))),
    ]
}

/// Why signed headers were refused (safe to show the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    /// No signature headers.
    #[error("this server needs signed tenant headers (X-Mcpgate-*)")]
    Missing,
    /// Headers missing, repeated or not readable.
    #[error("the signed tenant headers are incomplete or malformed")]
    Malformed,
    /// The timestamp is more than the window in the past.
    #[error("the signed request is too old")]
    Stale,
    /// The timestamp is more than the window in the future.
    #[error("the signed request is dated in the future")]
    Future,
    /// No secret gives this signature.
    #[error("the signature does not match")]
    BadSignature,
    /// This signature was already used.
    #[error("the signed request was already used")]
    Replayed,
    /// The shared replay store cannot be asked (refused, not waved through).
    #[error("signed requests cannot be checked right now")]
    Unavailable,
}

/// The signature's claims, read from the headers.
struct Claims {
    tenant: String,
    subject: String,
    timestamp: u64,
    nonce: String,
    signature: Vec<u8>,
}

fn one(headers: &HeaderMap, name: &HeaderName) -> Result<String, SignedError> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(SignedError::Malformed);
    };
    value
        .to_str()
        .map(str::to_owned)
        .map_err(|_| SignedError::Malformed)
}

fn claims(headers: &HeaderMap) -> Result<Claims, SignedError> {
    if !headers.contains_key(&SIGNATURE) {
        return Err(SignedError::Missing);
    }
    let signature = one(headers, &SIGNATURE)?;
    let signature = signature
        .strip_prefix("v1=")
        .and_then(unhex)
        .ok_or(SignedError::Malformed)?;
    let nonce = one(headers, &NONCE)?;
    if nonce.len() != 32 || unhex(&nonce).is_none() {
        return Err(SignedError::Malformed);
    }
    Ok(Claims {
        tenant: one(headers, &TENANT)?,
        subject: one(headers, &SUBJECT)?,
        timestamp: one(headers, &TIMESTAMP)?
            .parse()
            .map_err(|_| SignedError::Malformed)?,
        nonce,
        signature,
    })
}

/// Checks signed tenant headers (see the module documentation).
#[derive(Clone)]
pub struct Verifier {
    secrets: Arc<[Vec<u8>]>,
    seen: Seen,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// Signatures already used, until they could no longer pass the window.
#[derive(Clone)]
enum Seen {
    Local(Arc<Mutex<HashMap<[u8; 32], u64>>>),
    Redis {
        connection: redis::aio::ConnectionManager,
        prefix: Arc<str>,
    },
}

impl Verifier {
    /// A verifier accepting any of `secrets`, remembering used signatures in this process.
    pub fn local(secrets: &[String]) -> Self {
        Self {
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            seen: Seen::Local(Arc::default()),
        }
    }

    /// A verifier remembering used signatures in Redis at `url` (shared by replicas), under
    /// keys starting with `prefix`.
    pub fn redis(secrets: &[String], url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            seen: Seen::Redis {
                connection,
                prefix: format!("{prefix}signed:").into(),
            },
        })
    }

    /// The tenant and subject a request was signed for, if its headers check out for
    /// `method`, `target` (path and query) and `body` now.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<(String, String), SignedError> {
        self.verify_at(headers, method, target, body, now()).await
    }

    async fn verify_at(
        &self,
        headers: &HeaderMap,
        method: &str,
        target: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(String, String), SignedError> {
        let claims = claims(headers)?;
        let window = WINDOW.as_secs();
        if claims.timestamp + window < now {
            return Err(SignedError::Stale);
        }
        if claims.timestamp > now + window {
            return Err(SignedError::Future);
        }
        let signed = Signed {
            method,
            target,
            tenant: &claims.tenant,
            subject: &claims.subject,
            timestamp: claims.timestamp,
            nonce: &claims.nonce,
        };
        // Every secret is tried, so the time taken does not say which one matched.
        let matched = self.secrets.iter().fold(false, |matched, secret| {
            let ok = signed
                .mac(secret, body)
                .verify_slice(&claims.signature)
                .is_ok();
            matched | ok
        });
        if !matched {
            return Err(SignedError::BadSignature);
        }
        let key: [u8; 32] = Sha256::digest(&claims.signature).into();
        // Remembered until the timestamp leaves the window.
        let until = claims.timestamp + window;
        if !self.first_use(key, until, now).await? {
            return Err(SignedError::Replayed);
        }
        Ok((claims.tenant, claims.subject))
    }

    /// Record a signature; `false` when it was already recorded.
    async fn first_use(&self, key: [u8; 32], until: u64, now: u64) -> Result<bool, SignedError> {
        match &self.seen {
            Seen::Local(seen) => {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() > 4096 {
                    seen.retain(|_, expiry| *expiry >= now);
                }
                if seen.get(&key).is_some_and(|expiry| *expiry >= now) {
                    return Ok(false);
                }
                seen.insert(key, until);
                Ok(true)
            }
            Seen::Redis { connection, prefix } => {
                let ttl = until.saturating_sub(now).max(1);
                let stored: Option<String> = redis::cmd("SET")
                    .arg(format!("{prefix}{}", hex(&key)))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut connection.clone())
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, "replay check failed: signed request refused");
                        SignedError::Unavailable
                    })?;
                Ok(stored.is_some())
            }
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-shared-secret-of-thirty-two-bytes!";
    const NEXT: &str = "the-next-secret-after-rotation-0123456";

    fn headers(pairs: Vec<(HeaderName, HeaderValue)>) -> HeaderMap {
        pairs.into_iter().collect()
    }

    fn signed(secret: &str, body: &[u8]) -> HeaderMap {
        headers(sign(
            secret.as_bytes(),
            "POST",
            "/mcp",
            "acme",
            "alice",
            body,
        ))
    }

    #[tokio::test]
    async fn a_signed_request_passes_once() {
        let verifier = Verifier::local(&[SECRET.to_owned()]);
        let h = signed(SECRET, b"{}");
        assert_eq!(
            verifier.verify(&h, "POST", "/mcp", b"{}").await,
            Ok(("acme".to_owned(), "alice".to_owned()))
        );
        assert_eq!(
            verifier.verify(&h, "POST", "/mcp", b"{}").await,
            Err(SignedError::Replayed)
        );
    }

    #[tokio::test]
    async fn anything_changed_breaks_the_signature() {
        let verifier = Verifier::local(&[SECRET.to_owned()]);
        let check =
            |h: HeaderMap, method: &'static str, target: &'static str, body: &'static [u8]| {
                let verifier = verifier.clone();
                async move { verifier.verify(&h, method, target, body).await }
            };
        let bad = Err(SignedError::BadSignature);
        assert_eq!(
            check(signed(SECRET, b"{}"), "POST", "/mcp", b"{ }").await,
            bad
        );
        assert_eq!(
            check(signed(SECRET, b"{}"), "GET", "/mcp", b"{}").await,
            bad
        );
        assert_eq!(
            check(signed(SECRET, b"{}"), "POST", "/mcp?x=1", b"{}").await,
            bad
        );
        for (name, value) in [(TENANT, "other"), (SUBJECT, "mallory")] {
            let mut h = signed(SECRET, b"{}");
            h.insert(name, HeaderValue::from_static(value));
            assert_eq!(check(h, "POST", "/mcp", b"{}").await, bad);
        }
        assert_eq!(
            check(
                signed("not-the-secret-at-all-but-long-enough", b"{}"),
                "POST",
                "/mcp",
                b"{}"
            )
            .await,
            bad
        );
    }

    #[tokio::test]
    async fn the_window_is_five_minutes_either_way() {
        let verifier = Verifier::local(&[SECRET.to_owned()]);
        let at = |offset: i64| {
            let timestamp = now().saturating_add_signed(offset);
            let nonce = hex(&rand::random::<[u8; 16]>());
            let s = Signed {
                method: "POST",
                target: "/mcp",
                tenant: "acme",
                subject: "alice",
                timestamp,
                nonce: &nonce,
            };
            headers(vec![
                (TENANT, HeaderValue::from_static("acme")),
                (SUBJECT, HeaderValue::from_static("alice")),
                (
                    TIMESTAMP,
                    HeaderValue::from_str(&timestamp.to_string()).unwrap(),
                ),
                (NONCE, HeaderValue::from_str(&nonce).unwrap()),
                (
                    SIGNATURE,
                    HeaderValue::from_str(&s.signature(SECRET.as_bytes(), b"")).unwrap(),
                ),
            ])
        };
        assert!(
            verifier
                .verify(&at(-290), "POST", "/mcp", b"")
                .await
                .is_ok()
        );
        assert!(verifier.verify(&at(290), "POST", "/mcp", b"").await.is_ok());
        assert_eq!(
            verifier.verify(&at(-310), "POST", "/mcp", b"").await,
            Err(SignedError::Stale)
        );
        assert_eq!(
            verifier.verify(&at(310), "POST", "/mcp", b"").await,
            Err(SignedError::Future)
        );
    }

    #[tokio::test]
    async fn during_a_rotation_both_secrets_pass() {
        let verifier = Verifier::local(&[SECRET.to_owned(), NEXT.to_owned()]);
        assert!(
            verifier
                .verify(&signed(SECRET, b""), "POST", "/mcp", b"")
                .await
                .is_ok()
        );
        assert!(
            verifier
                .verify(&signed(NEXT, b""), "POST", "/mcp", b"")
                .await
                .is_ok()
        );
        let after = Verifier::local(&[NEXT.to_owned()]);
        assert_eq!(
            after
                .verify(&signed(SECRET, b""), "POST", "/mcp", b"")
                .await,
            Err(SignedError::BadSignature)
        );
    }

    #[tokio::test]
    async fn missing_repeated_or_garbled_headers_are_refused() {
        let verifier = Verifier::local(&[SECRET.to_owned()]);
        assert_eq!(
            verifier
                .verify(&HeaderMap::new(), "POST", "/mcp", b"")
                .await,
            Err(SignedError::Missing)
        );
        let mut h = signed(SECRET, b"");
        h.append(TENANT, HeaderValue::from_static("other"));
        assert_eq!(
            verifier.verify(&h, "POST", "/mcp", b"").await,
            Err(SignedError::Malformed)
        );
        let mut h = signed(SECRET, b"");
        h.insert(SIGNATURE, HeaderValue::from_static("v2=00"));
        assert_eq!(
            verifier.verify(&h, "POST", "/mcp", b"").await,
            Err(SignedError::Malformed)
        );
        let mut h = signed(SECRET, b"");
        h.remove(NONCE);
        assert_eq!(
            verifier.verify(&h, "POST", "/mcp", b"").await,
            Err(SignedError::Malformed)
        );
    }
}

//! Sealed `requestState` for multi-round requests (the `input_required` results of 2026-07-28).
//!
//! A client echoes `requestState` back verbatim, so whatever comes back is attacker-controlled.
//! The spec asks servers to protect its integrity, bind it to the caller and the request, give
//! it a short lifetime and accept it only once. [`StateSealer`] does all four: rmcp's
//! [`RequestStateCodec`] signs the state with HMAC-SHA256 under a key drawn at start-up, the
//! caller, method, name and arguments are mixed in as associated data (so a state minted for one
//! request or principal does not open for another), the codec stamps a TTL, and a ledger of
//! redeemed state ids refuses replays.
//!
//! A module owns one sealer and hands it to [`rounds::drive`](super::rounds::drive), which
//! seals what a decision carries and opens what the client echoes; nothing else needs to see a
//! sealed state. The key lives only in this process: a state does not survive a restart or travel
//! between replicas, and the client is told to start the request again without it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::ErrorData;
use rmcp::model::{JsonObject, RequestStateCodec, RequestStateError, SealOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::edge::Principal;

/// How long a sealed state may be echoed back.
pub(super) const STATE_TTL: Duration = Duration::from_secs(300);

/// At most this many redeemed state ids are remembered; beyond it new states are refused
/// rather than letting the ledger grow without bound.
const MAX_REDEEMED: usize = 65_536;

/// Why an echoed `requestState` was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum StateError {
    /// Forged, tampered with, malformed, or minted for another caller or request.
    #[error("requestState failed integrity verification")]
    Invalid(#[source] RequestStateError),
    /// Older than [`STATE_TTL`].
    #[error("requestState has expired; start the request again without it")]
    Expired,
    /// Already redeemed once.
    #[error("requestState was already used; start the request again without it")]
    Replayed,
    /// The replay ledger is full.
    #[error("too many multi-round requests are in flight; try again later")]
    Busy,
    /// The state could not be encoded.
    #[error("requestState could not be encoded")]
    Encode(#[source] RequestStateError),
}

impl From<StateError> for ErrorData {
    /// A state the client got wrong is invalid params (it may start again without it); one the
    /// server could not handle is an internal error. The cause is logged, not sent.
    fn from(error: StateError) -> Self {
        tracing::debug!(error = %error, "requestState refused");
        match error {
            StateError::Encode(_) | StateError::Busy => {
                ErrorData::internal_error(error.to_string(), None)
            }
            StateError::Invalid(_) | StateError::Expired | StateError::Replayed => {
                ErrorData::invalid_params(error.to_string(), None)
            }
        }
    }
}

/// What a state is bound to: the caller, the method, the tool or prompt name and its
/// arguments. Built once per request and fed to the codec as associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binding(Vec<u8>);

impl Binding {
    /// Bind to `principal` calling `method` on `name` with `arguments`. Arguments are encoded
    /// canonically (object keys sorted), so equal arguments bind equally whatever their order.
    pub(super) fn new(
        principal: &Principal,
        method: &str,
        name: &str,
        arguments: Option<&JsonObject>,
    ) -> Self {
        let mut text = String::from("mcpgate/request-state/v1");
        for part in [&*principal.subject, &*principal.org, method, name] {
            text.push('\0');
            text.push_str(part);
        }
        text.push('\0');
        match arguments {
            Some(arguments) => canonical_object(arguments, &mut text),
            None => text.push_str("{}"),
        }
        Self(text.into_bytes())
    }
}

/// Write `value` as JSON with object keys in sorted order (what is signed here, and what
/// upstream tool pins digest).
pub(crate) fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn canonical_object(map: &JsonObject, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        canonical(&map[key], out);
    }
    out.push('}');
}

/// What is signed: a fresh id (for single use) and the caller's own data.
#[derive(Serialize, Deserialize)]
struct Envelope {
    id: String,
    data: Value,
}

/// Seals the `requestState` a multi-round request carries between rounds, and opens what the
/// client echoes back: integrity-protected, bound to the caller and the request, short-lived and
/// single-use. A module owns one and hands it to [`rounds::drive`](super::rounds::drive).
#[derive(Debug)]
pub struct StateSealer {
    codec: RequestStateCodec,
    /// Redeemed state ids and when they may be forgotten (their TTL has passed by then).
    redeemed: Mutex<HashMap<String, Instant>>,
}

impl Default for StateSealer {
    fn default() -> Self {
        Self::new()
    }
}

impl StateSealer {
    /// A sealer with a fresh random key, for states that live as long as this process.
    pub fn new() -> Self {
        Self::with_key(random_key())
    }

    fn with_key(key: [u8; 32]) -> Self {
        // A 32-byte key meets the codec's minimum length, so the unchecked constructor is safe.
        Self {
            codec: RequestStateCodec::new_unchecked(key.to_vec()),
            redeemed: Mutex::new(HashMap::new()),
        }
    }

    /// Seal `data` for the request described by `binding`.
    pub(super) fn seal(&self, data: &Value, binding: &Binding) -> Result<String, StateError> {
        let envelope = Envelope {
            id: Uuid::new_v4().to_string(),
            data: data.clone(),
        };
        let options = SealOptions::new()
            .associated_data(&binding.0)
            .ttl(STATE_TTL);
        self.codec
            .seal_json_with(&envelope, &options)
            .map_err(StateError::Encode)
    }

    /// Verify and redeem a state echoed back for the request described by `binding`. A state
    /// opens once; the second attempt is [`StateError::Replayed`].
    pub(super) fn open(&self, sealed: &str, binding: &Binding) -> Result<Value, StateError> {
        let envelope: Envelope =
            self.codec
                .open_json_with(sealed, &binding.0)
                .map_err(|e| match e {
                    RequestStateError::Expired => StateError::Expired,
                    other => StateError::Invalid(other),
                })?;
        self.redeem(envelope.id)?;
        Ok(envelope.data)
    }

    fn redeem(&self, id: String) -> Result<(), StateError> {
        let now = Instant::now();
        let mut redeemed = self.redeemed.lock().unwrap_or_else(|e| e.into_inner());
        redeemed.retain(|_, forget_at| *forget_at > now);
        if redeemed.contains_key(&id) {
            return Err(StateError::Replayed);
        }
        if redeemed.len() >= MAX_REDEEMED {
            return Err(StateError::Busy);
        }
        redeemed.insert(id, now + STATE_TTL);
        Ok(())
    }
}

/// 32 key bytes from two v4 UUIDs: 244 bits from the operating system's random source, ample
/// for an HMAC-SHA256 key that lives only as long as the process.
fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::edge::AuthVia;

    fn alice() -> Principal {
        Principal::new("alice", "acme", "admin", AuthVia::Default)
    }

    fn args(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            other => panic!("test arguments must be an object, got {other}"),
        }
    }

    fn binding() -> Binding {
        Binding::new(&alice(), "tools/call", "t", Some(&args(json!({"a": 1}))))
    }

    #[test]
    fn a_sealed_state_opens_once_for_the_same_request() {
        let sealer = StateSealer::new();
        let sealed = sealer.seal(&json!({"round": 2}), &binding()).expect("seal");
        let opened = sealer.open(&sealed, &binding()).expect("first open");
        assert_eq!(opened, json!({"round": 2}));
        assert!(matches!(
            sealer.open(&sealed, &binding()),
            Err(StateError::Replayed)
        ));
    }

    #[test]
    fn tampered_or_rebound_states_are_refused() {
        let sealer = StateSealer::new();
        let sealed = sealer.seal(&json!({"ok": true}), &binding()).expect("seal");
        let tampered = format!("{sealed}-TAMPERED");
        assert!(matches!(
            sealer.open(&tampered, &binding()),
            Err(StateError::Invalid(_))
        ));
        let other_args = Binding::new(&alice(), "tools/call", "t", Some(&args(json!({"a": 2}))));
        assert!(matches!(
            sealer.open(&sealed, &other_args),
            Err(StateError::Invalid(_))
        ));
        let bob = Principal::new("bob", "acme", "admin", AuthVia::Default);
        let other_caller = Binding::new(&bob, "tools/call", "t", Some(&args(json!({"a": 1}))));
        assert!(matches!(
            sealer.open(&sealed, &other_caller),
            Err(StateError::Invalid(_))
        ));
        assert!(matches!(
            sealer.open("not a state", &binding()),
            Err(StateError::Invalid(_))
        ));
        // The refusals above did not redeem it: the genuine state still opens.
        assert!(sealer.open(&sealed, &binding()).is_ok());
    }

    #[test]
    fn a_state_from_another_key_is_refused() {
        let sealed = StateSealer::new()
            .seal(&json!(1), &binding())
            .expect("seal");
        assert!(matches!(
            StateSealer::new().open(&sealed, &binding()),
            Err(StateError::Invalid(_))
        ));
    }

    #[test]
    fn argument_order_does_not_change_the_binding() {
        let a = args(json!({"x": 1, "y": {"b": [1, {"d": 2, "c": 3}], "a": null}}));
        let b = args(json!({"y": {"a": null, "b": [1, {"c": 3, "d": 2}]}, "x": 1}));
        assert_eq!(
            Binding::new(&alice(), "m", "n", Some(&a)),
            Binding::new(&alice(), "m", "n", Some(&b))
        );
        assert_ne!(
            Binding::new(&alice(), "m", "n", Some(&a)),
            Binding::new(&alice(), "m", "other", Some(&a))
        );
    }

    #[test]
    fn the_client_is_blamed_only_for_states_it_sent() {
        use rmcp::model::ErrorCode;
        let sealer = StateSealer::new();
        let sealed = sealer.seal(&json!(1), &binding()).expect("seal");
        sealer.open(&sealed, &binding()).expect("first open");
        for refusal in [
            sealer.open(&sealed, &binding()).expect_err("replayed"),
            sealer.open("forged", &binding()).expect_err("forged"),
            StateError::Expired,
        ] {
            assert_eq!(ErrorData::from(refusal).code, ErrorCode::INVALID_PARAMS);
        }
        assert_eq!(
            ErrorData::from(StateError::Busy).code,
            ErrorCode::INTERNAL_ERROR
        );
    }
}

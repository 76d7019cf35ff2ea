//! Key sets: a JWKS document (`{"keys":[...]}`) parsed into verification keys, each pinned to
//! the algorithms it may verify.
//!
//! Pinning follows the key type: an `RSA` key verifies RS256/384/512 and PS256/384/512, or only
//! its `alg` when the JWK names one; an `EC` key verifies the one ES algorithm of its curve
//! (P-256 → ES256, P-384 → ES384); an `OKP` Ed25519 key verifies EdDSA. Symmetric (`oct`) keys
//! are never taken from a key set — the shared secret comes only from the secret setting — so
//! an HMAC token can never be checked against a public key. Entries that are not signature keys
//! (`use` other than `sig`, `key_ops` without `verify`), of an unsupported type or curve, or
//! malformed are skipped; RSA keys shorter than 2048 bits are skipped as too weak.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// base64url as JWKs use it: padding tolerated, not required.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds verification cost).
const MAX_RSA_BITS: usize = 8192;

/// Why a JWKS document as a whole is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeySetError {
    /// Not JSON.
    #[error("not JSON")]
    NotJson,
    /// JSON, but not an object with a `keys` array.
    #[error("not a JWKS document (an object with a `keys` array)")]
    NotKeySet,
    /// No entry is a usable signature key.
    #[error("no usable signing key among {0} entries")]
    NoUsableKeys(usize),
}

/// One verification key and the algorithms it may verify.
#[derive(Clone)]
pub(crate) struct SetKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for SetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl SetKey {
    fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }
}

/// The keys a token may be checked against.
#[derive(Debug)]
pub(crate) enum Selection<'a> {
    /// Try these, in order.
    Keys(Vec<&'a DecodingKey>),
    /// The token names a `kid` the set does not hold.
    UnknownKid,
    /// The set holds no key that may verify the token's algorithm (under its `kid`, if any).
    AlgorithmNotAllowed,
}

/// Parsed verification keys.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<SetKey>,
}

impl KeySet {
    /// Parses a JWKS document, skipping entries that are not usable signature keys.
    pub(crate) fn parse(document: &[u8]) -> Result<Self, KeySetError> {
        let value: Value = serde_json::from_slice(document).map_err(|_| KeySetError::NotJson)?;
        let entries = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeySetError::NotKeySet)?;
        let mut keys = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            match entry.as_object().ok_or("not an object").and_then(parse_jwk) {
                Ok(key) => keys.push(key),
                Err(reason) => {
                    let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
                    tracing::debug!(index, kid, reason, "skipping a JWKS entry");
                }
            }
        }
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKeys(entries.len()));
        }
        Ok(Self { keys })
    }

    /// How many usable keys the set holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys to check a token signed with `alg` against: the keys with the token's `kid`,
    /// or, without a `kid`, every key that may verify `alg`.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let mut named = false;
        let keys: Vec<&DecodingKey> = self
            .keys
            .iter()
            .filter(|k| match kid {
                Some(kid) => {
                    let same = k.kid.as_deref() == Some(kid);
                    named |= same;
                    same
                }
                None => true,
            })
            .filter(|k| k.allows(alg))
            .map(|k| &k.key)
            .collect();
        if !keys.is_empty() {
            Selection::Keys(keys)
        } else if kid.is_some() && !named {
            Selection::UnknownKid
        } else {
            Selection::AlgorithmNotAllowed
        }
    }
}

fn parse_jwk(jwk: &Map<String, Value>) -> Result<SetKey, &'static str> {
    let text = |name: &str| -> Result<Option<&str>, &'static str> {
        match jwk.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err("a member is not a string"),
        }
    };
    let kty = text("kty")?.ok_or("no kty")?;
    if text("use")?.is_some_and(|u| u != "sig") {
        return Err("not a signature key (use)");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("not a verification key (key_ops)");
        }
    }
    let alg = text("alg")?;
    let kid = text("kid")?.map(str::to_owned);
    let component = |name: &str| -> Result<Vec<u8>, &'static str> {
        let encoded = text(name)?.ok_or("a key component is missing")?;
        B64URL
            .decode(encoded)
            .map_err(|_| "a key component is not base64url")
    };
    let (algorithms, key) = match kty {
        "RSA" => {
            let n = component("n")?;
            let e = component("e")?;
            let bits = bit_length(&n);
            if bits < MIN_RSA_BITS {
                return Err("RSA key shorter than 2048 bits");
            }
            if bits > MAX_RSA_BITS || e.is_empty() || e.len() > 8 {
                return Err("RSA key out of range");
            }
            let algorithms = match alg {
                None => RSA_ALGS.to_vec(),
                Some(name) => {
                    let alg = name
                        .parse::<Algorithm>()
                        .ok()
                        .filter(|a| RSA_ALGS.contains(a))
                        .ok_or("RSA key for an unsupported alg")?;
                    vec![alg]
                }
            };
            (algorithms, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        "EC" => {
            let (curve_alg, size) = match text("crv")? {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                _ => return Err("unsupported EC curve"),
            };
            if alg.is_some_and(|a| a.parse::<Algorithm>().ok() != Some(curve_alg)) {
                return Err("EC key whose alg does not match its curve");
            }
            let x = component("x")?;
            let y = component("y")?;
            if x.len() != size || y.len() != size {
                return Err("EC point of the wrong size");
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (vec![curve_alg], DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            if text("crv")? != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            if alg.is_some_and(|a| a != "EdDSA" && a != "Ed25519") {
                return Err("Ed25519 key for another alg");
            }
            let x = component("x")?;
            if x.len() != 32 {
                return Err("Ed25519 key of the wrong size");
            }
            (vec![Algorithm::EdDSA], DecodingKey::from_ed_der(&x))
        }
        _ => return Err("unsupported kty"),
    };
    Ok(SetKey {
        kid,
        algorithms,
        key,
    })
}

/// The bit length of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let Some(first) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let rest = bytes.len() - first - 1;
    rest * 8 + (8 - bytes[first].leading_zeros() as usize)
}

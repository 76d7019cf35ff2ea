//! DPoP (RFC 9449): tokens bound to a key of mcpgate's, so a token that leaks from a log or an
//! upstream is useless without the key. Used when the authorization server offers it
//! (`dpop_signing_alg_values_supported` names ES256): every token request and every request
//! to the upstream carries a fresh proof — a JWT signed with the key (ES256, P-256), its
//! public half in the header, naming the request's method and URL (`htm`, `htu`), when it was
//! made (`iat`), a unique id (`jti`), the SHA-256 of the access token presented (`ath`) and
//! the server's nonce when it asked for one (`use_dpop_nonce`). Written by hand over `ring`:
//! the proof is one header and six claims, and the JWT crates in use take no public key
//! into their headers.

use anyhow::Context;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use sha2::Digest as _;

/// The algorithm of every proof.
pub const ALGORITHM: &str = "ES256";

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A DPoP key pair.
pub struct DpopKey {
    pair: EcdsaKeyPair,
    /// The key pair as PKCS#8, to keep it beside a grant whose tokens are bound to it.
    pkcs8: Vec<u8>,
    /// The proof header (with the public key), encoded once.
    header: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DpopKey(…)")
    }
}

impl DpopKey {
    /// A new key pair.
    pub fn generate() -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("could not make a DPoP key"))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// The key pair kept as `pkcs8`.
    pub fn from_pkcs8(pkcs8: &[u8]) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|_| anyhow::anyhow!("not a P-256 DPoP key"))?;
        // An uncompressed point: 0x04, then x and y of 32 bytes each.
        let point = pair.public_key().as_ref();
        let (x, y) = point
            .get(1..)
            .filter(|xy| point[0] == 4 && xy.len() == 64)
            .map(|xy| xy.split_at(32))
            .context("the DPoP key's public point is not uncompressed P-256")?;
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": ALGORITHM,
            "jwk": {"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y)},
        });
        Ok(Self {
            pair,
            pkcs8: pkcs8.to_vec(),
            header: B64.encode(header.to_string()),
            rng,
        })
    }

    /// The key pair as PKCS#8.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A fresh proof for a `method` request to `url` (its query and fragment are left out),
    /// presenting `token` (none at a token endpoint), with the server's `nonce` if it gave one.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> anyhow::Result<String> {
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = serde_json::json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": htu,
            "iat": chrono::Utc::now().timestamp(),
        });
        if let Some(token) = token {
            claims["ath"] = B64.encode(sha2::Sha256::digest(token.as_bytes())).into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let signing_input = format!("{}.{}", self.header, B64.encode(claims.to_string()));
        let signature = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| anyhow::anyhow!("could not sign a DPoP proof"))?;
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.as_ref())
        ))
    }
}

/// The `DPoP-Nonce` a server sent with an answer, if any.
pub fn nonce_of(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 1024)
        .map(str::to_owned)
}

/// One client's DPoP key, and the latest nonce each of its servers asked for.
#[derive(Debug)]
pub struct Dpop {
    pub key: DpopKey,
    authorization_server: std::sync::Mutex<Option<String>>,
    upstream: std::sync::Mutex<Option<String>>,
}

/// Which server a nonce is of.
#[derive(Debug, Clone, Copy)]
pub enum Server {
    /// The authorization server (its token endpoint).
    Authorization,
    /// The upstream.
    Upstream,
}

impl Dpop {
    /// Proofs made with `key`.
    pub fn new(key: DpopKey) -> Self {
        Self {
            key,
            authorization_server: std::sync::Mutex::default(),
            upstream: std::sync::Mutex::default(),
        }
    }

    fn slot(&self, server: Server) -> std::sync::MutexGuard<'_, Option<String>> {
        let slot = match server {
            Server::Authorization => &self.authorization_server,
            Server::Upstream => &self.upstream,
        };
        slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A proof for a `method` request to `url` of `server`, presenting `token`, with that
    /// server's latest nonce.
    pub fn proof(
        &self,
        server: Server,
        method: &str,
        url: &str,
        token: Option<&str>,
    ) -> anyhow::Result<String> {
        let nonce = self.slot(server).clone();
        self.key.proof(method, url, token, nonce.as_deref())
    }

    /// `server` sent `nonce`: whether it is new (a request refused for want of it is worth
    /// sending again).
    pub fn learn(&self, server: Server, nonce: &str) -> bool {
        let mut slot = self.slot(server);
        if slot.as_deref() == Some(nonce) {
            return false;
        }
        *slot = Some(nonce.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(jwt: &str, n: usize) -> serde_json::Value {
        let bytes = B64.decode(jwt.split('.').nth(n).unwrap()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_proof_is_an_es256_jwt_that_verifies_with_the_key_in_its_header() {
        let key = DpopKey::generate().unwrap();
        let proof = key
            .proof(
                "POST",
                "https://up.example/mcp?x=1#f",
                Some("tok"),
                Some("n1"),
            )
            .unwrap();
        let header = part(&proof, 0);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(header["jwk"].get("d").is_none(), "no private part");
        let claims = part(&proof, 1);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://up.example/mcp");
        assert_eq!(claims["nonce"], "n1");
        assert_eq!(
            claims["ath"],
            B64.encode(sha2::Sha256::digest(b"tok")).as_str()
        );
        // The signature verifies with the public key the header carries.
        let jwk = &header["jwk"];
        let mut point = vec![4u8];
        point.extend(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(B64.decode(jwk["y"].as_str().unwrap()).unwrap());
        let (input, signature) = proof.rsplit_once('.').unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &B64.decode(signature).unwrap())
            .expect("the proof verifies");
        // Each proof is new; a kept key makes the same header.
        let again = key
            .proof("POST", "https://up.example/mcp", None, None)
            .unwrap();
        assert_ne!(part(&again, 1)["jti"], claims["jti"]);
        assert!(part(&again, 1).get("ath").is_none());
        let kept = DpopKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(kept.header, key.header);
    }
}

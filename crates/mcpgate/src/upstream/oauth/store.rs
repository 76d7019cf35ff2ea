//! Where an authorization code grant is kept between runs: one file per upstream in the data
//! directory (`oauth/<name>.grant`), sealed with AES-256-GCM under the key from
//! `MCPGATE_SECRET_KEY` or `MCPGATE_SECRET_KEY_FILE` (any string; its SHA-256 is the key).
//! The upstream's name is bound into the seal, so one upstream's file cannot stand in for
//! another's. Nothing is ever written unsealed: without a key, login refuses to store.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The format's prefix (a future format can be told apart).
const VERSION: &str = "v1.";

/// The key grants are sealed with.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// The key made from `secret` (at least 16 characters).
    pub fn derive(secret: &str) -> anyhow::Result<Self> {
        let secret = secret.trim();
        ensure!(
            secret.len() >= 16,
            "the secret key must be at least 16 characters"
        );
        Ok(Self(sha2::Sha256::digest(secret.as_bytes()).into()))
    }

    fn sealing(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key"))
    }
}

/// What is kept of a grant.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    pub issuer: String,
    pub refresh_token: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// The client the grant was made to (a registered one is not registered again).
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub auth_method: Option<String>,
    /// The DPoP key the grant's tokens are bound to (PKCS#8, base64), if any.
    #[serde(default)]
    pub dpop_key: Option<String>,
}

impl Stored {
    /// The DPoP key kept with the grant.
    pub fn dpop_key(&self) -> anyhow::Result<Option<super::dpop::DpopKey>> {
        let Some(encoded) = &self.dpop_key else {
            return Ok(None);
        };
        let pkcs8 = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("the stored DPoP key")?;
        super::dpop::DpopKey::from_pkcs8(&pkcs8).map(Some)
    }
}

/// A DPoP key's PKCS#8 as it is stored.
pub fn encode_key(pkcs8: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(pkcs8)
}

/// The grants of a data directory.
#[derive(Clone, Debug)]
pub struct GrantStore {
    dir: PathBuf,
    key: Option<SecretKey>,
}

impl GrantStore {
    /// The grants under `data_dir`, sealed with `key`.
    pub fn new(data_dir: &Path, key: Option<SecretKey>) -> Self {
        Self {
            dir: data_dir.join("oauth"),
            key,
        }
    }

    /// Whether grants can be sealed (a key is configured).
    pub fn can_seal(&self) -> bool {
        self.key.is_some()
    }

    /// Where upstream `name`'s grant is kept.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.grant"))
    }

    /// Seal and write upstream `name`'s grant (replacing the file atomically, readable by
    /// this user only).
    pub fn save(&self, name: &str, grant: &Stored) -> anyhow::Result<()> {
        let Some(key) = &self.key else {
            bail!("no MCPGATE_SECRET_KEY or MCPGATE_SECRET_KEY_FILE to seal the grant with")
        };
        let mut sealed = serde_json::to_vec(grant)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        key.sealing()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("could not seal the grant"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        let text = format!(
            "{VERSION}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        let path = self.path(name);
        let temporary = path.with_extension("grant.tmp");
        write_private(&temporary, text.as_bytes())?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("replace {}", path.display()))?;
        Ok(())
    }

    /// Upstream `name`'s grant, if one was stored.
    pub fn load(&self, name: &str) -> anyhow::Result<Option<Stored>> {
        let path = self.path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        let Some(key) = &self.key else {
            bail!(
                "{} is sealed: set MCPGATE_SECRET_KEY or MCPGATE_SECRET_KEY_FILE",
                path.display()
            )
        };
        let bytes = text
            .trim()
            .strip_prefix(VERSION)
            .and_then(|b| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .ok()
            })
            .filter(|b| b.len() > NONCE_LEN)
            .with_context(|| format!("{} is not a sealed grant", path.display()))?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let mut sealed = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("a nonce's length");
        let opened = key
            .sealing()
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut sealed)
            .map_err(|_| {
                anyhow::anyhow!(
                    "{} cannot be opened with this key (another key, or not {name}'s)",
                    path.display()
                )
            })?;
        Ok(Some(serde_json::from_slice(opened)?))
    }

    /// Forget upstream `name`'s grant.
    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Write `bytes` to a new file only this user can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Stored {
        Stored {
            issuer: "https://as".into(),
            refresh_token: "refresh-secret-value".into(),
            scope: Some("a b".into()),
            client_id: Some("c".into()),
            client_secret: None,
            auth_method: Some("none".into()),
            dpop_key: None,
        }
    }

    #[test]
    fn a_grant_is_sealed_at_rest_and_opens_only_with_its_key_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::derive("correct horse battery staple").unwrap();
        let store = GrantStore::new(dir.path(), Some(key));
        store.save("github", &grant()).unwrap();
        let file = std::fs::read_to_string(dir.path().join("oauth/github.grant")).unwrap();
        assert!(file.starts_with("v1."));
        assert!(!file.contains("refresh-secret-value"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("oauth/github.grant"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = store.load("github").unwrap().unwrap();
        assert_eq!(loaded.refresh_token, "refresh-secret-value");
        assert!(store.load("gitlab").unwrap().is_none());

        // Another key, or the file under another upstream's name, does not open.
        let other = GrantStore::new(
            dir.path(),
            Some(SecretKey::derive("another key, just as long").unwrap()),
        );
        assert!(other.load("github").is_err());
        std::fs::copy(
            dir.path().join("oauth/github.grant"),
            dir.path().join("oauth/gitlab.grant"),
        )
        .unwrap();
        assert!(store.load("gitlab").is_err());
        // Without a key nothing is written and nothing read.
        let keyless = GrantStore::new(dir.path(), None);
        assert!(keyless.save("x", &grant()).is_err());
        assert!(keyless.load("github").is_err());
        assert!(SecretKey::derive("short").is_err());
        store.remove("github").unwrap();
        assert!(store.load("github").unwrap().is_none());
    }
}

//! Secrets sealed at rest: channel secrets and reply-webhook secrets are
//! stored encrypted (XChaCha20-Poly1305, an AEAD from RustCrypto's
//! `chacha20poly1305`) under a key the database does not hold, so a dump of
//! the database alone reveals none of them.
//!
//! The key file holds one base64 key per line: the first seals, every line
//! opens. A sealed value names the key that sealed it
//! (`sealed:v1:<key id>:<base64 nonce + ciphertext>`), so a rotation can
//! put a new key first while values sealed under the old one still open,
//! and a running server that meets a key it does not know reads the file
//! again (`herald secrets rotate` writes the new key there) instead of
//! stopping.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

/// Why a stored value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "sealed under key {0}, which the secrets key file does not hold: start with the key file \
         that sealed it (--secrets-key-file)"
    )]
    UnknownKey(String),
    #[error("sealed under key {0} but does not open with it: the value or the key file is damaged")]
    Damaged(String),
    #[error("not a sealed value: secrets are never read back in clear")]
    NotSealed,
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Self {
        Self {
            // A short fingerprint names the key in sealed values and errors
            // without saying anything usable about it.
            id: hex::encode(&Sha256::digest(bytes)[..4]),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }
}

/// The keys that seal (the first) and open (all) stored secrets.
pub struct Keyring {
    keys: RwLock<Vec<Key>>,
    /// Where the keys came from, read again when a value names a key not
    /// yet known (a rotation by another process). `None`: in memory only.
    file: Option<PathBuf>,
}

impl Keyring {
    /// A random key held in memory only, for databases that die with the
    /// process (tests, benchmarks, `herald plugin check`).
    pub fn ephemeral() -> Self {
        Self {
            keys: RwLock::new(vec![Key::new(&rand::rng().random())]),
            file: None,
        }
    }

    /// The keys in `path`; with `create`, a missing file is created with a
    /// new random key (mode 0600) and the place logged.
    pub fn from_file(path: &Path, create: bool) -> anyhow::Result<Self> {
        if create && !path.exists() {
            write_key_file(path, &[rand::rng().random()])?;
            tracing::warn!(path = %path.display(),
                "created a new secrets key file: keep it with the database's backups but apart \
                 from them; without it the stored channel secrets cannot be opened");
        }
        Ok(Self {
            keys: RwLock::new(read_key_file(path)?),
            file: Some(path.to_owned()),
        })
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> String {
        self.keys.read().expect("keyring lock")[0].id.clone()
    }

    /// Encrypts `plain` under the first key.
    pub fn seal(&self, plain: &str) -> String {
        let keys = self.keys.read().expect("keyring lock");
        let key = &keys[0];
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let sealed = key
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("XChaCha20-Poly1305 encryption of an in-memory value cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", key.id, BASE64.encode(bytes))
    }

    /// Decrypts a value [`Keyring::seal`] made, reading the key file again
    /// once if the value names a key not known yet.
    pub fn open(&self, stored: &str) -> Result<String, OpenError> {
        let (id, body) = stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .ok_or(OpenError::NotSealed)?;
        match self.open_with_known(id, body) {
            Err(OpenError::UnknownKey(_)) if self.reload() => self.open_with_known(id, body),
            other => other,
        }
    }

    /// Whether a stored value is sealed (rather than from before sealing).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    fn open_with_known(&self, id: &str, body: &str) -> Result<String, OpenError> {
        let keys = self.keys.read().expect("keyring lock");
        let key = keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let damaged = || OpenError::Damaged(id.to_owned());
        let bytes = BASE64.decode(body).map_err(|_| damaged())?;
        if bytes.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = key
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }

    /// Reads the key file again; whether the keys changed.
    fn reload(&self) -> bool {
        let Some(path) = &self.file else {
            return false;
        };
        match read_key_file(path) {
            Ok(keys) => {
                let changed = {
                    let known = self.keys.read().expect("keyring lock");
                    keys.iter().map(|k| &k.id).ne(known.iter().map(|k| &k.id))
                };
                if changed {
                    tracing::info!(path = %path.display(), sealing_key = keys[0].id,
                        "secrets key file read again: its keys changed");
                    *self.keys.write().expect("keyring lock") = keys;
                }
                changed
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "reading the secrets key file again failed");
                false
            }
        }
    }
}

/// Puts the key in `new_key_file` (created with a random key if missing)
/// first in `key_file`, keeping the keys already there for opening; answers
/// the new sealing keyring.
pub fn put_new_key_first(key_file: &Path, new_key_file: &Path) -> anyhow::Result<Keyring> {
    if !new_key_file.exists() {
        write_key_file(new_key_file, &[rand::rng().random()])?;
    }
    let new = read_key_bytes(new_key_file)?;
    let Some(first) = new.first() else {
        bail!("{} holds no key", new_key_file.display());
    };
    let mut keys = vec![*first];
    keys.extend(read_key_bytes(key_file)?.into_iter().filter(|k| k != first));
    // Written whole and renamed into place: a reader sees the old file or
    // the new one, never half of it.
    let staged = key_file.with_extension("rotating");
    let _ = std::fs::remove_file(&staged);
    write_key_file(&staged, &keys)?;
    std::fs::rename(&staged, key_file)
        .with_context(|| format!("replacing {}", key_file.display()))?;
    Keyring::from_file(key_file, false)
}

fn write_key_file(path: &Path, keys: &[[u8; 32]]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the secrets key file {}", path.display()))?;
    writeln!(
        file,
        "# Herald secrets keys: the first seals, every one opens. Keep this file secret."
    )?;
    for key in keys {
        writeln!(file, "{}", BASE64.encode(key))?;
    }
    file.sync_all()?;
    Ok(())
}

fn read_key_bytes(path: &Path) -> anyhow::Result<Vec<[u8; 32]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secrets key file {}", path.display()))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes = BASE64
            .decode(line)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .with_context(|| {
                format!(
                    "{} line {}: not a base64 32-byte key",
                    path.display(),
                    n + 1
                )
            })?;
        keys.push(bytes);
    }
    Ok(keys)
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<Key>> {
    let keys: Vec<Key> = read_key_bytes(path)?.iter().map(Key::new).collect();
    if keys.is_empty() {
        bail!("the secrets key file {} holds no key", path.display());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_and_hide_their_text() {
        let ring = Keyring::ephemeral();
        let sealed = ring.seal("auth-token-123");
        assert!(Keyring::is_sealed(&sealed));
        assert!(!sealed.contains("auth-token-123"));
        // A fresh nonce each time: equal secrets do not look equal.
        assert_ne!(sealed, ring.seal("auth-token-123"));
        assert_eq!(ring.open(&sealed).unwrap(), "auth-token-123");
    }

    #[test]
    fn another_key_or_a_changed_byte_does_not_open() {
        let sealed = Keyring::ephemeral().seal("x");
        assert!(matches!(
            Keyring::ephemeral().open(&sealed),
            Err(OpenError::UnknownKey(_))
        ));
        let ring = Keyring::ephemeral();
        let sealed = ring.seal("secret");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(ring.open(&tampered), Err(OpenError::Damaged(_))));
        assert!(matches!(ring.open("{}"), Err(OpenError::NotSealed)));
    }

    #[test]
    fn rotation_puts_the_new_key_first_and_keeps_the_old_one_for_opening() {
        let dir = tempfile::tempdir().unwrap();
        let (file, new_file) = (dir.path().join("keys"), dir.path().join("new"));
        let old = Keyring::from_file(&file, true).unwrap();
        let sealed_before = old.seal("before");
        let rotated = put_new_key_first(&file, &new_file).unwrap();
        assert_ne!(rotated.sealing_key_id(), old.sealing_key_id());
        assert_eq!(rotated.open(&sealed_before).unwrap(), "before");
        // A process still holding the old keyring learns the new key from
        // the file when it meets a value sealed under it.
        let sealed_after = rotated.seal("after");
        assert_eq!(old.open(&sealed_after).unwrap(), "after");
        assert_eq!(old.sealing_key_id(), rotated.sealing_key_id());
        let mode = std::fs::metadata(&file).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}

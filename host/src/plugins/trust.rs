//! Which publishers a server trusts, and what it asks of a component's
//! signature before the component enters the registry.
//!
//! Trusted keys come from two places: `--trusted-keys FILE` (read at start,
//! this instance's configuration, changed by editing the file) and the
//! database (`/v1/admin/trusted-keys`, shared by every instance). A
//! signature is checked whether or not `--require-signed` is on: a
//! component that comes with a signature is installed only if the
//! signature holds and its key is trusted, so a signature in the registry
//! always means something. The flag only adds that a component without one
//! is refused.

use std::path::Path;

use anyhow::Context;

use super::signing::{self, Parsed, Refusal, SignatureFile};
use crate::store::{NewPluginSignature, Store, StoreError, TrustedKeyRow, now_ms};

/// Where a trusted key was configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `--trusted-keys FILE`: removed by editing the file.
    File,
    /// The admin API, kept in the database.
    Api,
}

#[derive(Clone, Debug)]
pub struct TrustedKey {
    pub key_id: String,
    pub publisher: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub source: KeySource,
    /// When it was added through the API.
    pub added_at: Option<i64>,
}

impl TrustedKey {
    fn from_row(r: TrustedKeyRow) -> Self {
        Self {
            key_id: r.key_id,
            publisher: r.publisher,
            public_key: r.public_key,
            source: KeySource::Api,
            added_at: Some(r.added_at),
        }
    }
}

/// What `serve` was told: the file's keys and whether unsigned components
/// are refused.
#[derive(Clone, Debug, Default)]
pub struct TrustPolicy {
    file_keys: Vec<TrustedKey>,
    require_signed: bool,
}

impl TrustPolicy {
    /// Reads `--trusted-keys`; a line that does not parse stops the start
    /// (a key silently skipped would refuse its publisher's uploads later,
    /// far from the cause).
    pub fn load(file: Option<&Path>, require_signed: bool) -> anyhow::Result<Self> {
        let file_keys = match file {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --trusted-keys {}", path.display()))?;
                parse_key_lines(&text)
                    .map_err(|e| anyhow::anyhow!("--trusted-keys {}: {e}", path.display()))?
            }
        };
        Ok(Self {
            file_keys,
            require_signed,
        })
    }
}

/// The trusted-keys file: one key a line, `<base64 public key> <publisher>`
/// (what `herald plugin keygen` writes to `NAME.pub`); blank lines and
/// lines starting with `#` are skipped.
fn parse_key_lines(text: &str) -> Result<Vec<TrustedKey>, String> {
    let mut keys: Vec<TrustedKey> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", n + 1);
        let (key, publisher) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| at("expected `<base64 public key> <publisher>`".into()))?;
        let key = signing::public_key(key).map_err(|e| at(format!("public key: {e}")))?;
        let publisher = publisher_name(publisher).map_err(at)?;
        let key_id = signing::key_id(&key);
        if keys.iter().any(|k| k.key_id == key_id) {
            return Err(at(format!("key {key_id} is listed twice")));
        }
        keys.push(TrustedKey {
            key_id,
            publisher,
            public_key: signing::public_key_text(&key),
            source: KeySource::File,
            added_at: None,
        });
    }
    Ok(keys)
}

/// A publisher's name as shown beside each version it signed: 1 to 100
/// characters, no control characters.
pub fn publisher_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("publisher must be 1 to 100 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("publisher must not contain control characters".into());
    }
    Ok(name.to_owned())
}

/// A signature that passed every check that needs no compiling: the
/// component is the one signed, the key is trusted, the signature holds.
/// The manifest is checked once the component is compiled.
pub struct Admitted {
    pub publisher: String,
    pub key_id: String,
    pub file: SignatureFile,
}

impl Admitted {
    pub fn check_manifest(&self, manifest_json: &str) -> Result<(), Refusal> {
        let actual = signing::manifest_sha256(manifest_json);
        if actual != self.file.manifest_sha256 {
            return Err(Refusal::ManifestMismatch {
                signed: self.file.manifest_sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// The row stored with the version.
    pub fn record(&self) -> NewPluginSignature<'_> {
        NewPluginSignature {
            key_id: &self.key_id,
            publisher: &self.publisher,
            public_key: &self.file.public_key,
            manifest_sha256: &self.file.manifest_sha256,
            signature: &self.file.signature,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("no trusted key {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registry's gate: trusted keys and the upload checks.
pub struct Trust {
    policy: TrustPolicy,
    store: Store,
}

impl Trust {
    pub fn new(store: Store, policy: TrustPolicy) -> Self {
        Self { policy, store }
    }

    pub fn require_signed(&self) -> bool {
        self.policy.require_signed
    }

    /// Every trusted key: the file's, then the database's (a key in both
    /// is listed once, as the file's, which is what removes it).
    pub async fn keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        let mut keys = self.policy.file_keys.clone();
        for row in self.store.trusted_keys().await? {
            if !keys.iter().any(|k| k.key_id == row.key_id) {
                keys.push(TrustedKey::from_row(row));
            }
        }
        Ok(keys)
    }

    /// The trusted key with these bytes, if any (file first).
    async fn find(&self, public_key: &str) -> Result<Option<TrustedKey>, StoreError> {
        if let Some(k) = self
            .policy
            .file_keys
            .iter()
            .find(|k| k.public_key == public_key)
        {
            return Ok(Some(k.clone()));
        }
        Ok(self
            .store
            .trusted_key(public_key)
            .await?
            .map(TrustedKey::from_row))
    }

    /// Trusts a publisher's key on every instance (the database's list).
    pub async fn add(&self, publisher: &str, public_key: &str) -> Result<TrustedKey, TrustError> {
        let invalid = |field, message| TrustError::Invalid { field, message };
        let publisher = publisher_name(publisher).map_err(|m| invalid("publisher", m))?;
        let key = signing::public_key(public_key).map_err(|m| invalid("public_key", m))?;
        let key_id = signing::key_id(&key);
        let public_key = signing::public_key_text(&key);
        if let Some(k) = self.find(&public_key).await? {
            return Err(TrustError::Conflict(format!(
                "key {key_id} is already trusted, as {:?}",
                k.publisher
            )));
        }
        let row = TrustedKeyRow {
            key_id,
            publisher,
            public_key,
            added_at: now_ms(),
        };
        self.store
            .add_trusted_key(&row)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    TrustError::Conflict(format!("key {} is already trusted", row.key_id))
                }
                e => e.into(),
            })?;
        tracing::info!(
            key_id = row.key_id,
            publisher = row.publisher,
            "publisher key trusted"
        );
        Ok(TrustedKey::from_row(row))
    }

    /// Stops trusting a key added through the API. Versions it signed
    /// stay installed and keep showing their signer, marked untrusted.
    pub async fn remove(&self, key_id: &str) -> Result<(), TrustError> {
        if self.policy.file_keys.iter().any(|k| k.key_id == key_id) {
            return Err(TrustError::Conflict(format!(
                "key {key_id} comes from --trusted-keys; remove its line there and restart"
            )));
        }
        match self.store.remove_trusted_key(key_id).await {
            Err(StoreError::NotFound) => Err(TrustError::NotFound(key_id.to_owned())),
            Err(e) => Err(e.into()),
            Ok(()) => {
                tracing::warn!(key_id, "publisher key no longer trusted");
                Ok(())
            }
        }
    }

    /// The checks before compiling, cheapest first: an unsigned component
    /// passes unless signatures are required; a signed one must be the
    /// component signed (sha256), by a trusted key, with a signature that
    /// holds. `Ok(None)`: unsigned and allowed.
    pub async fn admit(
        &self,
        sha256: &str,
        signature: Option<&Parsed>,
    ) -> Result<Option<Admitted>, AdmitError> {
        let Some(parsed) = signature else {
            if self.policy.require_signed {
                return Err(Refusal::Unsigned.into());
            }
            return Ok(None);
        };
        if parsed.file.sha256 != sha256 {
            return Err(Refusal::Tampered {
                signed: parsed.file.sha256.clone(),
                actual: sha256.to_owned(),
            }
            .into());
        }
        let public_key = signing::public_key_text(&parsed.key);
        let Some(trusted) = self.find(&public_key).await? else {
            return Err(Refusal::UnknownKey {
                key_id: parsed.key_id(),
            }
            .into());
        };
        parsed.verify()?;
        Ok(Some(Admitted {
            publisher: trusted.publisher,
            key_id: trusted.key_id,
            file: SignatureFile {
                public_key,
                ..parsed.file.clone()
            },
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_file_reads_keygen_lines_and_names_a_bad_line() {
        let a = signing::generate().verifying_key();
        let b = signing::generate().verifying_key();
        let text = format!(
            "# publishers we ship\n\n{} Acme Messaging Ltd\n  {}\tplatform-team\n",
            signing::public_key_text(&a),
            signing::public_key_text(&b)
        );
        let keys = parse_key_lines(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].publisher, "Acme Messaging Ltd");
        assert_eq!(keys[0].key_id, signing::key_id(&a));
        assert_eq!(keys[1].publisher, "platform-team");
        assert_eq!(keys[1].source, KeySource::File);

        let bad = format!("{}\nnot-base64 someone\n", text.trim_end());
        let e = parse_key_lines(&bad).unwrap_err();
        assert!(e.starts_with("line 5: public key"), "{e}");
        let lonely = format!("{}\n", signing::public_key_text(&a));
        assert!(parse_key_lines(&lonely).unwrap_err().contains("line 1"));
        let twice = format!("{text}{} again\n", signing::public_key_text(&a));
        assert!(
            parse_key_lines(&twice)
                .unwrap_err()
                .contains("listed twice")
        );
    }

    #[test]
    fn publisher_names_are_bounded() {
        assert_eq!(publisher_name("  acme ").unwrap(), "acme");
        assert!(publisher_name("").is_err());
        assert!(publisher_name(&"x".repeat(101)).is_err());
        assert!(publisher_name("a\u{7}b").is_err());
    }
}

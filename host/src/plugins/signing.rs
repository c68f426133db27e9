//! Signed plugin packages: the signature file `herald plugin sign` writes
//! beside a component and the server verifies on install.
//!
//! The file is JSON, every field either signed data or what verifies it:
//!
//! ```json
//! { "format": "herald-plugin-signature/1",
//!   "public_key": "<base64, the 32-byte Ed25519 public key>",
//!   "sha256": "<hex, the component's bytes>",
//!   "manifest_sha256": "<hex, the component's manifest as Herald reads it>",
//!   "signature": "<base64, the 64-byte Ed25519 signature of the message>" }
//! ```
//!
//! The signed message is the text
//! `herald-plugin-signature/1\nsha256 <sha256>\nmanifest-sha256 <manifest_sha256>\n`:
//! the format tag keeps a signature made for anything else from passing as
//! one of these. Who signed is not in the file: the server names the
//! publisher from its own trusted keys, so a file cannot claim a name.
//! Private keys are PKCS#8 PEM (what `openssl genpkey -algorithm ed25519`
//! writes), public keys the raw 32 bytes in base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::channel_name;
use super::wit::PluginManifest;

pub const FORMAT: &str = "herald-plugin-signature/1";

/// The signature file, as written and as sent (`Herald-Signature` header,
/// base64 of these JSON bytes; the console's `signature` file part).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    pub format: String,
    pub public_key: String,
    pub sha256: String,
    pub manifest_sha256: String,
    pub signature: String,
}

/// Why an upload's signature does not admit it. Each has a stable
/// `reason` for clients and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the component is unsigned and this server requires signed plugins (--require-signed): \
         sign it with `herald plugin sign` and send the signature with it"
    )]
    Unsigned,
    #[error("the signature file is unreadable: {0}")]
    Malformed(String),
    #[error(
        "the component's sha256 is {actual}, but the signature is for {signed}: the component \
         changed after it was signed"
    )]
    Tampered { signed: String, actual: String },
    #[error(
        "the signature is by key {key_id}, which this server does not trust (add it with \
         --trusted-keys or POST /v1/admin/trusted-keys)"
    )]
    UnknownKey { key_id: String },
    #[error(
        "the signature does not verify with key {key_id}: it was not made by that key for this component and manifest"
    )]
    BadSignature { key_id: String },
    #[error(
        "the component's manifest hashes to {actual}, but the signature is for manifest {signed}: \
         it was signed for another manifest"
    )]
    ManifestMismatch { signed: String, actual: String },
}

impl Refusal {
    /// The machine-readable reason (`error.reason` in the API's answer).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::Malformed(_) => "malformed",
            Refusal::Tampered { .. } => "sha256_mismatch",
            Refusal::UnknownKey { .. } => "unknown_key",
            Refusal::BadSignature { .. } => "bad_signature",
            Refusal::ManifestMismatch { .. } => "manifest_mismatch",
        }
    }
}

/// A signature file whose fields parse, not yet verified.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub key: VerifyingKey,
    pub signature: Signature,
    pub file: SignatureFile,
}

impl Parsed {
    pub fn from_json(bytes: &[u8]) -> Result<Self, Refusal> {
        let malformed = |m: String| Refusal::Malformed(m);
        let file: SignatureFile =
            serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        if file.format != FORMAT {
            return Err(malformed(format!(
                "format {:?}; this server reads {FORMAT:?}",
                file.format
            )));
        }
        for (field, value) in [
            ("sha256", &file.sha256),
            ("manifest_sha256", &file.manifest_sha256),
        ] {
            if !is_sha256_hex(value) {
                return Err(malformed(format!("{field} is not 64 lowercase hex digits")));
            }
        }
        let key =
            public_key(&file.public_key).map_err(|e| malformed(format!("public_key: {e}")))?;
        let signature = BASE64
            .decode(&file.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or_else(|| malformed("signature is not 64 bytes in base64".into()))?;
        Ok(Self {
            key,
            signature,
            file,
        })
    }

    pub fn key_id(&self) -> String {
        key_id(&self.key)
    }

    /// The cryptographic check: the key signed this sha256 and manifest.
    /// Strict verification refuses weak keys and malleable signatures.
    pub fn verify(&self) -> Result<(), Refusal> {
        let message = message(&self.file.sha256, &self.file.manifest_sha256);
        self.key
            .verify_strict(&message, &self.signature)
            .map_err(|_| Refusal::BadSignature {
                key_id: self.key_id(),
            })
    }
}

/// The bytes a signature covers.
pub fn message(sha256: &str, manifest_sha256: &str) -> Vec<u8> {
    format!("{FORMAT}\nsha256 {sha256}\nmanifest-sha256 {manifest_sha256}\n").into_bytes()
}

/// Signs a component's sha256 and manifest hash.
pub fn sign(key: &SigningKey, sha256: &str, manifest_sha256: &str) -> SignatureFile {
    let signature = key.sign(&message(sha256, manifest_sha256));
    SignatureFile {
        format: FORMAT.to_owned(),
        public_key: BASE64.encode(key.verifying_key().to_bytes()),
        sha256: sha256.to_owned(),
        manifest_sha256: manifest_sha256.to_owned(),
        signature: BASE64.encode(signature.to_bytes()),
    }
}

/// A short, stable name for a public key: the first 16 hex digits of the
/// sha256 of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.to_bytes())[..8])
}

/// A public key from its base64 text.
pub fn public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|_| "not base64".to_owned())?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes; an Ed25519 public key is 32", b.len()))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "not an Ed25519 point".to_owned())?;
    if key.is_weak() {
        return Err("a weak (small-order) key".into());
    }
    Ok(key)
}

pub fn public_key_text(key: &VerifyingKey) -> String {
    BASE64.encode(key.to_bytes())
}

/// The manifest hash a signature covers: the sha256 of the manifest's JSON
/// as the registry stores it with each version.
pub fn manifest_sha256(manifest_json: &str) -> String {
    hex::encode(Sha256::digest(manifest_json.as_bytes()))
}

/// The manifest's canonical JSON: stored with each version and hashed for
/// signatures, so it is spelled out here rather than left to a map's key
/// order or a generated type's `Debug`: compact, keys in the order of these
/// structs, channel kinds by their WIT names. Changing it would turn every
/// signature made before into a `manifest_mismatch`.
pub fn manifest_json(m: &PluginManifest) -> String {
    #[derive(Serialize)]
    struct Manifest<'a> {
        allowed_hosts: &'a [String],
        channels: Vec<&'static str>,
        config: Vec<Field<'a>>,
        name: &'a str,
        version: &'a str,
    }
    #[derive(Serialize)]
    struct Field<'a> {
        description: &'a str,
        label: &'a str,
        name: &'a str,
        required: bool,
        secret: bool,
    }
    let manifest = Manifest {
        allowed_hosts: &m.allowed_hosts,
        channels: m.channels.iter().map(channel_name).collect(),
        config: m
            .config
            .iter()
            .map(|f| Field {
                description: &f.description,
                label: &f.label,
                name: &f.name,
                required: f.required,
                secret: f.secret,
            })
            .collect(),
        name: &m.name,
        version: &m.version,
    };
    serde_json::to_string(&manifest).expect("a manifest serialises")
}

/// Where `herald plugin sign` writes a component's signature, and where
/// `install` and `--plugins-dir` look for it: the path with `.sig` added.
pub fn signature_path(wasm_path: &std::path::Path) -> std::path::PathBuf {
    let mut path = wasm_path.as_os_str().to_owned();
    path.push(".sig");
    path.into()
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A new key pair, from rand's thread generator (a CSPRNG seeded by the
/// OS, as the secrets' keys are).
pub fn generate() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

/// The private key as PKCS#8 PEM.
pub fn private_key_pem(key: &SigningKey) -> anyhow::Result<String> {
    Ok(key.to_pkcs8_pem(LineEnding::LF)?.to_string())
}

pub fn private_key_from_pem(pem: &str) -> anyhow::Result<SigningKey> {
    SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| anyhow::anyhow!("not an Ed25519 private key in PKCS#8 PEM: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::wit::ChannelKind;

    fn signed() -> (SigningKey, SignatureFile) {
        let key = generate();
        let file = sign(&key, &"a".repeat(64), &"b".repeat(64));
        (key, file)
    }

    fn parse(file: &SignatureFile) -> Result<Parsed, Refusal> {
        Parsed::from_json(&serde_json::to_vec(file).unwrap())
    }

    #[test]
    fn a_signature_verifies_and_a_changed_field_does_not() {
        let (_, file) = signed();
        assert!(parse(&file).unwrap().verify().is_ok());
        let other = SignatureFile {
            manifest_sha256: "c".repeat(64),
            ..file
        };
        assert_eq!(
            parse(&other).unwrap().verify().unwrap_err().reason(),
            "bad_signature"
        );
    }

    #[test]
    fn a_signature_for_another_purpose_does_not_pass() {
        // The same key signing the bare hashes (no format tag) is refused.
        let key = generate();
        let bare = key.sign(format!("{}{}", "a".repeat(64), "b".repeat(64)).as_bytes());
        let file = SignatureFile {
            signature: BASE64.encode(bare.to_bytes()),
            ..sign(&key, &"a".repeat(64), &"b".repeat(64))
        };
        assert!(parse(&file).unwrap().verify().is_err());
    }

    #[test]
    fn unreadable_files_name_the_field() {
        let (_, file) = signed();
        let cases = [
            (
                SignatureFile {
                    format: "other/1".into(),
                    ..file.clone()
                },
                "format",
            ),
            (
                SignatureFile {
                    sha256: "ABC".into(),
                    ..file.clone()
                },
                "sha256",
            ),
            (
                SignatureFile {
                    public_key: BASE64.encode([1u8; 31]),
                    ..file.clone()
                },
                "public_key",
            ),
            (
                SignatureFile {
                    signature: "!!".into(),
                    ..file.clone()
                },
                "signature",
            ),
        ];
        for (bad, field) in cases {
            match parse(&bad) {
                Err(Refusal::Malformed(m)) => assert!(m.contains(field), "{field}: {m}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(
            Parsed::from_json(b"{\"format\": 1}"),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn the_private_key_survives_pem() {
        let key = generate();
        let back = private_key_from_pem(&private_key_pem(&key).unwrap()).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert!(
            private_key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }

    #[test]
    fn the_canonical_manifest_is_pinned() {
        use crate::plugins::wit::ConfigField;
        let m = PluginManifest {
            name: "acme-sms".into(),
            version: "1.2.3".into(),
            channels: vec![ChannelKind::Sms, ChannelKind::Mms],
            config: vec![ConfigField {
                name: "api-key".into(),
                label: "API key".into(),
                description: "Says \"hi\"".into(),
                required: true,
                secret: true,
            }],
            allowed_hosts: vec!["api.acme.test".into()],
        };
        // Signatures depend on these exact bytes.
        assert_eq!(
            manifest_json(&m),
            r#"{"allowed_hosts":["api.acme.test"],"channels":["sms","mms"],"config":[{"description":"Says \"hi\"","label":"API key","name":"api-key","required":true,"secret":true}],"name":"acme-sms","version":"1.2.3"}"#
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point: every signature "verifies" under it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(
            public_key(&BASE64.encode(identity))
                .unwrap_err()
                .contains("weak")
        );
    }
}

//! `herald plugin keygen` and `herald plugin sign`: a publisher's key pair,
//! and the signature file a server checks on install (format in
//! `plugins::signing`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::plugins::signing::{self, SignatureFile};
use crate::plugins::trust::publisher_name;
use crate::plugins::{CompileCache, Runtime, RuntimeLimits, load_component};

/// Writes `dir/NAME.key` (private, mode 0600) and `dir/NAME.pub`; answers
/// what to tell the operator. Never overwrites a key.
pub fn keygen(name: &str, publisher: Option<&str>, dir: &Path) -> anyhow::Result<String> {
    let name_ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !name_ok {
        bail!("key name {name:?} must match [A-Za-z0-9._-]+ (it names NAME.key and NAME.pub)");
    }
    let publisher = publisher_name(publisher.unwrap_or(name)).map_err(anyhow::Error::msg)?;
    let key = signing::generate();
    let public = key.verifying_key();
    let line = format!("{} {publisher}\n", signing::public_key_text(&public));
    let (key_path, pub_path) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    if pub_path.exists() {
        bail!("{} already exists; choose another name", pub_path.display());
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("creating {}", key_path.display()))?;
    file.write_all(signing::private_key_pem(&key)?.as_bytes())?;
    file.sync_all()?;
    std::fs::write(&pub_path, &line).with_context(|| format!("writing {}", pub_path.display()))?;
    Ok(format!(
        "key {} for publisher {publisher:?}\n  private: {} (keep it secret)\n  public:  {} \
         (append it to a server's --trusted-keys file)\n",
        signing::key_id(&public),
        key_path.display(),
        pub_path.display()
    ))
}

/// Signs the component at `wasm_path` with the key at `key_path`, writing
/// the signature to `out` (default `FILE.sig`); answers what was signed.
pub async fn sign(wasm_path: &Path, key_path: &Path, out: Option<&Path>) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(key_path)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let key = signing::private_key_from_pem(&pem)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let wasm =
        std::fs::read(wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    // The manifest as a server reads it: compile and ask the component.
    let runtime = Runtime::new(RuntimeLimits::default())?;
    let sha256 = hex::encode(Sha256::digest(&wasm));
    let plugin = load_component(&runtime, &CompileCache::new(None), &wasm, sha256)
        .await
        .with_context(|| {
            format!(
                "{} cannot be installed, so it is not signed",
                wasm_path.display()
            )
        })?;
    let manifest_sha256 = signing::manifest_sha256(&signing::manifest_json(&plugin.manifest));
    let file: SignatureFile = signing::sign(&key, &plugin.sha256, &manifest_sha256);
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| signing::signature_path(wasm_path));
    std::fs::write(&out, serde_json::to_string_pretty(&file)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(format!(
        "signed {} {} (sha256 {}) with key {}: {}\n",
        plugin.name(),
        plugin.version(),
        plugin.sha256,
        signing::key_id(&key.verifying_key()),
        out.display()
    ))
}

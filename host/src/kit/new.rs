//! `herald plugin new NAME`: a ready-to-build provider crate, made from the
//! example plugin in docs/plugins.md, with its own copy of the contract and
//! the guest SDK (`sdk/rust`, crate `herald-plugin`) as a dependency by path
//! into this repository until the SDK is published.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

const EXAMPLE: &str = include_str!("../../../plugins/example-http-sms/src/lib.rs");
const CONTRACT: &str = include_str!("../../../wit/provider.wit");

/// Writes `dir/NAME/` and returns its path.
pub fn create(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || name.starts_with('-')
    {
        bail!("plugin name {name:?} must match [a-z0-9-]+ (it becomes the manifest name)");
    }
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} already exists; choose another name or directory",
            root.display()
        );
    }
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::create_dir_all(root.join("wit"))?;
    let source = EXAMPLE
        .replace("example-http-sms", name)
        .replace(r#"bindings!("../../wit""#, r#"bindings!("wit""#);
    let files = [
        ("Cargo.toml", cargo_toml(name)),
        ("src/lib.rs", source),
        ("wit/provider.wit", CONTRACT.to_owned()),
        ("README.md", readme(name)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (path, contents) in files {
        std::fs::write(root.join(path), contents).with_context(|| format!("writing {path}"))?;
    }
    Ok(root)
}

/// The SDK in the source tree this binary was built from.
fn sdk_path() -> String {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/rust");
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    // TOML basic string: backslashes (Windows paths) escaped.
    sdk.display().to_string().replace('\\', "\\\\")
}

fn cargo_toml(name: &str) -> String {
    let sdk = sdk_path();
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# rlib too, so `cargo test` runs the plugin natively with the SDK's test kit.
crate-type = ["cdylib", "rlib"]

[dependencies]
herald-plugin = {{ path = "{sdk}" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
strip = true

# A standalone crate, even when created inside another workspace.
[workspace]
"#
    )
}

fn readme(name: &str) -> String {
    let file = name.replace('-', "_");
    format!(
        r#"# {name}

A Herald provider plugin. Start from `src/lib.rs` (a complete JSON-over-HTTP
SMS provider) and adapt `send` and `handle-webhook` to your provider's API.
The contract is `wit/provider.wit`; every item is documented there.

    rustup target add wasm32-wasip2
    cargo build --release --target wasm32-wasip2
    herald plugin check target/wasm32-wasip2/release/{file}.wasm

Ship it: copy the `.wasm` into Herald's `--plugins-dir`, or upload it with
`curl --data-binary @target/wasm32-wasip2/release/{file}.wasm -H "Authorization: Bearer $ADMIN_KEY" "$HERALD/v1/admin/plugins?activate=true"`.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_standalone_crate() {
        let dir = tempfile::tempdir().unwrap();
        let root = create("acme-sms", dir.path()).unwrap();
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
        assert!(lib.contains(r#"name: "acme-sms".into()"#));
        assert!(lib.contains(r#"herald_plugin::bindings!("wit""#));
        assert!(root.join("wit/provider.wit").exists());
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("[workspace]"));
        let sdk = format!("herald-plugin = {{ path = \"{}\" }}", sdk_path());
        assert!(cargo.contains(&sdk), "{cargo}");
        assert!(Path::new(&sdk_path()).join("Cargo.toml").exists());
        // The issue's bar for a JSON-over-HTTP SMS provider on the SDK.
        assert!(lib.lines().count() < 150, "{} lines", lib.lines().count());
        assert!(
            create("acme-sms", dir.path()).is_err(),
            "refuses to overwrite"
        );
        assert!(create("Bad Name", dir.path()).is_err());
    }
}

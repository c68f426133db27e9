//! What an uploaded file is, before anything runs: a WebAssembly component
//! that exports a supported version of `herald:provider/provider`. Each
//! refusal says what is wrong and what to do.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The contract this host serves: same major, this minor or older.
pub const WORLD_PACKAGE: &str = "herald:provider";
pub const SUPPORTED_MAJOR: u64 = 1;
pub const SUPPORTED_MINOR: u64 = 5;

/// Largest component accepted.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstallError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {0} bytes; the limit is {MAX_COMPONENT_BYTES}")]
    TooLarge(usize),
    #[error("not a WebAssembly file (no \\0asm header)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build the plugin for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("not a valid component: {0}")]
    Invalid(String),
    #[error(
        "does not implement the provider world: it exports no {WORLD_PACKAGE}/provider \
         interface (exports: {0})"
    )]
    OtherWorld(String),
    #[error(
        "implements {WORLD_PACKAGE}@{0}, which this Herald does not serve \
         (it serves {SUPPORTED_MAJOR}.0 to {SUPPORTED_MAJOR}.{SUPPORTED_MINOR})"
    )]
    UnsupportedVersion(String),
    #[error("needs imports this Herald does not provide: {0}")]
    Link(String),
    #[error("manifest invalid: {0}")]
    Manifest(String),
    #[error("the plugin failed while reporting its manifest: {0}")]
    ManifestCall(String),
}

/// Cheap checks on the bytes: size and kind.
pub fn check_bytes(wasm: &[u8]) -> Result<(), InstallError> {
    if wasm.is_empty() {
        return Err(InstallError::Empty);
    }
    if wasm.len() > MAX_COMPONENT_BYTES {
        return Err(InstallError::TooLarge(wasm.len()));
    }
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(InstallError::NotWasm);
    }
    // The version field tells a core module (1) from a component (layer 1).
    if wasm[4..8] == [1, 0, 0, 0] {
        return Err(InstallError::CoreModule);
    }
    Ok(())
}

/// The version of the provider world a compiled component exports
/// (`1.0.0`), refusing other worlds and unsupported versions.
pub fn world_version(engine: &Engine, component: &Component) -> Result<String, InstallError> {
    let prefix = format!("{WORLD_PACKAGE}/provider@");
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let Some(version) = exports.iter().find_map(|e| e.strip_prefix(&prefix)) else {
        return Err(InstallError::OtherWorld(if exports.is_empty() {
            "none".into()
        } else {
            exports.join(", ")
        }));
    };
    let mut parts = version.split('.').map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(SUPPORTED_MAJOR)), Some(Ok(minor))) if (0..=SUPPORTED_MINOR).contains(&minor) => {
            Ok(version.to_owned())
        }
        _ => Err(InstallError::UnsupportedVersion(version.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_by_header() {
        assert_eq!(check_bytes(b""), Err(InstallError::Empty));
        assert_eq!(check_bytes(b"hello world"), Err(InstallError::NotWasm));
        assert_eq!(
            check_bytes(b"\0asm\x01\0\0\0"),
            Err(InstallError::CoreModule)
        );
        assert_eq!(check_bytes(b"\0asm\x0d\0\x01\0"), Ok(()));
        assert!(matches!(
            check_bytes(&vec![0; MAX_COMPONENT_BYTES + 1]),
            Err(InstallError::TooLarge(_))
        ));
    }
}

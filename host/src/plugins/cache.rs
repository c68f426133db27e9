//! Compiled code cache: a component's machine code, precompiled by this
//! engine, kept on disk so a restart with many plugins skips Cranelift.
//! Entries are keyed by the wasm's sha256 and the engine's compatibility
//! hash, so a Herald upgrade or a config change never loads stale code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::compile_child::CompileChild;

pub struct CompileCache {
    dir: Option<PathBuf>,
    /// Where set, a missing entry is compiled in a child process (see
    /// `compile_child`); else, and should the child fail, in this one.
    child: Option<CompileChild>,
}

impl CompileCache {
    /// `None` disables the cache.
    pub fn new(dir: Option<PathBuf>) -> Self {
        if let Some(d) = &dir
            && let Err(e) = std::fs::create_dir_all(d)
        {
            tracing::warn!(dir = %d.display(), error = %e, "compile cache disabled: cannot create its directory");
            return Self {
                dir: None,
                child: None,
            };
        }
        Self { dir, child: None }
    }

    /// Compiles missing entries in a child process (only with a directory:
    /// the child hands its code over as a cache entry).
    pub fn compiling_in(mut self, child: Option<CompileChild>) -> Self {
        self.child = child;
        self
    }

    fn path(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", h.finish())))
    }

    /// Loads the precompiled component, or compiles and stores it.
    pub fn component(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<Component> {
        let Some(path) = self.path(engine, sha256) else {
            let component = Component::new(engine, wasm);
            return_compiler_memory();
            return component;
        };
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an
            // engine with the same compatibility hash, into Herald's own
            // cache directory; wasmtime checks its header again on load.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cache entry unusable; recompiling")
                }
            }
        }
        // Written under a name unique to this writer, then renamed: neither a
        // crash nor another process filling the same entry leaves it torn.
        let tmp = path.with_extension(format!(
            "{}-{}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        if let Some(child) = &self.child {
            match compiled_by_child(child, engine, wasm, &tmp, &path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    tracing::warn!(sha256, error = %format!("{e:#}"),
                        "compiling in a child process failed; compiling in the server");
                }
            }
        }
        let compiled = engine.precompile_component(wasm);
        return_compiler_memory();
        let compiled = compiled?;
        if std::fs::write(&tmp, &compiled)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_ok()
        {
            // Mapped from the file, as on a restart, rather than copied
            // from the bytes: the code is then page cache, not heap (the
            // Python plugin's is 35 MB).
            drop(compiled);
            // SAFETY: the entry just written by this engine's precompile.
            return unsafe { Component::deserialize_file(engine, &path) };
        }
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(path = %path.display(), "could not write compile cache entry");
        // SAFETY: bytes just produced by this engine's precompile.
        unsafe { Component::deserialize(engine, &compiled) }
    }
}

/// The child's code, moved into place as the entry and loaded from it.
/// Loading checks it was compiled for this engine's settings.
fn compiled_by_child(
    child: &CompileChild,
    engine: &Engine,
    wasm: &[u8],
    tmp: &Path,
    path: &Path,
) -> anyhow::Result<Component> {
    child.precompile(wasm, tmp)?;
    std::fs::rename(tmp, path)?;
    // SAFETY: written by `herald plugin precompile`, this executable,
    // into Herald's own cache directory; wasmtime checks its header
    // against this engine's settings on load.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Ok(component),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e.into())
        }
    }
}

/// Cranelift's working memory (hundreds of MiB for a large component) is
/// freed into the heaps of the threads that compiled, rayon's, where
/// mimalloc keeps it until that thread allocates again, which an idle
/// compile thread never does: a server that compiled its plugins at start
/// stayed at 550 MiB of RSS, one that loaded them from the cache at 137.
/// Each compiling thread, and this one, hands its free pages back now.
fn return_compiler_memory() {
    // SAFETY: `mi_collect` only frees what its thread's heap holds unused.
    rayon::broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
    unsafe { libmimalloc_sys::mi_collect(true) };
}

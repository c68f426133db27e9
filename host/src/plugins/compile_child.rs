//! Compiling a component in a child process (`herald plugin precompile`).
//!
//! Cranelift's working memory grows with the component: compiling the
//! bundled Python plugin (18 MB of wasm, 35 MB of machine code) took the
//! server's peak RSS from about 140 MiB to 474 MiB on a fresh start, and a
//! peak stays a peak even after the memory is handed back. A child process
//! takes that peak with it when it exits; the server only maps the code it
//! wrote into the compile cache, as it does on a restart.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

/// How to run the compiler child: this server's own executable, and the two
/// figures its engine is built from (see `runtime::engine`), so the child's
/// machine code is what this engine loads.
#[derive(Clone, Debug)]
pub struct CompileChild {
    program: PathBuf,
    memory_bytes: usize,
    max_instances: u32,
}

impl CompileChild {
    /// The running executable as the compiler; `None` when it cannot be
    /// found (compiling then happens in-process).
    pub fn this_executable(memory_bytes: usize, max_instances: u32) -> Option<Self> {
        let program = std::env::current_exe().ok()?;
        Some(Self {
            program,
            memory_bytes,
            max_instances,
        })
    }

    /// Compiles `wasm` (handed over on the child's stdin) into `out` in a
    /// child process.
    pub fn precompile(&self, wasm: &[u8], out: &Path) -> anyhow::Result<()> {
        let mut child = Command::new(&self.program)
            .args(["plugin", "precompile"])
            .arg("--memory-bytes")
            .arg(self.memory_bytes.to_string())
            .arg("--max-instances")
            .arg(self.max_instances.to_string())
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        // The child reads all of it before it writes anything; closed when
        // dropped, so the child sees the end.
        let handed = child.stdin.take().expect("piped stdin").write_all(wasm);
        let ran = child.wait_with_output()?;
        if !ran.status.success() {
            anyhow::bail!(
                "the compiler process ended with {}: {}",
                ran.status,
                String::from_utf8_lossy(&ran.stderr).trim()
            );
        }
        handed.context("handing the component to the compiler")
    }
}

/// The child's side: compiles the component read from stdin for the
/// engine the two figures build and writes the machine code to `out`.
pub fn run(memory_bytes: usize, max_instances: u32, out: &Path) -> anyhow::Result<()> {
    let engine = super::runtime::engine(memory_bytes, max_instances, false)?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("reading the component from stdin")?;
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(anyhow::Error::from)
        .context("compiling the component")?;
    std::fs::write(out, compiled).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::CompileCache;

    /// A compiler child that fails, or cannot be started, costs only the
    /// attempt: the component compiles in this process, and its cache
    /// entry is written whole with no scratch file left beside it.
    #[test]
    fn a_failing_compiler_child_falls_back_to_compiling_here() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/twilio_sms.wasm");
        let wasm = std::fs::read(&path).expect("run ./dev.sh build first");
        let engine = crate::plugins::runtime::engine(16 << 20, 4, false).unwrap();
        for program in ["/bin/false", "/nonexistent/herald"] {
            let dir = tempfile::tempdir().unwrap();
            let child = CompileChild {
                program: program.into(),
                memory_bytes: 16 << 20,
                max_instances: 4,
            };
            let cache = CompileCache::new(Some(dir.path().to_owned())).compiling_in(Some(child));
            cache
                .component(&engine, &wasm, "twilio")
                .unwrap_or_else(|e| panic!("{program}: {e:#}"));
            let entries: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(entries.len(), 1, "{program}: {entries:?}");
            assert!(entries[0].ends_with(".cwasm"), "{program}: {entries:?}");
        }
    }
}

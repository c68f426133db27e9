//! The plugin authors' kit, used as an author would: create a crate with
//! `herald plugin new`, build it, and `herald plugin check` it.

use std::path::PathBuf;
use std::process::Command;

fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

#[test]
fn a_new_plugin_builds_and_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = herald()
        .args(["plugin", "new", "acme-sms", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Shared target dir: the dependencies build once per machine, not per run.
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/kit-new");
    let build = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(dir.path().join("acme-sms"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let check = herald()
        .args(["plugin", "check"])
        .arg(target.join("wasm32-wasip2/release/acme_sms.wasm"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(report.contains("acme-sms 0.1.0"), "{report}");
    assert!(report.contains("12 checks, 0 failed"), "{report}");
}

#[test]
fn the_check_fails_a_component_of_another_world() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts/test_other_world.wasm");
    let check = herald()
        .args(["plugin", "check"])
        .arg(file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL") && report.contains("does not implement the provider world"),
        "{report}"
    );
}

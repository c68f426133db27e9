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
    assert!(report.contains("14 checks, 0 failed"), "{report}");
}

/// The bundled plugins pass the check as built by `./dev.sh build`,
/// whatever their language: Rust (`twilio-sms`) and Python
/// (`vonage-sms-py`, componentize-py); the check's scratch database goes
/// with it, WAL files and all.
#[test]
fn the_bundled_plugins_pass_the_check_in_either_language() {
    let scratch = tempfile::tempdir().unwrap();
    for (file, name, batching, sending) in [
        (
            "twilio_sms.wasm",
            "twilio-sms 1.0.0",
            // Two signed callbacks (one delivered, one undelivered),
            // accepted, then a forged one and an empty one, refused.
            "4 requests (2 accepted), the same answers in order",
            "3 messages: accepted, invalid-recipient, rate-limited, in order",
        ),
        (
            "vonage_sms_py.wasm",
            "vonage-sms-py 1.0.0",
            "not exported",
            "not exported",
        ),
    ] {
        let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/test-plugins")
            .join(file);
        let check = herald()
            .args(["plugin", "check"])
            .arg(wasm)
            .env("TMPDIR", scratch.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "{file}: {report}");
        assert!(report.contains(name), "{report}");
        assert!(report.contains("14 checks, 0 failed"), "{report}");
        let batch_row = report
            .lines()
            .find(|l| l.contains("handle-webhooks answers as handle-webhook"))
            .unwrap_or_else(|| panic!("{file}: no batch row: {report}"));
        assert!(batch_row.contains(batching), "{file}: {batch_row}");
        let send_row = report
            .lines()
            .find(|l| l.contains("send-all answers as send"))
            .unwrap_or_else(|| panic!("{file}: no send-all row: {report}"));
        assert!(send_row.contains(sending), "{file}: {send_row}");
        let left: Vec<_> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{file}: the check left {left:?} behind");
    }
}

/// A plugin whose batch answers differ from its single calls' fails the
/// check, and the row says which request differed: `test-hostile` marks
/// each answer of a batch with the batch's size (a header), which
/// `handle-webhook` does not.
#[test]
fn the_check_fails_batch_answers_unlike_single_ones() {
    let report = failed_check("../target/test-plugins/test_hostile.wasm");
    let line = report
        .lines()
        .find(|l| l.contains("handle-webhooks answers as handle-webhook"))
        .unwrap_or_else(|| panic!("no batch row: {report}"));
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains("request 1:"), "{line}");
    assert!(line.contains("x-test-batch-size"), "{line}");
}

/// Mailgun signs its webhooks inside the JSON body: the check forges and
/// signs them that way for a plugin with Mailgun's signing key, so the
/// bundled `mailgun-email` refuses the forged one as unauthorized (a form
/// body, the other providers' forgery, is only malformed to it) and
/// accepts the signed one, alone and in a batch.
#[test]
fn the_check_forges_and_signs_mailgun_webhooks_as_mailgun_does() {
    // It fails overall: the check's sends are SMS, and the plugin sends
    // email only.
    let report = failed_check("../target/test-plugins/mailgun_email.wasm");
    let row = |name: &str| {
        report
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row {name:?}: {report}"))
            .to_owned()
    };
    let forged = row("webhook with a bad signature is refused");
    assert!(
        forged.starts_with("PASS") && forged.contains("Unauthorized"),
        "{forged}"
    );
    let batch = row("handle-webhooks answers as handle-webhook");
    assert!(batch.starts_with("PASS"), "{batch}");
    // The signed event, then the forged and the empty request.
    assert!(batch.contains("3 requests (1 accepted)"), "{batch}");
}

#[test]
fn the_check_fails_a_component_of_another_world() {
    let report = failed_check("../target/test-artifacts/test_other_world.wasm");
    assert!(
        report.contains("FAIL") && report.contains("does not implement the provider world"),
        "{report}"
    );
}

/// `herald plugin check` of a component (path from the host crate),
/// which must exit 1 (a check failed): its report.
fn failed_check(component: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(component);
    let check = herald()
        .args(["plugin", "check"])
        .arg(file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(1), "{report}");
    report
}

/// The registry from the command line, against a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_drives_the_registry() {
    use crate::harness::{ADMIN_KEY, Backend, Herald};
    let server = Herald::start(Backend::Sqlite, &[]).await;
    let cli = |args: &[&str]| {
        let out = herald()
            .args(["plugin"])
            .args(args)
            .args(["--server", &server.base, "--admin-key", ADMIN_KEY])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let v2 = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts/twilio_sms_v2.wasm");
    let (ok, out, err) = cli(&["install", v2.to_str().unwrap(), "--activate"]);
    assert!(
        ok && out.contains("installed twilio-sms 1.1.0") && out.contains("active"),
        "{out}{err}"
    );
    let (ok, out, _) = cli(&["list"]);
    assert!(
        ok && out.contains("1.1.0") && out.contains("1.0.0"),
        "{out}"
    );
    let (ok, out, err) = cli(&["rollback", "twilio-sms"]);
    assert!(ok, "{out}{err}");
    let (_, list, _) = cli(&["list"]);
    let active: Vec<&str> = list
        .lines()
        .filter(|l| l.contains(" * ") || l.contains("*  "))
        .collect();
    assert!(
        active
            .iter()
            .any(|l| l.starts_with("twilio-sms") && l.contains("1.0.0")),
        "{list}"
    );
    // A refusal reaches the operator with its reason and a failing status.
    let other = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts/test_other_world.wasm");
    let (ok, _, err) = cli(&["install", other.to_str().unwrap()]);
    assert!(
        !ok && err.contains("does not implement the provider world"),
        "{err}"
    );
}

//! The API contract (issue 16, §6): schemathesis generates requests from
//! `/openapi.json` (valid OpenAPI, or it refuses to run) against a running
//! server, tenant routes with a tenant key and admin routes with the admin
//! key: no answer is a server error, every status code is documented for
//! its operation, and every answer matches its documented content type and
//! schema (errors included: `{"error": {...}}`). Installed by `./dev.sh
//! test` into target/schemathesis (pinned).

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{ADMIN_KEY, Backend, Herald};

fn schemathesis() -> PathBuf {
    let st = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/schemathesis/bin/st");
    assert!(
        st.exists(),
        "{} is missing: ./dev.sh test installs schemathesis",
        st.display()
    );
    st
}

/// Runs schemathesis over the operations `selection` picks, with `key`;
/// answers its report.
async fn run(herald: &Herald, key: &str, selection: &[&str]) -> String {
    let seed = std::env::var("HERALD_CONTRACT_SEED").unwrap_or_else(|_| "20261202".into());
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(schemathesis())
            .arg("run")
            .arg(format!("{}/openapi.json", herald.base))
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_schema_conformance",
            ])
            .args(["--max-examples", "10", "--workers", "2", "--seed", &seed])
            .args(selection)
            .env("NO_COLOR", "1")
            // Its cache of found crashes goes under target/, not the tree.
            .current_dir(schemathesis().parent().unwrap())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("schemathesis did not finish within 300 s")
    .expect("running schemathesis");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    // A failed check is listed under "Failures:". schemathesis's own
    // crashes (hypothesis sometimes fails to describe a filter of its
    // coverage phase: "Runtime Error") are under "Errors:": reported, but
    // not a broken contract of ours.
    let failed_checks = report.lines().any(|l| l.trim() == "Failures:");
    assert!(
        !failed_checks && (out.status.success() || report.contains("Errors:")),
        "schemathesis found failures (seed {seed}):\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        eprintln!("schemathesis had errors of its own (seed {seed}); see its report");
    }
    let summary = report
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Tested:"))
        .collect::<Vec<_>>()
        .join("; ");
    eprintln!("schemathesis {selection:?}: {summary}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_keeps_the_documented_contract() {
    // No request rate limit: thousands of generated requests are the point.
    let herald = Herald::start(Backend::Sqlite, &["--api-rate-per-second", "0"]).await;
    let api = herald.new_tenant("contract").await;
    run(
        &herald,
        &api.key,
        &["--exclude-path-regex", "^/v1/(admin|tenants)"],
    )
    .await;
    // Plugin uploads are wasm bytes schemathesis cannot generate (the
    // registry's tests cover them); the allowed-hosts grant trips a KeyError
    // inside schemathesis 4.32.5's coverage phase (its own crash, not an
    // answer of ours; the egress tests cover the route).
    run(
        &herald,
        ADMIN_KEY,
        &[
            "--include-path-regex",
            "^/v1/(admin|tenants)",
            "--exclude-operation-id",
            "post_v1_admin_plugins",
            "--exclude-operation-id",
            "put_v1_admin_channels_id_allowed_hosts",
        ],
    )
    .await;
}

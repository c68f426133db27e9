//! Signed plugin packages (issue 17 §3), on both backends: keys made and
//! components signed with the real CLI, uploads with `Herald-Signature`.
//! With `--require-signed`, an unsigned, tampered, wrongly-manifested,
//! unknown-key or badly signed component is refused with its reason and
//! leaves nothing in the database; without the flag a signature that comes
//! is still checked; trusted keys are managed through the admin API; the
//! registry (API, console) shows who signed each version.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::count;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};

use crate::both_backends;
use crate::console_client::{Session, csrf};
use crate::harness::{ADMIN_KEY, Backend, Herald, plugins_dir};

pub fn herald_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .output()
        .expect("running herald");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A key pair made by `herald plugin keygen`.
pub struct Publisher {
    pub key: PathBuf,
    pub pub_file: PathBuf,
    pub public_key: String,
    pub key_id: String,
}

pub fn keygen(dir: &Path, name: &str, publisher: &str) -> Publisher {
    let dir_arg = dir.to_str().unwrap();
    let (ok, out, err) = herald_cli(&[
        "plugin",
        "keygen",
        name,
        "--publisher",
        publisher,
        "--dir",
        dir_arg,
    ]);
    assert!(ok, "{out}{err}");
    let pub_file = dir.join(format!("{name}.pub"));
    let line = std::fs::read_to_string(&pub_file).unwrap();
    let (public_key, named) = line.trim_end().split_once(' ').unwrap();
    assert_eq!(named, publisher, "the .pub line names the publisher");
    let key_id = out
        .split_whitespace()
        .nth(1)
        .expect("keygen prints the key id")
        .to_owned();
    Publisher {
        key: dir.join(format!("{name}.key")),
        pub_file,
        public_key: public_key.to_owned(),
        key_id,
    }
}

/// Signs `wasm` with the CLI, writing the signature to `out`.
pub fn sign_file(publisher: &Publisher, wasm: &Path, out: &Path) -> Value {
    let (ok, stdout, err) = herald_cli(&[
        "plugin",
        "sign",
        wasm.to_str().unwrap(),
        "--key",
        publisher.key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stdout}{err}");
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// A signature made without the CLI, from the documented message: what a
/// signer claiming `sha256` and `manifest_sha256` would send.
fn forge(publisher: &Publisher, sha256: &str, manifest_sha256: &str) -> Value {
    let pem = std::fs::read_to_string(&publisher.key).unwrap();
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let message =
        format!("herald-plugin-signature/1\nsha256 {sha256}\nmanifest-sha256 {manifest_sha256}\n");
    json!({
        "format": "herald-plugin-signature/1",
        "public_key": publisher.public_key,
        "sha256": sha256,
        "manifest_sha256": manifest_sha256,
        "signature": BASE64.encode(key.sign(message.as_bytes()).to_bytes()),
    })
}

/// Uploads a component with the signature as `Herald-Signature` (raw
/// header text, so a test can send an unreadable one).
async fn upload_with(herald: &Herald, wasm: Vec<u8>, header: Option<String>) -> (u16, Value) {
    let mut request = herald
        .http
        .post(format!("{}/v1/admin/plugins", herald.base))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/wasm")
        .body(wasm);
    if let Some(h) = header {
        request = request.header("herald-signature", h);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn upload(herald: &Herald, wasm: Vec<u8>, signature: Option<&Value>) -> (u16, Value) {
    let header = signature.map(|s| BASE64.encode(s.to_string()));
    upload_with(herald, wasm, header).await
}

/// Rows in plugin_versions and plugin_signatures.
async fn stored(backend: Backend, url: &str) -> (i64, i64) {
    (
        count(backend, url, "SELECT COUNT(*) FROM plugin_versions").await,
        count(backend, url, "SELECT COUNT(*) FROM plugin_signatures").await,
    )
}

/// Every installed plugin's name, and each version's signer (or "unsigned").
async fn registry(herald: &Herald) -> Vec<(String, String, String)> {
    let (status, list) = herald.admin().get("/v1/admin/plugins").await;
    assert_eq!(status, 200, "{list}");
    let mut out = Vec::new();
    for p in list["items"].as_array().unwrap() {
        for v in p["versions"].as_array().unwrap() {
            let signer = v["signed_by"]["publisher"].as_str().unwrap_or("unsigned");
            out.push((
                p["name"].as_str().unwrap().to_owned(),
                v["version"].as_str().unwrap().to_owned(),
                signer.to_owned(),
            ));
        }
    }
    out
}

fn refused_because(status: u16, body: &Value, reason: &str, says: &str) {
    assert_eq!(status, 422, "{reason}: {body}");
    let e = &body["error"];
    assert_eq!(e["code"], "signature_refused", "{reason}: {body}");
    assert_eq!(e["field"], "signature", "{reason}: {body}");
    assert_eq!(e["reason"], reason, "{body}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(says), "{reason}: {message}");
}

fn v2_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/twilio_sms_v2.wasm")
}

async fn require_signed_admits_only_trusted_signatures(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let acme = keygen(keys.path(), "acme", "Acme Messaging");
    let mallory = keygen(keys.path(), "mallory", "Mallory");
    // The plugins dir: one component signed beside it, one not.
    let dir = tempfile::tempdir().unwrap();
    for file in ["example_http_sms.wasm", "twilio_sms.wasm"] {
        std::fs::copy(plugins_dir().join(file), dir.path().join(file)).unwrap();
    }
    let example = dir.path().join("example_http_sms.wasm");
    sign_file(
        &acme,
        &example,
        &dir.path().join("example_http_sms.wasm.sig"),
    );
    let herald = Herald::start(
        backend,
        &[
            "--require-signed",
            "--trusted-keys",
            acme.pub_file.to_str().unwrap(),
            "--plugins-dir",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        registry(&herald).await,
        [(
            "example-http-sms".into(),
            "0.1.0".into(),
            "Acme Messaging".into()
        )],
        "only the signed file of the plugins dir is installed"
    );

    // A good signature installs, and the version shows its signer.
    let v2_sig = sign_file(&acme, &v2_path(), &keys.path().join("v2.sig"));
    let (status, installed) =
        upload(&herald, std::fs::read(v2_path()).unwrap(), Some(&v2_sig)).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["signed_by"]["publisher"], "Acme Messaging");
    assert_eq!(installed["signed_by"]["key_id"], acme.key_id.as_str());
    assert_eq!(installed["signed_by"]["key_trusted"], true);
    let twilio = herald.admin().admin_plugin("twilio-sms").await;
    assert_eq!(
        twilio["versions"][0]["signed_by"]["publisher"],
        "Acme Messaging"
    );
    let before = stored(backend, herald.database_url()).await;
    assert_eq!(before, (2, 2), "two versions, both signed");

    // Each refusal names its reason and stores nothing.
    let target = plugins_dir().join("infobip_sms.wasm");
    let wasm = std::fs::read(&target).unwrap();
    let good = sign_file(&acme, &target, &keys.path().join("infobip.sig"));
    let mut tampered = wasm.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let wrong_manifest = forge(
        &acme,
        good["sha256"].as_str().unwrap(),
        v2_sig["manifest_sha256"].as_str().unwrap(),
    );
    assert_ne!(wrong_manifest["manifest_sha256"], good["manifest_sha256"]);
    let unknown = sign_file(&mallory, &target, &keys.path().join("mallory.sig"));
    let mut bad = good.clone();
    bad["signature"] = v2_sig["signature"].clone();
    let cases: [(&str, Vec<u8>, Option<&Value>, &str); 5] = [
        ("unsigned", wasm.clone(), None, "requires signed plugins"),
        (
            "sha256_mismatch",
            tampered,
            Some(&good),
            "changed after it was signed",
        ),
        (
            "manifest_mismatch",
            wasm.clone(),
            Some(&wrong_manifest),
            "signed for another manifest",
        ),
        (
            "unknown_key",
            wasm.clone(),
            Some(&unknown),
            mallory.key_id.as_str(),
        ),
        ("bad_signature", wasm.clone(), Some(&bad), "does not verify"),
    ];
    for (reason, bytes, signature, says) in cases {
        let (status, body) = upload(&herald, bytes, signature).await;
        refused_because(status, &body, reason, says);
    }
    let (status, body) = upload_with(&herald, wasm.clone(), Some("not base64!".into())).await;
    refused_because(status, &body, "malformed", "base64");
    assert_eq!(
        stored(backend, herald.database_url()).await,
        before,
        "nothing stored"
    );
    assert!(
        !registry(&herald)
            .await
            .iter()
            .any(|(name, _, _)| name == "infobip-sms"),
        "no refused version is listed"
    );

    // The file's key is listed as such and cannot be removed through the API.
    let (_, keys_list) = herald.admin().get("/v1/admin/trusted-keys").await;
    assert_eq!(keys_list["items"][0]["key_id"], acme.key_id.as_str());
    assert_eq!(keys_list["items"][0]["source"], "file");
    let (status, body) = herald
        .admin()
        .delete(&format!("/v1/admin/trusted-keys/{}", acme.key_id))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--trusted-keys")
    );
}
both_backends!(require_signed_admits_only_trusted_signatures);

async fn signatures_are_checked_without_the_flag_and_keys_are_managed_by_api(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let acme = keygen(keys.path(), "acme", "Acme Messaging");
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v2 = std::fs::read(v2_path()).unwrap();
    let (bundled, _) = stored(backend, herald.database_url()).await;

    // Unsigned is accepted, and shown so.
    let (status, installed) = upload(&herald, v2.clone(), None).await;
    assert_eq!(status, 201, "{installed}");
    assert!(installed["signed_by"].is_null(), "{installed}");
    // A signature that comes is checked: an untrusted key is refused.
    let sig = sign_file(&acme, &v2_path(), &keys.path().join("v2.sig"));
    let (status, body) = upload(&herald, v2.clone(), Some(&sig)).await;
    refused_because(status, &body, "unknown_key", &acme.key_id);
    assert_eq!(
        stored(backend, herald.database_url()).await,
        (bundled + 1, 0)
    );

    // Trusting the key through the API.
    let add = json!({ "publisher": "Acme Messaging", "public_key": acme.public_key });
    let (status, key) = admin.post("/v1/admin/trusted-keys", add.clone()).await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["key_id"], acme.key_id.as_str());
    assert_eq!(key["source"], "api");
    let (status, body) = admin.post("/v1/admin/trusted-keys", add).await;
    assert_eq!(status, 409, "the same key twice: {body}");
    for (field, body) in [
        (
            "public_key",
            json!({ "publisher": "x", "public_key": BASE64.encode([7u8; 31]) }),
        ),
        (
            "publisher",
            json!({ "publisher": " ", "public_key": acme.public_key }),
        ),
    ] {
        let (status, e) = admin.post("/v1/admin/trusted-keys", body).await;
        assert_eq!(status, 422, "{e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    let (_, listed) = admin.get("/v1/admin/trusted-keys").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    // Now the signature attaches to the version already installed.
    let (status, installed) = upload(&herald, v2.clone(), Some(&sig)).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["signed_by"]["publisher"], "Acme Messaging");
    assert_eq!(
        stored(backend, herald.database_url()).await,
        (bundled + 1, 1)
    );
    let signers = registry(&herald).await;
    assert!(signers.contains(&("twilio-sms".into(), "1.1.0".into(), "Acme Messaging".into())));
    assert!(signers.contains(&("twilio-sms".into(), "1.0.0".into(), "unsigned".into())));

    // A tampered component is refused without the flag too.
    let mut tampered = v2.clone();
    tampered[100] ^= 0x01;
    let (status, body) = upload(&herald, tampered, Some(&sig)).await;
    refused_because(
        status,
        &body,
        "sha256_mismatch",
        "changed after it was signed",
    );

    // Removed, the key signs nothing more; its version stays, marked.
    let path = format!("/v1/admin/trusted-keys/{}", acme.key_id);
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 204);
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 404);
    let twilio = admin.admin_plugin("twilio-sms").await;
    let signed = twilio["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "1.1.0")
        .unwrap();
    assert_eq!(signed["signed_by"]["key_trusted"], false, "{signed}");
    let (status, body) = upload(&herald, v2, Some(&sig)).await;
    refused_because(status, &body, "unknown_key", &acme.key_id);
    assert_eq!(
        stored(backend, herald.database_url()).await,
        (bundled + 1, 1)
    );
}
both_backends!(signatures_are_checked_without_the_flag_and_keys_are_managed_by_api);

/// `herald plugin keygen`, `sign`, `install` and `list` against a running
/// server that requires signatures.
async fn the_cli_signs_and_installs(backend: Backend) {
    let work = tempfile::tempdir().unwrap();
    let acme = keygen(work.path(), "acme", "Acme Messaging");
    let herald = Herald::start(
        backend,
        &[
            "--require-signed",
            "--trusted-keys",
            acme.pub_file.to_str().unwrap(),
        ],
    )
    .await;
    let cli = |args: &[&str]| {
        let mut all = vec!["plugin"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--server", herald.base.as_str(), "--admin-key", ADMIN_KEY]);
        herald_cli(&all)
    };
    let wasm = work.path().join("twilio_sms_v2.wasm");
    std::fs::copy(v2_path(), &wasm).unwrap();
    let wasm = wasm.to_str().unwrap();
    let (ok, out, err) = herald_cli(&["plugin", "sign", wasm, "--key", acme.key.to_str().unwrap()]);
    assert!(ok && out.contains("signed twilio-sms 1.1.0"), "{out}{err}");
    assert!(out.contains(&acme.key_id), "{out}");

    // The signature beside the component goes with it.
    let (ok, out, err) = cli(&["install", wasm, "--activate"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("signed by Acme Messaging") && out.contains("active"),
        "{out}"
    );
    let (ok, list, err) = cli(&["list"]);
    assert!(ok, "{list}{err}");
    assert!(
        list.lines().any(|l| l.starts_with("twilio-sms")
            && l.contains("1.1.0")
            && l.contains("Acme Messaging")),
        "{list}"
    );

    // An unsigned component is refused, and the operator is told why.
    let unsigned = work.path().join("example_http_sms.wasm");
    std::fs::copy(plugins_dir().join("example_http_sms.wasm"), &unsigned).unwrap();
    let (ok, out, err) = cli(&["install", unsigned.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("422") && err.contains("requires signed plugins"),
        "{err}"
    );
    // A signature named on the command line is sent instead of the default.
    let (ok, out, err) = cli(&[
        "install",
        unsigned.to_str().unwrap(),
        "--signature",
        &format!("{wasm}.sig"),
    ]);
    assert!(!ok, "{out}");
    assert!(err.contains("changed after it was signed"), "{err}");
}
both_backends!(the_cli_signs_and_installs);

/// The console's upload form takes the signature file, shows a refusal
/// beside it, and the plugins page says who signed each version.
async fn the_console_uploads_signed_versions_and_shows_signers(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let acme = keygen(keys.path(), "acme", "Acme Messaging");
    let mallory = keygen(keys.path(), "mallory", "Mallory");
    let herald = Herald::start(
        backend,
        &["--trusted-keys", acme.pub_file.to_str().unwrap()],
    )
    .await;
    let session = Session::signed_in(&herald, ADMIN_KEY).await;
    let page = session.page("/plugins").await;
    let token = csrf(&page);
    let post = |signature: Value| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", token.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(v2_path()).unwrap())
                    .file_name("sms.wasm"),
            )
            .part(
                "signature",
                reqwest::multipart::Part::bytes(signature.to_string().into_bytes())
                    .file_name("sms.wasm.sig"),
            );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client
            .post(format!("{}/plugins/upload", herald.base))
            .header("cookie", session.cookie.clone().unwrap())
            .multipart(form)
            .send()
    };
    let (before, _) = stored(backend, herald.database_url()).await;

    let r = post(sign_file(&mallory, &v2_path(), &keys.path().join("m.sig")))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let refused = r.text().await.unwrap();
    assert!(
        refused.contains("id=\"f-signature-error\""),
        "the refusal is beside the signature input"
    );
    assert!(refused.contains("does not trust"), "{refused}");
    assert_eq!(stored(backend, herald.database_url()).await, (before, 0));

    let r = post(sign_file(&acme, &v2_path(), &keys.path().join("a.sig")))
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let page = session.page("/plugins").await;
    assert!(
        page.contains("signed by <strong>Acme Messaging</strong>"),
        "{page}"
    );
    assert!(page.contains(&acme.key_id), "the key id is shown");
    assert!(
        page.contains("unsigned"),
        "the bundled versions are unsigned"
    );
    assert_eq!(
        stored(backend, herald.database_url()).await,
        (before + 1, 1)
    );
}
both_backends!(the_console_uploads_signed_versions_and_shows_signers);

//! Secrets sealed at rest (issue 16, §2): the database file holds no
//! channel or webhook secret in clear, a server started with the wrong key
//! file refuses to start and says why, and `herald secrets rotate` seals
//! everything under a new key while the server keeps sending.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::harness::{Api, Backend, Herald};

/// Every byte SQLite has written for the database: the file and its
/// write-ahead log (where recent commits live until a checkpoint).
fn database_bytes(url: &str) -> Vec<u8> {
    let file = url.strip_prefix("sqlite:").expect("a SQLite URL");
    let mut bytes = std::fs::read(file).expect("reading the database file");
    if let Ok(wal) = std::fs::read(format!("{file}-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Sends a three-member campaign through `channel` and waits until every
/// member is delivered: the plugin authenticated with the channel's auth
/// token and the simulator's signed callbacks verified with it.
async fn campaign_delivers(api: &Api, channel: i64, numbers: &[String], name: &str) {
    let list = api.list_with(numbers).await;
    let campaign = api.campaign(channel, list, name).await;
    api.start_to_completion(campaign, Duration::from_secs(60))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let members = api.all_members(campaign).await;
        if members.iter().all(|m| m["status"] == "delivered") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all delivered: {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the `herald` binary with `args` to its end (at most 60 s);
/// answers whether it succeeded and what it printed.
async fn run_herald(args: &[&str], data_dir: &Path) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_DATA_DIR", data_dir)
            .env("HERALD_PLUGINS_DIR", crate::harness::plugins_dir())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("herald did not end within 60 s")
    .expect("running herald");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_and_rotate_while_sending() {
    let token = "sealed-auth-token-7f3a9c";
    let sim = Simulator::start(SimConfig {
        twilio_auth_token: token.into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // A second revision: the replaced settings (and their secret) are kept.
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({ "secrets": { "auth-token": token } , "sender": "+15005550007" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, reply) = api
        .put(
            "/v1/reply-endpoint",
            json!({ "reply_url": "http://127.0.0.1:9/replies" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let webhook_secret = reply["webhook_secret"].as_str().unwrap().to_owned();
    campaign_delivers(
        &api,
        channel,
        &crate::harness::numbers_ending("2010", 3, 500),
        "before",
    )
    .await;

    // The database alone reveals neither secret, though both work.
    let url = herald.database_url().to_owned();
    let bytes = database_bytes(&url);
    assert!(contains(&bytes, "sealed:v1:"), "sealed values are stored");
    assert!(
        !contains(&bytes, token),
        "the auth token is stored in clear"
    );
    assert!(
        !contains(&bytes, &webhook_secret),
        "the webhook secret is stored in clear"
    );
    let (_, answered) = api.get(&format!("/v1/channels/{channel}")).await;
    assert!(!answered.to_string().contains(token), "{answered}");

    // A wrong key file: the start fails, naming what is wrong.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.key");
    {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        std::fs::write(&wrong, format!("{key}\n")).unwrap();
    }
    let (ok, printed) = run_herald(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--secrets-key-file",
            wrong.to_str().unwrap(),
        ],
        dir.path(),
    )
    .await;
    assert!(!ok, "started with the wrong key: {printed}");
    assert!(
        printed.contains("does not open with the secrets key file")
            && printed.contains("wrong.key"),
        "{printed}"
    );

    // Rotation while the server runs: the next campaign goes out and its
    // callbacks verify, through secrets now sealed under the new key.
    let key_file = herald.secrets_key_file();
    let new_key = dir.path().join("new.key");
    let (ok, printed) = run_herald(
        &[
            "secrets",
            "rotate",
            "--database-url",
            &url,
            "--secrets-key-file",
            key_file.to_str().unwrap(),
            "--new-key-file",
            new_key.to_str().unwrap(),
        ],
        dir.path(),
    )
    .await;
    assert!(ok, "{printed}");
    assert!(printed.contains("sealed 3 secrets"), "{printed}");
    campaign_delivers(
        &api,
        channel,
        &crate::harness::numbers_ending("2020", 3, 500),
        "after rotation",
    )
    .await;

    // Only the new key is needed now: a restart with it alone still sends.
    herald = herald
        .crash_and_restart(&["--secrets-key-file", new_key.to_str().unwrap()])
        .await;
    let api = herald.api(&api.key);
    campaign_delivers(
        &api,
        channel,
        &crate::harness::numbers_ending("2030", 3, 500),
        "after restart",
    )
    .await;
    let (status, reply) = api.get("/v1/reply-endpoint").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["webhook_secret"], webhook_secret.as_str());
}

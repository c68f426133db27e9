//! Plugins compile in a child process (`herald plugin precompile`): a
//! server starting with an empty compile cache fills it without taking
//! Cranelift's working memory into its own peak (compiling the bundled
//! Python plugin in the server took it to 474 MiB), and runs what the child
//! compiled.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};

use crate::harness::{Backend, Herald, numbers_ending, plugins_dir};

/// The bound for a server sending a 1,000,000-member campaign; a
/// server that compiled the Python plugin itself peaked at almost twice it.
const PEAK_RSS: u64 = 250 << 20;

#[tokio::test]
async fn a_fresh_start_compiles_plugins_outside_the_server() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap().to_owned();
    let (herald, logs) =
        Herald::start_logging_with(Backend::Sqlite, "warn", &["--cache-dir", &cache_dir]).await;

    // One entry per bundled component, nothing half-written left behind.
    let components = std::fs::read_dir(plugins_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".wasm")
        })
        .count();
    let entries: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(components >= 2, "bundled components: {components}");
    assert_eq!(entries.len(), components, "cache entries: {entries:?}");
    assert!(
        entries.iter().all(|name| name.ends_with(".cwasm")),
        "scratch files left in the cache: {entries:?}"
    );
    // The child's code is what the server loaded: it did not fall back to
    // compiling in-process.
    let fallbacks: Vec<String> = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("compiling in a child process failed"))
        .cloned()
        .collect();
    assert!(fallbacks.is_empty(), "{fallbacks:?}");
    let peak = herald.peak_rss();
    assert!(
        peak < PEAK_RSS,
        "the server's peak RSS after compiling its plugins: {} MiB",
        peak >> 20
    );

    // And the code runs: a campaign through a freshly compiled plugin.
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("1234", 5, 700)).await;
    let campaign = api.campaign(channel, list, "compiled by a child").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(sim.messages().len(), 5, "messages the provider took");
}

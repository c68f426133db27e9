//! A provider that keeps failing pauses the campaign instead of letting it
//! burn through every member: after `--max-provider-errors` consecutive
//! provider errors the campaign is paused with the cause and the last error.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

async fn provider_errors_pause_the_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // One send at a time, so the pause lands long before every member is
    // tried (sends already claimed when it lands still go).
    let herald = Herald::start(
        backend,
        &["--max-provider-errors", "3", "--max-in-flight", "1"],
    )
    .await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;

    // The simulator answers a `0500` number's first send with HTTP 500.
    let numbers = numbers_ending("0500", 20, 300);
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello").await;
    let (status, c) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{c}");

    let c = api
        .wait_status(campaign, "paused", Duration::from_secs(30))
        .await;
    assert_eq!(c["status_cause"], "too_many_provider_errors", "{c}");
    let reason = c["status_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("3 consecutive provider errors; last: "),
        "{c}"
    );

    // Sends claimed before the pause settle; then nothing more is tried.
    let until = Instant::now() + Duration::from_secs(10);
    while api
        .all_members(campaign)
        .await
        .iter()
        .any(|m| m["status"] == "sending" || m["status"] == "claimed")
    {
        assert!(Instant::now() < until, "members still sending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tried = sim.stats().server_errors;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.stats().server_errors, tried, "sends after the pause");
    assert!(
        (3..20).contains(&tried),
        "{tried} of 20 members tried before the pause"
    );
    assert_eq!(sim.stats().accepted, 0);
}
both_backends!(provider_errors_pause_the_campaign);

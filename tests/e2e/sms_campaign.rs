//! An SMS campaign end to end: every member sent exactly once, failures
//! carried through with the provider's code, pause and resume losing nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

/// 1,000 members: 975 ordinary numbers plus five of each simulator failure
/// pattern (invalid, undelivered, failed, one 429, one 500).
fn thousand_numbers() -> Vec<String> {
    let mut numbers: Vec<String> = (0..975)
        .map(|i| format!("+1415{:03}{:04}", 300 + i / 100, 1000 + i % 100))
        .collect();
    for (k, suffix) in ["0001", "0002", "0003", "0429", "0500"].iter().enumerate() {
        numbers.extend(numbers_ending(suffix, 5, 201 + k * 10));
    }
    numbers
}

async fn thousand_member_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    sends_thousand_members(&sim, &herald).await;
    let agent = |m: &herald_sim::ReceivedMessage| {
        m.headers
            .iter()
            .find(|(k, _)| k == "user-agent")
            .map(|(_, v)| v.clone())
    };
    assert!(
        sim.messages()
            .iter()
            .all(|m| agent(m).as_deref() == Some("herald-twilio-sms/1.0.0")),
        "every send came from the component"
    );
}
both_backends!(thousand_member_campaign);

/// The dispatch benchmark's sandbox-free ceiling (`--native-provider`)
/// runs the same campaign as the component would: the same sends, the same
/// failures with the provider's codes, the same retries and receipts, so
/// the two runs it compares differ by the sandbox alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_twin_sends_the_thousand_member_campaign_alike() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &["--native-provider", "twilio-sms"]).await;
    sends_thousand_members(&sim, &herald).await;
    assert!(
        sim.messages().iter().all(|m| m
            .headers
            .iter()
            .any(|(k, v)| k == "user-agent" && v == "herald-twilio-sms/native")),
        "every send came from the native twin"
    );
}

async fn sends_thousand_members(sim: &Simulator, herald: &Herald) {
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(sim, "twilio-sms").await;
    // Measures Herald's own throughput, not the default 100/s rate limit.
    api.set_rate(channel, 10_000).await;
    let numbers = thousand_numbers();
    let list = api.list_with(&numbers).await;
    let campaign = api
        .campaign(channel, list, "Hi {{first_name}}, your order shipped.")
        .await;

    let started = Instant::now();
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    api.wait_status(campaign, "completed", Duration::from_secs(120))
        .await;
    let elapsed = started.elapsed();
    eprintln!(
        "1,000 members completed in {elapsed:?} ({:.0} messages/s)",
        1000.0 / elapsed.as_secs_f64()
    );

    let stats = sim.stats();
    assert_eq!(
        stats.accepted, 995,
        "all but the 5 invalid numbers accepted: {stats:?}"
    );
    assert_eq!(stats.distinct_recipients, 995);
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.rate_limited, 5);
    assert_eq!(stats.server_errors, 5);

    // What the provider received is the rendered body, per contact.
    let first = sim
        .messages()
        .into_iter()
        .find(|m| m.to == numbers[0])
        .expect("first number sent");
    assert_eq!(first.body, "Hi C0, your order shipped.");
    assert_eq!(first.from, "+15005550006");

    let members = api.all_members(campaign).await;
    assert_eq!(members.len(), 1000);
    let by_number: HashMap<&str, &serde_json::Value> = members
        .iter()
        .map(|m| (m["address"].as_str().unwrap(), m))
        .collect();
    for n in &numbers {
        let m = by_number[n.as_str()];
        let (status, code) = match &n[n.len() - 4..] {
            "0001" => ("failed", Some("21211")),
            "0002" => ("failed", Some("30003")),
            "0003" => ("failed", Some("30008")),
            _ => ("delivered", None),
        };
        assert_eq!(m["status"], status, "{m}");
        assert_eq!(m["error_code"].as_str(), code, "{m}");
        // A callback's bare error code comes with Twilio's description.
        if code == Some("30003") {
            assert_eq!(m["error_message"], "30003: Unreachable destination handset");
        }
        if status == "delivered" {
            assert!(m["provider_message_id"].as_str().unwrap().starts_with("SM"));
            assert!(
                crate::support::at_ms(&m["delivered_at"]) >= crate::support::at_ms(&m["sent_at"])
            );
        }
    }
    // The 429 and 500 numbers needed a second attempt; the others one.
    let retried = members.iter().filter(|m| m["attempts"] == 2).count();
    assert_eq!(retried, 10);

    let (_, p) = api.get(&format!("/v1/campaigns/{campaign}/progress")).await;
    assert_eq!(p["target"], 1000);
    assert_eq!(p["sent"], 995);
    assert_eq!(p["delivered"], 985);
    assert_eq!(p["failed"], 15);
    assert_eq!(p["queued"], 0);
    assert_eq!(p["percent_done"], 100.0);

    // What an operator's Prometheus scrapes says the same: 995 accepted
    // sends counted with their plugin, signed callbacks applied; the
    // server is ready; strangers get no metrics.
    let (status, text) = herald.admin().get_text("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let accepted = text
        .lines()
        .find(|l| {
            l.starts_with("herald_sends_total{")
                && l.contains("outcome=\"accepted\"")
                && l.contains("plugin=\"twilio-sms\"")
        })
        .unwrap_or_else(|| panic!("no accepted sends in {text}"));
    assert!(accepted.ends_with(" 995"), "{accepted}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("herald_webhooks_total{result=\"applied\"}")),
        "{text}"
    );
    let (status, _) = api.get_text("/metrics").await;
    assert_eq!(status, 401);
    let (status, ready) = api.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
}

async fn pause_and_resume_lose_nothing(backend: Backend) {
    // Slow provider + few sends in flight, so the pause lands mid-campaign.
    let sim = Simulator::start(SimConfig {
        response_delay: Duration::from_millis(10),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &["--max-in-flight", "4"]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers: Vec<String> = (0..300)
        .map(|i| format!("+1628{:03}{:04}", 300 + i / 100, 2000 + i % 100))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api
        .campaign(channel, list, "Reminder for {{first_name}}")
        .await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;

    while sim.stats().accepted < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, c) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/pause"))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["status"], "paused");
    assert_eq!(c["status_reason"], "paused by user");

    // Sends already in flight finish; then nothing more goes out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_pause = sim.stats().accepted;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sim.stats().accepted, at_pause, "no sends while paused");
    assert!(
        at_pause < 300,
        "the pause landed mid-campaign ({at_pause} sent)"
    );

    // Pausing twice is refused with the allowed actions named.
    let (status, err) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/pause"))
        .await;
    assert_eq!(status, 409);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resume, cancel"),
        "{err}"
    );

    let (status, _) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/resume"))
        .await;
    assert_eq!(status, 200);
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;

    let stats = sim.stats();
    assert_eq!(stats.accepted, 300, "{stats:?}");
    assert_eq!(stats.distinct_recipients, 300);
    assert_eq!(stats.duplicates, 0);
    let members = api.all_members(campaign).await;
    assert!(
        members
            .iter()
            .all(|m| m["status"] == "delivered" && m["attempts"] == 1)
    );
}
both_backends!(pause_and_resume_lose_nothing);

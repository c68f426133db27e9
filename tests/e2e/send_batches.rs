//! A channel's messages ready to go share one plugin call (contract 1.5
//! `sends.send-all`) without giving up anything a send alone guarantees:
//! each message is sent exactly once, a provider that does not answer one
//! of them makes only that one uncertain, and a call that fails as a
//! whole sends again (alone) only the messages whose requests never left,
//! while those whose requests did are never resent blindly.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};

/// The sum of a Prometheus series' samples over the lines of `name` that
/// carry `label` (e.g. `export="send-all"`).
fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Plugin calls made per export so far (`send`, `send-all`).
async fn calls_of(herald: &Herald, export: &str) -> f64 {
    let (status, text) = herald.admin().get_text("/metrics").await;
    assert_eq!(status, 200, "{text}");
    metric_sum(
        &text,
        "herald_plugin_call_seconds_count",
        &format!("export=\"{export}\""),
    )
}

fn numbers(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("+1{prefix}{:04}", 1000 + i))
        .collect()
}

/// 300 messages through twilio-sms at a rate that lets them go together,
/// with two of each of the simulator's faults among them: the slow answer
/// (past the request's share of the call's deadline), the reset after
/// taking the request, and the 500 without taking it. Each is sent once;
/// the faulty ones alone are uncertain and looked up (the 500 one sent
/// again under its key), their neighbours in the same call delivered at
/// their first attempt; and the messages went out in shared calls.
async fn a_channels_messages_share_calls_and_each_is_sent_once(backend: Backend) {
    let sim = Simulator::start(SimConfig {
        // Past the 1 s plugin deadline given below.
        slow_answer_delay: Duration::from_secs(3),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(
        backend,
        &[
            "--plugin-timeout-ms",
            "1000",
            // The faults are not a provider outage: no auto-pause.
            "--max-provider-errors",
            "100",
        ],
    )
    .await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 10_000).await;
    let mut all = numbers("512500", 300);
    let faults = [("0504", 1), ("0505", 1), ("0500", 2)];
    for (suffix, _) in faults {
        all.push(format!("+1512501{suffix}"));
        all.push(format!("+1512502{suffix}"));
    }
    let list = api.list_with(&all).await;
    let campaign = api.campaign(channel, list, "Hi {{first_name}}").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(90))
        .await;

    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.accepted, all.len() as u64, "{stats:?}");
    for m in api.all_members(campaign).await {
        let address = m["address"].as_str().unwrap();
        assert_eq!(sim.sends_to(address), 1, "{m}");
        assert_eq!(m["status"], "delivered", "{m}");
        let suffix = &address[address.len() - 4..];
        let attempts = faults
            .iter()
            .find(|(s, _)| *s == suffix)
            .map_or(1, |(_, a)| *a);
        assert_eq!(m["attempts"], attempts, "{m}");
    }
    let (_, metrics) = herald.admin().get_text("/metrics").await;
    let uncertain = metric_sum(&metrics, "herald_sends_total", "outcome=\"uncertain\"");
    assert_eq!(uncertain, 6.0, "the six faulty sends only");
    let shared = calls_of(&herald, "send-all").await;
    let alone = calls_of(&herald, "send").await;
    assert!(shared >= 1.0, "no send-all call");
    assert!(
        shared + alone <= all.len() as f64 / 2.0,
        "{shared} send-all and {alone} send calls for {} messages",
        all.len()
    );
}
both_backends!(a_channels_messages_share_calls_and_each_is_sent_once);

/// A fast channel of the hostile plugin, whose `send-all` traps before
/// sending anything when a recipient ends in 0662 and after sending every
/// request when one ends in 0661.
async fn hostile_campaign(api: &Api, sim: &Simulator, prefix: &str, odd_one: &str) -> i64 {
    let channel = api.sim_channel(sim, "test-hostile").await;
    api.set_rate(channel, 10_000).await;
    let mut all = numbers(prefix, 60);
    all.push(format!("+1{prefix}{odd_one}"));
    let list = api.list_with(&all).await;
    let campaign = api.campaign(channel, list, "Hi").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;
    campaign
}

async fn a_send_all_that_fails_resends_only_what_never_left(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &["--max-provider-errors", "100"]).await;
    let api = herald.new_tenant("acme").await;

    // Trapped before any request left: every message is sent again, alone,
    // and delivered once.
    let before = hostile_campaign(&api, &sim, "512600", "0662").await;
    assert!(
        calls_of(&herald, "send-all").await >= 1.0,
        "the messages never went to send-all"
    );
    for m in api.all_members(before).await {
        let address = m["address"].as_str().unwrap();
        assert_eq!(m["status"], "delivered", "{m}");
        assert_eq!(sim.sends_to(address), 1, "{m}");
        assert_eq!(m["attempts"], 1, "sent again within its attempt: {m}");
    }

    // Trapped after the other messages' requests left, not the 0661 one's:
    // the provider has those messages, so none of them is sent again (the
    // plugin cannot look them up: they wait as `unknown` for an operator),
    // while the 0661 message, whose request never left, is sent alone and
    // delivered. The other calls' messages are delivered. Nothing reaches
    // the provider twice.
    let after = hostile_campaign(&api, &sim, "512601", "0661").await;
    let members = api.all_members(after).await;
    let unknown = members.iter().filter(|m| m["status"] == "unknown").count();
    let odd = members
        .iter()
        .find(|m| m["address"].as_str().unwrap().ends_with("0661"))
        .unwrap();
    assert_eq!(odd["status"], "delivered", "{odd}");
    assert!(unknown >= 1, "no message shared the 0661 one's call");
    for m in &members {
        let address = m["address"].as_str().unwrap();
        assert_eq!(sim.sends_to(address), 1, "{m}");
        assert!(
            m["status"] == "delivered" || m["status"] == "unknown",
            "{m}"
        );
        assert_eq!(m["attempts"], 1, "{m}");
    }
    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
}
both_backends!(a_send_all_that_fails_resends_only_what_never_left);

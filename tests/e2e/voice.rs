//! Voice campaigns end to end: the concurrency cap, busy numbers retried
//! exactly max_retries times with the retry delay between attempts,
//! answering-machine detection leaving a voicemail, humans queued, and a
//! call that fails for good falling back to an SMS.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};
use crate::support::{
    channel, create, forged_webhook_is_refused, list_of, refused, run, twilio_config,
};

const CALLER_ID: &str = "+14155550123";

/// A simulator whose calls last 150 ms, a server, a tenant and its
/// Twilio Voice channel.
async fn voice_channel(backend: Backend) -> (Simulator, Herald, Api, i64) {
    let sim = Simulator::start(SimConfig {
        call_duration: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (config, secrets) = twilio_config(&sim);
    let ch = channel(&api, "twilio-voice", "+15005550006", config, secrets).await;
    (sim, herald, api, ch)
}

async fn voice_campaign(backend: Backend) {
    let (sim, herald, api, ch) = voice_channel(backend).await;

    // 14 humans, 3 busy (…0004), 3 answering machines (…0005).
    let mut numbers: Vec<String> = (0..14)
        .map(|i| format!("+1415555{:04}", 7200 + i))
        .collect();
    numbers.extend((0..3).map(|i| format!("+1628{:03}0004", 300 + i)));
    numbers.extend((0..3).map(|i| format!("+1628{:03}0005", 400 + i)));
    let contacts = numbers.iter().map(|n| json!({ "phone": n })).collect();
    let list = list_of(&api, contacts).await;
    let voice = json!({
        "name": "calls", "type": "voice", "channel_id": ch, "list_id": list,
        "caller_id": CALLER_ID, "queue": "support", "max_concurrent": 3, "max_retries": 2,
        "retry_delay_secs": 1, "amd_enabled": true, "amd_action": "voicemail",
        "voicemail_message": "Please call us back",
    });
    let mut sms_field = voice.clone();
    sms_field["body"] = json!("hi");
    refused(&api, sms_field, "body").await;
    let mut no_message = voice.clone();
    no_message
        .as_object_mut()
        .unwrap()
        .remove("voicemail_message");
    refused(&api, no_message, "voicemail_message").await;
    let mut wrong_plugin = voice.clone();
    let (config, secrets) = twilio_config(&sim);
    wrong_plugin["channel_id"] =
        json!(channel(&api, "twilio-sms", "+15005550006", config, secrets).await);
    refused(&api, wrong_plugin, "channel_id").await;

    let id = create(&api, voice).await;
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (c["type"].as_str(), c["max_concurrent"].as_i64()),
        (Some("voice"), Some(3)),
        "{c}"
    );
    run(&api, id, Duration::from_secs(90)).await;

    let stats = sim.stats();
    assert!(stats.max_concurrent_calls <= 3, "{stats:?}");
    assert!(
        stats.max_concurrent_calls >= 2,
        "calls overlapped: {stats:?}"
    );
    let calls = sim.messages_for("twilio-voice");
    // Busy numbers: 1 + max_retries calls, at least the retry delay apart.
    for n in &numbers[14..17] {
        let mut at: Vec<u64> = calls
            .iter()
            .filter(|c| &c.to == n)
            .map(|c| c.received_at_ms)
            .collect();
        at.sort_unstable();
        assert_eq!(at.len(), 3, "{n}: {at:?}");
        assert!(at.windows(2).all(|w| w[1] - w[0] >= 1000), "{n}: {at:?}");
    }
    assert_eq!(calls.len(), 14 + 9 + 3, "one call per human and machine");
    for c in &calls {
        assert_eq!(c.from, CALLER_ID);
        let call = c.call.as_ref().expect("a call record");
        assert!(call.machine_detection.is_some(), "{call:?}");
        let twiml = format!(
            "{}{}",
            call.twiml.clone().unwrap_or_default(),
            call.twiml_updates.join("")
        );
        if numbers[17..].contains(&c.to) {
            assert!(twiml.contains("<Say>Please call us back</Say>"), "{twiml}");
        } else if numbers[..14].contains(&c.to) {
            assert!(twiml.contains("<Enqueue>support</Enqueue>"), "{twiml}");
            assert!(!twiml.contains("<Say>"), "{twiml}");
        }
    }

    let members = api.all_members(id).await;
    for m in &members {
        let n = m["address"].as_str().unwrap();
        let (status, disposition, attempts) = match &n[n.len() - 4..] {
            "0004" => ("failed", "busy", 3),
            "0005" => ("completed", "voicemail_left", 1),
            _ => ("delivered", "human", 1),
        };
        assert_eq!(m["status"], status, "{m}");
        assert_eq!(m["disposition"], disposition, "{m}");
        assert_eq!(m["attempts"], attempts, "{m}");
    }
    let (_, p) = api.get(&format!("/v1/campaigns/{id}/progress")).await;
    assert_eq!(
        (
            p["reached"].as_i64(),
            p["completed"].as_i64(),
            p["failed"].as_i64()
        ),
        (Some(14), Some(3), Some(3)),
        "{p}"
    );

    forged_webhook_is_refused(
        &herald,
        &api,
        &format!("/webhooks/{ch}?e=status"),
        &[
            ("x-twilio-signature", "Zm9yZ2Vk"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "CallSid=CA1&CallStatus=busy",
        id,
    )
    .await;
}
both_backends!(voice_campaign);

// A call that fails for good (busy, no retries left) falls back to an SMS
// on the tenant's SMS channel; a number that answered gets none. Voice
// campaigns take no follow-ups.
async fn failed_call_falls_back_to_sms(backend: Backend) {
    let (sim, _herald, api, ch) = voice_channel(backend).await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let (human, busy) = ("+14155557290", "+16285000004");
    let list = list_of(
        &api,
        vec![json!({ "phone": human }), json!({ "phone": busy })],
    )
    .await;
    let voice = json!({
        "name": "calls", "type": "voice", "channel_id": ch, "list_id": list,
        "caller_id": CALLER_ID, "queue": "support", "max_retries": 0,
        "fallback": { "channel_id": sms, "body": "We tried to call you" },
    });
    let mut with_follow_up = voice.clone();
    with_follow_up["follow_ups"] = json!([{ "after_days": 1, "channel_id": sms, "body": "x" }]);
    refused(&api, with_follow_up, "follow_ups").await;
    let id = create(&api, voice).await;
    run(&api, id, Duration::from_secs(60)).await;

    let texts = |n: &str| -> Vec<String> {
        sim.messages_for("twilio")
            .into_iter()
            .filter(|m| m.to == n)
            .map(|m| m.body)
            .collect()
    };
    assert_eq!(texts(busy), ["We tried to call you"]);
    assert!(texts(human).is_empty(), "answered: no fallback");
    let members = api.all_members(id).await;
    let of = |a: &str| members.iter().find(|m| m["address"] == a).unwrap().clone();
    assert_eq!(of(human)["disposition"], "human", "{members:?}");
    let b = of(busy);
    assert_eq!(b["status"], "delivered", "the fallback's receipt: {b}");
    let (status, j) = api
        .get(&format!("/v1/campaigns/{id}/members/{}/journey", b["id"]))
        .await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(
        (j["current_step"].clone(), j["channel_id"].clone()),
        (json!("fallback"), json!(sms)),
        "{j}"
    );
}
both_backends!(failed_call_falls_back_to_sms);

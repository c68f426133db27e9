//! A provider plugin written in Python (`vonage-sms-py`, built with
//! componentize-py) through the same contract, host and sandbox as the
//! Rust ones: an SMS campaign to Vonage's SMS API (the simulator's) that
//! reaches `delivered` from signed delivery receipts, and receipts that
//! are forged, tampered with, unsigned or stale refused.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use herald_sim::{SimConfig, Simulator, VonageDlrMethod, vonage_signature};
use serde_json::{Value, json};

use crate::api_client::Api;
use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

const PLUGIN: &str = "vonage-sms-py";

async fn vonage_channel(api: &Api, sim: &Simulator) -> i64 {
    let cfg = sim.config();
    crate::support::channel(
        api,
        PLUGIN,
        "+15005550006",
        json!({ "api-key": cfg.vonage_api_key, "base-url": sim.base_url() }),
        json!({ "api-secret": cfg.vonage_api_secret,
                "signature-secret": cfg.vonage_signature_secret }),
    )
    .await
}

/// 200 ordinary numbers and three of each of the simulator's refusal and
/// failure patterns (invalid, absent subscriber, expired, throttled once).
fn audience() -> Vec<String> {
    let mut numbers: Vec<String> = (0..200)
        .map(|i| format!("+1415{:03}{:04}", 700 + i / 100, 3000 + i % 100))
        .collect();
    for (k, suffix) in ["0001", "0002", "0003", "0429"].iter().enumerate() {
        numbers.extend(numbers_ending(suffix, 3, 601 + k * 10));
    }
    numbers
}

async fn a_python_plugin_sends_a_campaign_to_delivered(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = vonage_channel(&api, &sim).await;
    api.set_rate(channel, 1_000).await;
    let numbers = audience();
    let list = api.list_with(&numbers).await;
    // "á" is not in GSM-7: the plugin must send it as unicode.
    let campaign = api
        .campaign(channel, list, "Olá {{first_name}}, your order shipped.")
        .await;
    api.start_to_completion(campaign, Duration::from_secs(120))
        .await;

    let stats = sim.stats();
    let accepted = numbers.len() as u64 - 3;
    assert_eq!(stats.accepted, accepted, "all but the invalid: {stats:?}");
    assert_eq!(stats.accepted_by_provider["vonage"], accepted);
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.rate_limited, 3, "{stats:?}");
    // Every receipt (an intermediate `accepted`, then the final one) was
    // verified and taken: none refused.
    assert!(
        sim.wait_for(Duration::from_secs(10), |s| s.callbacks_sent
            == 2 * accepted)
            .await,
        "{:?}",
        sim.stats()
    );
    assert_eq!(sim.stats().callbacks_failed, 0);

    // What Vonage received: numbers without `+`, the text as unicode,
    // each attempt's idempotency key as its `client-ref`.
    let sent = sim.messages_for("vonage");
    let first = sent.iter().find(|m| m.to == numbers[0]).expect("sent");
    assert_eq!(first.body, "Olá C0, your order shipped.");
    assert_eq!(first.from, "15005550006");
    assert_eq!(first.extra, ["type=unicode"]);
    let refs: HashSet<&str> = sent
        .iter()
        .map(|m| m.client_reference.as_deref().expect("client-ref"))
        .collect();
    assert_eq!(refs.len(), sent.len(), "one key per attempt");
    let ids: HashMap<&str, &str> = sent
        .iter()
        .map(|m| (m.to.as_str(), m.sid.as_str()))
        .collect();

    let members = api.all_members(campaign).await;
    assert_eq!(members.len(), numbers.len());
    for m in &members {
        let address = m["address"].as_str().unwrap();
        let (status, code, text) = match &address[address.len() - 4..] {
            "0001" => ("failed", Some("3"), Some("Invalid to param")),
            "0002" => (
                "failed",
                Some("2"),
                Some("2: Absent Subscriber - Temporary"),
            ),
            "0003" => ("failed", Some("1"), Some("1: Unknown")),
            _ => ("delivered", None, None),
        };
        assert_eq!(m["status"], status, "{m}");
        assert_eq!(m["error_code"].as_str(), code, "{m}");
        if let Some(text) = text {
            assert!(m["error_message"].as_str().unwrap().contains(text), "{m}");
        }
        if status == "delivered" {
            assert_eq!(m["provider_message_id"], ids[address], "{m}");
            let retried = address.ends_with("0429");
            if m["attempts"] != if retried { 2 } else { 1 } {
                let path = format!("/v1/campaigns/{campaign}/members/{}/journey", m["id"]);
                let (_, journey) = api.get(&path).await;
                panic!("attempts of {m}: journey {journey}");
            }
        }
    }

    let (status, text) = herald.admin().get_text("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("herald_sends_total{")
                && l.contains("outcome=\"accepted\"")
                && l.contains(&format!("plugin=\"{PLUGIN}\""))
        })
        .unwrap_or_else(|| panic!("no accepted sends in {text}"));
    assert!(line.ends_with(&format!(" {accepted}")), "{line}");
}
both_backends!(a_python_plugin_sends_a_campaign_to_delivered);

/// A receipt's parameters as Vonage sends them, unsigned.
fn receipt(message_id: &str, status: &str, err_code: &str, at_secs: u64) -> Vec<(String, String)> {
    [
        ("msisdn", "14157000001"),
        ("to", "15005550006"),
        ("network-code", "310260"),
        ("messageId", message_id),
        ("price", "0.03330000"),
        ("status", status),
        ("err-code", err_code),
        ("api-key", "a1b2c3d4"),
        ("message-timestamp", "2026-01-14 18:30:00"),
        ("timestamp", &at_secs.to_string()),
        ("nonce", "ec11dd3e-1e7f-4db5-9467-82b02cd223b9"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn signed(secret: &str, mut params: Vec<(String, String)>) -> Vec<(String, String)> {
    let sig = vonage_signature(secret, &params);
    params.push(("sig".into(), sig));
    params
}

fn set(params: &mut [(String, String)], name: &str, value: &str) {
    let slot = params.iter_mut().find(|(k, _)| k == name).expect("a param");
    slot.1 = value.to_owned();
}

async fn forged_receipts_are_refused(backend: Backend) {
    // Receipts as GET queries, Vonage's dashboard default.
    let sim = Simulator::start(SimConfig {
        vonage_dlr_method: VonageDlrMethod::Get,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = vonage_channel(&api, &sim).await;
    let numbers = numbers_ending("4242", 3, 710);
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Your code is 42").await;
    api.start_to_completion(campaign, Duration::from_secs(60))
        .await;
    let members = api.all_members(campaign).await;
    assert!(
        members.iter().all(|m| m["status"] == "delivered"),
        "{members:?}"
    );
    assert_eq!(sim.stats().callbacks_failed, 0, "GET receipts were taken");
    let id = members[0]["provider_message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let url = format!("{}/webhooks/{channel}", herald.base);
    let post_form = |params: Vec<(String, String)>| {
        let (http, url) = (herald.http.clone(), url.clone());
        async move {
            let response = http.post(&url).form(&params).send().await.unwrap();
            response.status().as_u16()
        }
    };
    let secret = &sim.config().vonage_signature_secret;
    let now = now_secs();

    // Signed with another key, unsigned, altered after signing, or too
    // old to be anything but a replay: each refused with 401.
    let forged = signed("not-the-signature-secret", receipt(&id, "failed", "6", now));
    assert_eq!(post_form(forged).await, 401, "forged");
    assert_eq!(
        post_form(receipt(&id, "failed", "6", now)).await,
        401,
        "unsigned"
    );
    let mut tampered = signed(secret, receipt(&id, "delivered", "0", now));
    set(&mut tampered, "status", "failed");
    assert_eq!(post_form(tampered).await, 401, "tampered");
    let stale = signed(secret, receipt(&id, "failed", "6", now - 3600));
    assert_eq!(post_form(stale).await, 401, "stale");
    let member = api
        .all_members(campaign)
        .await
        .into_iter()
        .find(|m| m["provider_message_id"] == id.as_str())
        .expect("the member");
    assert_eq!(
        member["status"], "delivered",
        "nothing forged applied: {member}"
    );
    assert_eq!(member["error_code"], Value::Null, "{member}");

    // The same checks pass a genuine receipt, as a form or as JSON (for a
    // message Herald does not know: taken, nothing to apply).
    let genuine = signed(secret, receipt("0B00000127FDBC63", "delivered", "0", now));
    assert_eq!(post_form(genuine.clone()).await, 204, "genuine form");
    let object: serde_json::Map<String, Value> = genuine
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let response = herald.http.post(&url).json(&object).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204, "genuine JSON");
}
both_backends!(forged_receipts_are_refused);

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

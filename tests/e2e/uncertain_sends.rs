//! Uncertain sends (issue 13): a provider that takes a message and then
//! answers too late, resets the connection, or answers 500 never gets it
//! twice. Herald looks the message up (herald:provider 1.1 `lookup`)
//! instead of resending under a new attempt; a message that is not there
//! goes out again under the same key; a plugin that cannot look up leaves
//! the member `unknown` with the reason.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};

/// The simulator's faults, by the recipient's last four digits, and the
/// attempts each member must end with: found at the provider after the
/// first (1), or not there and sent once more under the same key (2).
const FAULTS: [(&str, i64); 5] = [
    ("0504", 1), // taken, answered after the plugin's deadline
    ("0505", 1), // taken, then the connection closed with no answer
    ("0506", 1), // taken, answered 500
    ("0507", 1), // taken, its status callbacks dropped
    ("0500", 2), // answered 500 without taking it
];

fn faulty_sim() -> SimConfig {
    SimConfig {
        // Past the 1 s plugin deadline the tests give Herald.
        slow_answer_delay: Duration::from_secs(3),
        ..SimConfig::default()
    }
}

const FLAGS: [&str; 6] = [
    "--plugin-timeout-ms",
    "1000",
    // Dropped callbacks are fetched soon.
    "--receipt-check-secs",
    "2",
    // The faults are not a provider outage: no auto-pause.
    "--max-provider-errors",
    "100",
];

async fn members_by_address(api: &Api, campaign: i64) -> Vec<(String, Value)> {
    api.all_members(campaign)
        .await
        .into_iter()
        .map(|m| (m["address"].as_str().unwrap().to_owned(), m))
        .collect()
}

async fn twilio_faults_are_looked_up_never_sent_twice(backend: Backend) {
    let sim = Simulator::start(faulty_sim()).await.unwrap();
    let herald = Herald::start(backend, &FLAGS).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let mut numbers: Vec<String> = (0..30)
        .map(|i| format!("+1512400{:04}", 1000 + i))
        .collect();
    for (suffix, _) in FAULTS {
        numbers.push(format!("+1512401{suffix}"));
        numbers.push(format!("+1512402{suffix}"));
    }
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "uncertain").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;

    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.accepted, numbers.len() as u64, "{stats:?}");
    for (address, m) in members_by_address(&api, campaign).await {
        assert_eq!(sim.sends_to(&address), 1, "{m}");
        assert_eq!(m["status"], "delivered", "{m}");
        let suffix = &address[address.len() - 4..];
        let attempts = FAULTS
            .iter()
            .find(|(s, _)| *s == suffix)
            .map_or(1, |(_, a)| *a);
        assert_eq!(m["attempts"], attempts, "{m}");
    }
    // The uncertain sends were counted as such, not as failures or retries.
    let (_, metrics) = herald.admin().get_text("/metrics").await;
    let uncertain: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("herald_sends_total") && l.contains("outcome=\"uncertain\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(uncertain, 8.0, "0504, 0505, 0506 and 0500 twice each");
}
both_backends!(twilio_faults_are_looked_up_never_sent_twice);

/// The example plugin finds a send by the reference it carried, Infobip's
/// by the key it sent as the message id, Mailgun's by the key its events
/// carry; a plugin without `lookup` (test-hostile,
/// Twilio's code built for herald:provider 1.0's world) leaves its
/// uncertain send `unknown`, with the reason, and the campaign completes.
async fn lookups_by_key_and_plugins_that_cannot_look(backend: Backend) {
    let sim = Simulator::start(faulty_sim()).await.unwrap();
    let herald = Herald::start(backend, &FLAGS).await;
    let api = herald.new_tenant("acme").await;
    let cfg = sim.config().clone();

    let (status, generic) = api
        .post(
            "/v1/channels",
            json!({
                "name": "generic gateway", "plugin": "example-http-sms", "sender": "+15005550006",
                "config": { "base-url": format!("{}/generic", sim.base_url()) },
                "secrets": { "api-token": cfg.generic_api_token, "webhook-secret": cfg.generic_webhook_secret },
                "allowed_hosts": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{generic}");
    let numbers = [
        "+15124100506".to_owned(),
        "+15124100505".to_owned(),
        "+15124101234".to_owned(),
    ];
    let list = api.list_with(&numbers).await;
    let sms = api
        .campaign(generic["id"].as_i64().unwrap(), list, "hi")
        .await;
    api.post_empty(&format!("/v1/campaigns/{sms}/start")).await;

    let (status, mailgun) = api
        .post(
            "/v1/channels",
            json!({
                "name": "mail", "plugin": "mailgun-email", "sender": "news@mg.example.test",
                "config": { "domain": cfg.mailgun_domain, "base-url": sim.base_url() },
                "secrets": { "api-key": cfg.mailgun_api_key, "webhook-signing-key": cfg.mailgun_webhook_signing_key },
                "allowed_hosts": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{mailgun}");
    let mailgun = mailgun["id"].as_i64().unwrap();
    sim.set_webhook_url("mailgun", &format!("{}/webhooks/{mailgun}", herald.base));
    let (status, list) = api.post("/v1/lists", json!({ "name": "mail" })).await;
    assert_eq!(status, 201, "{list}");
    let contacts = json!({ "contacts": [
        { "email": "error500-ana@example.com" }, { "email": "bo@example.com" } ] });
    let (status, body) = api
        .post(&format!("/v1/lists/{}/contacts", list["id"]), contacts)
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, email) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "mail", "type": "email", "channel_id": mailgun,
                "list_id": list["id"], "subject": "Hi", "body": "Hello" }),
        )
        .await;
    assert_eq!(status, 201, "{email}");
    let email = email["id"].as_i64().unwrap();
    api.post_empty(&format!("/v1/campaigns/{email}/start"))
        .await;

    api.wait_status(sms, "completed", Duration::from_secs(60))
        .await;
    api.wait_status(email, "completed", Duration::from_secs(60))
        .await;
    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    for (address, m) in members_by_address(&api, sms).await {
        assert_eq!(sim.sends_to(&address), 1, "{m}");
        assert_eq!(m["status"], "delivered", "{m}");
        assert_eq!(
            m["attempts"], 1,
            "found by its reference, never resent: {m}"
        );
    }
    for (address, m) in members_by_address(&api, email).await {
        assert_eq!(sim.sends_to(&address), 1, "{m}");
        assert_eq!(m["status"], "delivered", "{m}");
        assert_eq!(m["attempts"], 1, "found by its key, never resent: {m}");
    }

    // Infobip keeps the key as the message id: found in its logs.
    let (status, infobip) = api
        .post(
            "/v1/channels",
            json!({
                "name": "infobip", "plugin": "infobip-sms", "sender": "Shop",
                "config": { "base-url": sim.base_url() },
                "secrets": { "api-key": cfg.infobip_api_key, "webhook-token": "tok-123" },
                "allowed_hosts": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{infobip}");
    let numbers = ["+15124300506".to_owned(), "+15124300505".to_owned()];
    let list = api.list_with(&numbers).await;
    let ib = api
        .campaign(infobip["id"].as_i64().unwrap(), list, "hi")
        .await;
    api.post_empty(&format!("/v1/campaigns/{ib}/start")).await;
    api.wait_status(ib, "completed", Duration::from_secs(60))
        .await;
    for (address, m) in members_by_address(&api, ib).await {
        assert_eq!(sim.sends_to(&address), 1, "{m}");
        assert_eq!(m["status"], "delivered", "{m}");
        assert_eq!(m["attempts"], 1, "found by its key, never resent: {m}");
    }

    let blind = api.sim_channel(&sim, "test-hostile").await;
    let numbers = ["+15124200506".to_owned(), "+15124201234".to_owned()];
    let list = api.list_with(&numbers).await;
    let hostile = api.campaign(blind, list, "hi").await;
    api.post_empty(&format!("/v1/campaigns/{hostile}/start"))
        .await;
    api.wait_status(hostile, "completed", Duration::from_secs(60))
        .await;
    for (address, m) in members_by_address(&api, hostile).await {
        assert_eq!(sim.sends_to(&address), 1, "{m}");
        if address.ends_with("0506") {
            assert_eq!(m["status"], "unknown", "{m}");
            assert_eq!(m["error_code"], "send_uncertain", "{m}");
            let why = m["error_message"].as_str().unwrap();
            assert!(why.contains("cannot look messages up"), "{m}");
        } else {
            assert_eq!(m["status"], "delivered", "{m}");
        }
    }
    assert_eq!(sim.stats().duplicates, 0);
    operator_resolves_what_herald_cannot(&api, hostile).await;
}
both_backends!(lookups_by_key_and_plugins_that_cannot_look);

/// The members Herald could not settle wait for an operator's decision.
async fn operator_resolves_what_herald_cannot(api: &Api, campaign: i64) {
    let (status, unknown) = api
        .get(&format!("/v1/campaigns/{campaign}/members?status=unknown"))
        .await;
    assert_eq!(status, 200, "{unknown}");
    let items = unknown["items"].as_array().expect("a page of members");
    assert_eq!(items.len(), 1, "{unknown}");
    let member = items[0]["id"].as_i64().unwrap();
    let one = format!("/v1/campaigns/{campaign}/members/{member}/resolve");
    let many = format!("/v1/campaigns/{campaign}/members/resolve");

    let (status, body) = api.post(&one, json!({ "as": "sent" })).await;
    assert_eq!(status, 422, "sent needs the provider's id: {body}");
    assert!(body.to_string().contains("provider_message_id"), "{body}");
    let (status, body) = api.post(&many, json!({ "as": "sent", "all": true })).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = api.post(&one, json!({ "as": "maybe" })).await;
    assert_eq!(status, 422, "{body}");
    // The campaign is over: nothing can be sent again from it.
    let (status, body) = api.post(&one, json!({ "as": "resend" })).await;
    assert_eq!(status, 409, "{body}");

    let (status, body) = api
        .post(&many, json!({ "as": "failed", "all": true }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"], 1, "{body}");
    let (status, body) = api.post(&one, json!({ "as": "failed" })).await;
    assert_eq!(status, 409, "nothing left to resolve: {body}");
    let members = api.all_members(campaign).await;
    let resolved = members.iter().find(|m| m["id"] == member).unwrap();
    assert_eq!(resolved["status"], "failed", "{resolved}");
    assert_eq!(resolved["error_code"], "resolved_failed", "{resolved}");
}

/// A plugin may know better than the wire: test-hostile's `0222` says the
/// provider may have the message (herald:provider 1.2 `mark-uncertain`)
/// and returns `transient`. Herald alone would retry that under a new
/// attempt (no request left the sandbox); told, it never resends it, and
/// the member waits, `unknown`, with the plugin's reason, while a trap with
/// no word from the plugin is retried.
async fn a_plugin_can_say_its_send_is_uncertain(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &FLAGS).await;
    let api = herald.new_tenant("acme").await;
    let hostile = api.sim_channel(&sim, "test-hostile").await;
    let numbers = [
        "+15124600222".to_owned(),
        "+15124600666".to_owned(),
        "+15124601234".to_owned(),
    ];
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(hostile, list, "hi").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;
    for (address, m) in members_by_address(&api, campaign).await {
        match &address[address.len() - 4..] {
            "0222" => {
                assert_eq!(m["status"], "unknown", "{m}");
                assert_eq!(m["error_code"], "send_uncertain", "{m}");
                assert_eq!(m["attempts"], 1, "never resent: {m}");
                assert!(
                    m["error_message"]
                        .as_str()
                        .unwrap()
                        .contains("unreadable answer"),
                    "{m}"
                );
            }
            "0666" => {
                assert_eq!(m["status"], "failed", "{m}");
                assert_eq!(m["attempts"], 3, "retried: {m}");
            }
            _ => assert_eq!(m["status"], "delivered", "{m}"),
        }
    }
    assert_eq!(sim.sends_to("+15124600222"), 0);
}
both_backends!(a_plugin_can_say_its_send_is_uncertain);

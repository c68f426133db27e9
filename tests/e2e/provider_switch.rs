//! Switching a running campaign's channel to another provider: the sends
//! not yet called go to the new provider, the sends already made stay with
//! the old one (its delayed status callbacks are still verified by the old
//! plugin with the old credentials), and the campaign completes.

use std::collections::HashMap;
use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};
use crate::support::{channel, create, eventually, twilio_config};

const MEMBERS: usize = 24;

async fn a_switch_applies_to_sends_not_yet_called(backend: Backend) {
    // Status callbacks come late, so most of Twilio's arrive after the
    // switch, when the channel's plugin is Infobip's.
    let sim = Simulator::start(SimConfig {
        callback_delay: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (config, secrets) = twilio_config(&sim);
    let ch = channel(&api, "twilio-sms", "+15005550006", config, secrets).await;
    api.set_rate(ch, 4).await;
    let numbers = numbers_ending("7100", MEMBERS, 300);
    let list = api.list_with(&numbers).await;
    let campaign = create(
        &api,
        json!({ "name": "switch", "type": "sms", "channel_id": ch, "list_id": list,
                "body": "Spring sale" }),
    )
    .await;
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(
        "six sends through Twilio",
        Duration::from_secs(10),
        || async { sim.messages_for("twilio").len() >= 6 },
    )
    .await;

    let (status, switched) = api
        .patch(
            &format!("/v1/channels/{ch}"),
            json!({
                "plugin": "infobip-sms",
                "sender": "Shop",
                "config": { "base-url": sim.base_url() },
                "secrets": { "api-key": sim.config().infobip_api_key, "webhook-token": "tok-123" },
            }),
        )
        .await;
    assert_eq!(status, 200, "{switched}");
    assert_eq!(switched["revision"], 2, "{switched}");
    let twilio_at_switch = sim.messages_for("twilio").len();
    assert!(
        twilio_at_switch < MEMBERS / 2,
        "the switch came while most were still waiting for their turn"
    );

    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 409, "already running: {body}");
    eventually(
        "the campaign completes",
        Duration::from_secs(30),
        || async { api.get(&format!("/v1/campaigns/{campaign}")).await.1["status"] == "completed" },
    )
    .await;

    // Only a call already under way at the switch may still have gone to
    // Twilio; every send after it went to Infobip.
    let twilio = sim.messages_for("twilio");
    let infobip = sim.messages_for("infobip");
    assert!(
        twilio.len() <= twilio_at_switch + 1,
        "{} Twilio sends after the switch",
        twilio.len() - twilio_at_switch
    );
    assert_eq!(twilio.len() + infobip.len(), MEMBERS);
    assert_eq!(sim.stats().duplicates, 0);
    assert!(infobip.iter().all(|m| m.from == "Shop"), "{infobip:?}");

    // Every member delivered, each through the provider that sent it:
    // the old provider's late callbacks were accepted (by the old plugin,
    // with the old auth token), none refused.
    let by_sid: HashMap<&str, &str> = twilio
        .iter()
        .chain(&infobip)
        .map(|m| (m.sid.as_str(), m.provider.as_str()))
        .collect();
    let members = api.all_members(campaign).await;
    assert_eq!(members.len(), MEMBERS);
    for m in &members {
        assert_eq!(m["status"], "delivered", "{m}");
        let sid = m["provider_message_id"].as_str().unwrap();
        let revision = match by_sid.get(sid) {
            Some(&"twilio") => 1,
            Some(&"infobip") => 2,
            other => panic!("{sid} sent by {other:?}"),
        };
        assert_eq!(m["channel_revision"], revision, "{m}");
        assert_eq!(m["plugin_sha256"].as_str().map(str::len), Some(64), "{m}");
    }
    let stats = sim.stats();
    assert_eq!(stats.callbacks_failed, 0, "{stats:?}");
    let (_, metrics) = herald.admin().get_text("/metrics").await;
    let by_earlier: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("herald_webhooks_total") && l.contains("earlier_revision"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        by_earlier >= 1.0,
        "Twilio's callbacks after the switch went to the old plugin: {by_earlier}"
    );
}
both_backends!(a_switch_applies_to_sends_not_yet_called);

//! The plugin authors' example (`plugins/example-http-sms`, shown in
//! docs/plugins.md) really works: a campaign through it is delivered, and
//! its webhook verification refuses a bad signature.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator, generic_signature};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

async fn example_plugin_sends_and_verifies(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (status, channel) = api
        .post(
            "/v1/channels",
            json!({
                "name": "generic gateway", "plugin": "example-http-sms", "sender": "+15005550006",
                "config": { "base-url": format!("{}/generic", sim.base_url()) },
                "secrets": { "api-token": sim.config().generic_api_token, "webhook-secret": sim.config().generic_webhook_secret },
                "allowed_hosts": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    let channel = channel["id"].as_i64().unwrap();
    let mut numbers = numbers_ending("7000", 5, 800);
    numbers.push(numbers_ending("0001", 1, 810).remove(0));
    numbers.push(numbers_ending("0002", 1, 811).remove(0));
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello {{first_name}}").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;

    let (_, p) = api.get(&format!("/v1/campaigns/{campaign}/progress")).await;
    assert_eq!(
        (p["delivered"].as_i64(), p["failed"].as_i64()),
        (Some(5), Some(2)),
        "{p}"
    );
    let members = api.all_members(campaign).await;
    let invalid = members.iter().find(|m| m["address"] == numbers[5]).unwrap();
    assert_eq!(invalid["error_code"], "invalid_number");
    let sent = sim.messages();
    assert_eq!(sent.len(), 6);
    assert_eq!(sent.iter().filter(|m| m.body == "Hello C0").count(), 1);

    // A receipt with a wrong signature is refused; the right one is applied.
    let target = members.iter().find(|m| m["status"] == "delivered").unwrap();
    let body = json!({ "id": target["provider_message_id"], "status": "failed", "error": "x" })
        .to_string();
    let url = format!("{}/webhooks/{channel}", herald.base);
    let forged = herald
        .http
        .post(&url)
        .header(
            "X-Signature",
            generic_signature("wrong-secret", body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let after = api.all_members(campaign).await;
    assert_eq!(members, after);
}
both_backends!(example_plugin_sends_and_verifies);

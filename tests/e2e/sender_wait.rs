//! Seed 001's Pending: a campaign that opts in with `wait_for_sender` and
//! goes live while another campaign sends on the same channel waits in
//! `pending`, then runs once the other completes.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald};

async fn second_campaign_waits_for_the_sender(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // 2 messages a second: the first campaign sends for about 2 s.
    api.set_rate(channel, 2).await;

    let first: Vec<String> = (0..5).map(|i| format!("+1628555{:04}", 7000 + i)).collect();
    let second: Vec<String> = (0..3).map(|i| format!("+1628555{:04}", 7100 + i)).collect();
    let list = api.list_with(&first).await;
    let a = api.campaign(channel, list, "Hello").await;
    let list = api.list_with(&second).await;
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "waits", "channel_id": channel, "list_id": list,
                "body": "Hello", "wait_for_sender": true }),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let b = c["id"].as_i64().unwrap();

    let (status, c) = api.post_empty(&format!("/v1/campaigns/{a}/start")).await;
    assert_eq!(
        (status, c["status"].clone()),
        (200, json!("running")),
        "{c}"
    );
    let (status, c) = api.post_empty(&format!("/v1/campaigns/{b}/start")).await;
    assert_eq!(
        (status, c["status"].clone()),
        (200, json!("pending")),
        "{c}"
    );

    api.wait_status(a, "completed", Duration::from_secs(30))
        .await;
    api.wait_status(b, "completed", Duration::from_secs(30))
        .await;
    let at = |numbers: &[String]| -> Vec<u64> {
        sim.messages()
            .iter()
            .filter(|m| numbers.contains(&m.to))
            .map(|m| m.received_at_ms)
            .collect()
    };
    let (sent_a, sent_b) = (at(&first), at(&second));
    assert_eq!((sent_a.len(), sent_b.len()), (5, 3));
    let last_a = sent_a.iter().max().unwrap();
    let first_b = sent_b.iter().min().unwrap();
    assert!(
        first_b >= last_a,
        "the waiting campaign sent at {first_b}, before the first finished at {last_a}"
    );
}
both_backends!(second_campaign_waits_for_the_sender);

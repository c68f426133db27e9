//! Duplicate-outreach prevention and the campaign end date.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald};

async fn duplicate_window_skips_addresses_messaged_recently(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (status, body) = api
        .patch("/v1/tenant", json!({"duplicate_window_hours": -1}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "duplicate_window_hours");
    let (status, body) = api
        .patch("/v1/tenant", json!({"duplicate_window_hours": 24}))
        .await;
    assert_eq!(
        (status, body["duplicate_window_hours"].clone()),
        (200, json!(24))
    );
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (x, y) = ("+14155550160".to_string(), "+14155550161".to_string());
    let run = |body: &'static str, numbers: Vec<String>| {
        let api = &api;
        async move {
            let id = api
                .campaign(channel, api.list_with(&numbers).await, body)
                .await;
            api.post_empty(&format!("/v1/campaigns/{id}/start")).await;
            api.wait_status(id, "completed", Duration::from_secs(30))
                .await;
            id
        }
    };
    run("First", vec![x.clone()]).await;
    assert_eq!(sim.sends_to(&x), 1);

    // Another campaign within the window: x is skipped with the reason, y sent.
    let second = run("Second", vec![x.clone(), y.clone()]).await;
    let members = api.all_members(second).await;
    let of = |a: &str| members.iter().find(|m| m["address"] == a).unwrap().clone();
    assert_eq!(of(&x)["status"], "disqualified", "{members:?}");
    assert_eq!(of(&x)["error_code"], "duplicate_outreach");
    assert_eq!(of(&x)["attempts"], 0);
    assert_eq!(of(&y)["status"], "delivered");
    assert_eq!(sim.sends_to(&x), 1);
    assert_eq!(sim.sends_to(&y), 1);

    // Once the window has passed, x may be messaged again.
    herald.advance_clock(25 * 3600).await;
    let third = run("Third", vec![x.clone()]).await;
    assert_eq!(api.all_members(third).await[0]["status"], "delivered");
    assert_eq!(sim.sends_to(&x), 2);
}
both_backends!(duplicate_window_skips_addresses_messaged_recently);

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

// Two campaigns reach the same contact at the same instant (both waited
// for its 08:00): claimed together, only one message goes out; the other
// member is skipped as a duplicate.
async fn duplicate_window_holds_within_one_claim(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    // 04:00 in San Francisco: before quiet hours end.
    herald.set_clock("2026-01-15T12:00:00Z").await;
    let api = herald.new_tenant("acme").await;
    // Campaigns may overlap on a contact; the window alone keeps it to one
    // message.
    let (status, body) = api
        .patch(
            "/v1/tenant",
            json!({"duplicate_window_hours": 24, "one_campaign_per_contact": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let x = "+14155550162".to_string();
    let mut campaigns = Vec::new();
    for body in ["Morning A", "Morning B"] {
        let list = api.list_with(std::slice::from_ref(&x)).await;
        let id = api.campaign(channel, list, body).await;
        let (status, c) = api.post_empty(&format!("/v1/campaigns/{id}/start")).await;
        assert_eq!(status, 200, "{c}");
        campaigns.push(id);
    }
    crate::support::eventually("both deferred", Duration::from_secs(5), || async {
        let mut waiting = 0;
        for id in &campaigns {
            waiting += api
                .all_members(*id)
                .await
                .iter()
                .filter(|m| m["wait_reason"] == "quiet_hours")
                .count();
        }
        waiting == 2
    })
    .await;
    // 08:00 in San Francisco: both due at once.
    herald.set_clock("2026-01-15T16:00:01Z").await;
    for id in &campaigns {
        api.wait_status(*id, "completed", Duration::from_secs(10))
            .await;
    }
    assert_eq!(sim.sends_to(&x), 1, "one message within the window");
    let mut statuses = Vec::new();
    for id in &campaigns {
        let m = &api.all_members(*id).await[0];
        statuses.push((m["status"].clone(), m["error_code"].clone()));
    }
    statuses.sort_by_key(|s| s.0.to_string());
    assert_eq!(
        statuses,
        [
            (json!("delivered"), json!(null)),
            (json!("disqualified"), json!("duplicate_outreach"))
        ]
    );
}
both_backends!(duplicate_window_holds_within_one_claim);

// Started at 23:00 UTC, Los Angeles (15:00) is sent at once while Berlin
// (midnight) waits for its 08:00 (07:00 UTC); the campaign ends at 03:00
// UTC (22:00 in the tenant's New York, as entered), moved while live to
// 02:00, so when the clock passes it Berlin ends `expired`, is never sent,
// and the campaign completes.
async fn end_date_expires_members_not_yet_reached(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    herald.set_clock("2026-01-14T23:00:00Z").await;
    let api = herald.new_tenant("acme").await;
    let (status, body) = api
        .patch("/v1/tenant", json!({"timezone": "America/New_York"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (la, berlin) = ("+12135550170", "+4930901870");
    let list =
        crate::support::list_of(&api, vec![json!({"phone": la}), json!({"phone": berlin})]).await;
    let campaign = json!({"name": "ends", "channel_id": channel, "list_id": list, "body": "Hi"});
    let mut past = campaign.clone();
    past["ends_at"] = json!("2026-01-14T17:00");
    let (status, body) = api.post("/v1/campaigns", past).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("ends_at")),
        "{body}"
    );

    // Set in the draft, as local time in the tenant's timezone.
    let id = crate::support::create(&api, campaign).await;
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{id}/schedule"),
            json!({"ends_at": "2026-01-14T22:00"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ends_at"], "2026-01-15T03:00:00Z", "{body}");
    api.post_empty(&format!("/v1/campaigns/{id}/start")).await;
    crate::support::eventually("LA sent", Duration::from_secs(5), || async {
        sim.sends_to(la) == 1
    })
    .await;
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["status"], "running", "Berlin still waits: {c}");
    // Live, the end can still move, though not into the past: an hour
    // sooner, to 02:00 UTC.
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{id}/schedule"),
            json!({"ends_at": "2026-01-14T17:00"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("ends_at")),
        "{body}"
    );
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{id}/schedule"),
            json!({"ends_at": "2026-01-14T21:00"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ends_at"], "2026-01-15T02:00:00Z", "{body}");

    // 01:59 UTC: not yet over.
    herald.advance_clock(3 * 3600 - 60).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["status"], "running", "ends at 02:00: {c}");
    // 02:00 UTC: past the end, before Berlin's 08:00.
    herald.advance_clock(60).await;
    api.wait_status(id, "completed", Duration::from_secs(2))
        .await;
    let members = api.all_members(id).await;
    let of = |a: &str| members.iter().find(|m| m["address"] == a).unwrap().clone();
    assert_eq!(of(berlin)["status"], "expired", "{members:?}");
    assert_eq!(of(berlin)["display_status"], "expired");
    assert_eq!(of(berlin)["error_code"], "end_date_passed");
    assert_eq!(of(la)["status"], "delivered");
    let (_, progress) = api.get(&format!("/v1/campaigns/{id}/progress")).await;
    assert_eq!(progress["expired"], 1, "{progress}");

    // Berlin's 08:00 comes: nothing is sent to it.
    herald.advance_clock(6 * 3600).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.sends_to(berlin), 0);
    assert_eq!(sim.sends_to(la), 1);
}
both_backends!(end_date_expires_members_not_yet_reached);

// A contact waiting for approval in one campaign is active there: a second
// campaign starting with it keeps its member `disqualified`, naming the
// first campaign, and sends to the others (the tenant's default).
async fn a_contact_is_active_in_one_campaign_at_a_time(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    // The rule holds for a new tenant without asking.
    let (status, body) = api.get("/v1/tenant").await;
    assert_eq!(
        (status, body["one_campaign_per_contact"].clone()),
        (200, json!(true))
    );
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (x, y) = ("+14155550180".to_string(), "+14155550181".to_string());
    let held = api.list_with(std::slice::from_ref(&x)).await;
    let first = crate::support::create(
        &api,
        json!({"name": "held", "channel_id": channel, "list_id": held, "body": "A",
               "manual_review": true}),
    )
    .await;
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{first}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.all_members(first).await[0]["status"],
        "awaiting_approval"
    );

    let second = api
        .campaign(channel, api.list_with(&[x.clone(), y.clone()]).await, "B")
        .await;
    api.post_empty(&format!("/v1/campaigns/{second}/start"))
        .await;
    api.wait_status(second, "completed", Duration::from_secs(30))
        .await;
    let members = api.all_members(second).await;
    let of = |a: &str| members.iter().find(|m| m["address"] == a).unwrap().clone();
    assert_eq!(of(&x)["status"], "disqualified", "{members:?}");
    assert_eq!(of(&x)["error_code"], "active_in_other_campaign");
    assert!(
        of(&x)["error_message"]
            .as_str()
            .unwrap()
            .ends_with(&format!("campaign {first}")),
        "{members:?}"
    );
    assert_eq!(of(&y)["status"], "delivered");
    let (_, progress) = api.get(&format!("/v1/campaigns/{second}/progress")).await;
    assert_eq!(progress["disqualified"], 1, "{progress}");

    // A campaign whose whole audience is active elsewhere still completes.
    let third = api
        .campaign(channel, api.list_with(std::slice::from_ref(&x)).await, "C")
        .await;
    api.post_empty(&format!("/v1/campaigns/{third}/start"))
        .await;
    api.wait_status(third, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(api.all_members(third).await[0]["status"], "disqualified");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.sends_to(&x), 0);
}
both_backends!(a_contact_is_active_in_one_campaign_at_a_time);

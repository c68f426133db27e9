//! One tenant can neither see nor change another tenant's objects.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

async fn tenants_are_isolated(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let a = herald.new_tenant("a").await;
    let b = herald.new_tenant("b").await;
    let channel = a.sim_channel(&sim, "twilio-sms").await;
    let list = a.list_with(&numbers_ending("3333", 2, 700)).await;
    let campaign = a.campaign(channel, list, "hi").await;

    for path in [
        format!("/v1/channels/{channel}"),
        format!("/v1/lists/{list}"),
        format!("/v1/lists/{list}/contacts"),
        format!("/v1/campaigns/{campaign}"),
        format!("/v1/campaigns/{campaign}/progress"),
        format!("/v1/campaigns/{campaign}/members"),
    ] {
        let (status, body) = b.get(&path).await;
        assert_eq!(status, 404, "GET {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    for action in ["start", "pause", "resume", "cancel"] {
        let (status, _) = b
            .post_empty(&format!("/v1/campaigns/{campaign}/{action}"))
            .await;
        assert_eq!(status, 404, "{action}");
    }
    let (status, _) = b
        .post(
            &format!("/v1/lists/{list}/contacts"),
            json!({"contacts": [{"phone": "+14155550123"}]}),
        )
        .await;
    assert_eq!(status, 404);
    // B cannot build a campaign on A's channel or list either.
    let own_list = b.list_with(&numbers_ending("4444", 1, 710)).await;
    let (status, body) = b
        .post(
            "/v1/campaigns",
            json!({"name": "x", "channel_id": channel, "list_id": own_list, "body": "hi"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "channel_id");

    // Lists are empty for B, and A's objects are untouched.
    let (_, page) = b.get("/v1/campaigns").await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["total"], 0);
    let (_, c) = a.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(c["status"], "draft");
    let (_, l) = a.get(&format!("/v1/lists/{list}")).await;
    assert_eq!(l["contacts"], 2);

    // No key, or a wrong one: 401.
    let resp = herald
        .http
        .get(format!("{}/v1/campaigns", herald.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = herald
        .http
        .get(format!("{}/v1/campaigns", herald.base))
        .bearer_auth("hrld_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Tenant keys cannot manage tenants.
    let (status, _) = a.post("/v1/tenants", json!({"name": "sneaky"})).await;
    assert_eq!(status, 401);
}
both_backends!(tenants_are_isolated);

/// Seed 000's per-tenant flag: an admin switches campaigns off for one
/// tenant. Its running campaign pauses at once (cause `feature_disabled`)
/// and nothing more is sent; the tenant can still read, pause and cancel,
/// not start or resume; other tenants are unaffected. Switched on again,
/// the campaign resumes and completes, nothing sent twice.
async fn campaigns_can_be_switched_off_per_tenant(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let a = herald.new_tenant("a").await;
    let b = herald.new_tenant("b").await;
    let (_, me) = a.get("/v1/tenant").await;
    assert_eq!(me["campaigns_enabled"], true);
    let channel = a.sim_channel(&sim, "twilio-sms").await;
    a.set_rate(channel, 5).await;
    let numbers = numbers_ending("7000", 20, 300);
    let list = a.list_with(&numbers).await;
    let running = a.campaign(channel, list, "hi").await;
    let draft = a.campaign(channel, list, "later").await;
    a.post_empty(&format!("/v1/campaigns/{running}/start"))
        .await;
    // It sends: the engine had its chance before the switch.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sim.stats().accepted < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", sim.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let id = me["id"].as_i64().unwrap();
    let (status, _) = a
        .patch(
            &format!("/v1/tenants/{id}"),
            json!({"campaigns_enabled": false}),
        )
        .await;
    assert_eq!(status, 401, "a tenant cannot flip its own flag");
    let admin = herald.admin();
    let (status, body) = admin
        .patch(
            &format!("/v1/tenants/{id}"),
            json!({"campaigns_enabled": false}),
        )
        .await;
    assert_eq!(
        (status, &body["campaigns_enabled"]),
        (200, &json!(false)),
        "the tenant as it now is: {body}"
    );
    let (status, c) = a.get(&format!("/v1/campaigns/{running}")).await;
    assert_eq!(status, 200, "reads stay allowed: {c}");
    assert_eq!(c["status"], "paused", "{c}");
    assert_eq!(c["status_cause"], "feature_disabled", "{c}");
    // A call already under way may finish; nothing after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = sim.stats().accepted;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.stats().accepted, after, "sent while switched off");

    for (status, body) in [
        a.post_empty(&format!("/v1/campaigns/{draft}/start")).await,
        a.post_empty(&format!("/v1/campaigns/{running}/resume"))
            .await,
    ] {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("switched off"),
            "{body}"
        );
    }
    let (status, body) = a.get("/v1/campaigns").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a.post_empty(&format!("/v1/campaigns/{draft}/cancel")).await;
    assert_eq!(status, 200, "cancel stays allowed: {body}");
    let (status, _) = a.get(&format!("/v1/lists/{list}")).await;
    assert_eq!(status, 200, "only campaigns are switched off");
    let (status, _) = b.get("/v1/campaigns").await;
    assert_eq!(status, 200, "other tenants are unaffected");

    admin
        .patch(
            &format!("/v1/tenants/{id}"),
            json!({"campaigns_enabled": true}),
        )
        .await;
    let (status, body) = a
        .post_empty(&format!("/v1/campaigns/{running}/resume"))
        .await;
    assert_eq!(status, 200, "{body}");
    a.wait_status(running, "completed", Duration::from_secs(30))
        .await;
    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.distinct_recipients, numbers.len() as u64, "{stats:?}");
    let (status, _) = admin
        .patch("/v1/tenants/999999", json!({"campaigns_enabled": true}))
        .await;
    assert_eq!(status, 404);
}
both_backends!(campaigns_can_be_switched_off_per_tenant);

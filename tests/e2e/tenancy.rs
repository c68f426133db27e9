//! One tenant can neither see nor change another tenant's objects.

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
    let (_, lists) = b.get("/v1/campaigns").await;
    assert_eq!(lists, json!([]));
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

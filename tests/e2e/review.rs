//! Manual review (seed 004) and disabled members: nothing is sent until a
//! user approves it and executes the approved ones; a reviewer's edit is what
//! the provider receives; a disabled member is never sent until enabled.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, numbers_ending};

async fn member_ids(api: &Api, campaign: i64) -> Vec<(i64, String)> {
    api.all_members(campaign)
        .await
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["address"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn status_of(members: &[Value], id: i64) -> (String, String) {
    let m = members.iter().find(|m| m["id"] == id).unwrap();
    (
        m["status"].as_str().unwrap().to_owned(),
        m["display_status"].as_str().unwrap().to_owned(),
    )
}

async fn manual_review_sends_only_what_was_approved(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers = numbers_ending("7000", 3, 610);
    let list = api.list_with(&numbers).await;
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "Reviewed", "channel_id": channel, "list_id": list,
                    "body": "Hello {{first_name}}", "manual_review": true }),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["manual_review"], true);
    let campaign = c["id"].as_i64().unwrap();
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "running");

    // Planned, not sent: every member waits for approval.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.stats().accepted, 0, "nothing is sent before approval");
    let members = api.all_members(campaign).await;
    assert!(
        members
            .iter()
            .all(|m| m["status"] == "awaiting_approval"
                && m["display_status"] == "awaiting_approval"),
        "{members:?}"
    );
    // Paused, every member shows the campaign's pause.
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/pause"))
        .await;
    assert_eq!(status, 200, "{body}");
    let members = api.all_members(campaign).await;
    assert!(
        members
            .iter()
            .all(|m| m["display_status"] == "campaign_paused"),
        "{members:?}"
    );
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/resume"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("running")),
        "{body}"
    );
    let ids = member_ids(&api, campaign).await;
    let (edited, edited_to) = ids[0].clone();
    let (plain, plain_to) = ids[1].clone();
    let (held, held_to) = ids[2].clone();

    // An edit naming media that is not the tenant's, or an unknown
    // variable, is refused when made, not at send time.
    let content = format!("/v1/campaigns/{campaign}/members/{edited}/content");
    for (bad, field) in [
        (json!({ "body": "hi", "media_id": 9999 }), "media_id"),
        (json!({ "body": "Hi {{frist_name}}" }), "body"),
    ] {
        let (status, body) = api.put(&content, bad).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    // The reviewer rewrites one member's message, then approves two.
    let (status, body) = api
        .put(
            &format!("/v1/campaigns/{campaign}/members/{edited}/content"),
            json!({ "body": "A personal note for {{first_name}}" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .get(&format!(
            "/v1/campaigns/{campaign}/members/{edited}/content"
        ))
        .await;
    assert_eq!(
        (status, body["body"].as_str()),
        (200, Some("A personal note for {{first_name}}"))
    );
    let (status, body) = api
        .post(
            &format!("/v1/campaigns/{campaign}/approve"),
            json!({ "member_ids": [edited, plain] }),
        )
        .await;
    assert_eq!((status, body["members"].as_u64()), (200, Some(2)), "{body}");

    // Approved is not yet executed: still nothing sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sim.stats().accepted,
        0,
        "approved waits for execute-approved"
    );
    let members = api.all_members(campaign).await;
    assert_eq!(status_of(&members, edited).0, "approved");
    assert_eq!(status_of(&members, held).1, "awaiting_approval");

    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/execute-approved"))
        .await;
    assert_eq!((status, body["members"].as_u64()), (200, Some(2)), "{body}");
    assert!(
        sim.wait_for(Duration::from_secs(20), |s| s.accepted >= 2)
            .await,
        "the approved members are sent"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = sim.messages();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let to_edited = sent
        .iter()
        .find(|m| m.to == edited_to)
        .expect("edited sent");
    let name = |to: &str| {
        let i = numbers.iter().position(|n| n == to).unwrap();
        format!("C{i}")
    };
    assert_eq!(
        to_edited.body,
        format!("A personal note for {}", name(&edited_to))
    );
    let to_plain = sent.iter().find(|m| m.to == plain_to).expect("plain sent");
    assert_eq!(to_plain.body, format!("Hello {}", name(&plain_to)));
    assert_eq!(
        sim.sends_to(&held_to),
        0,
        "the unapproved member is not sent"
    );

    // The last one, approved singly, completes the campaign.
    let (status, approved) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/members/{held}/approve"))
        .await;
    assert_eq!((status, &approved["id"]), (200, &json!(held)), "{approved}");
    let (status, _) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/members/{held}/approve"))
        .await;
    assert_eq!(status, 409, "approving twice is refused");
    api.post_empty(&format!("/v1/campaigns/{campaign}/execute-approved"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(sim.stats().duplicates, 0);
    assert_eq!(sim.sends_to(&held_to), 1);
}
both_backends!(manual_review_sends_only_what_was_approved);

async fn a_disabled_member_is_never_sent_until_enabled(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers = numbers_ending("7100", 3, 620);
    let list = api.list_with(&numbers).await;
    // Reviewed, so the members wait while one of them is disabled.
    let (_, c) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "Hold one", "channel_id": channel, "list_id": list,
                    "body": "Hi", "manual_review": true }),
        )
        .await;
    let campaign = c["id"].as_i64().unwrap();
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    let ids = member_ids(&api, campaign).await;
    let (held, held_to) = ids[0].clone();
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/members/{held}/disable"))
        .await;
    assert_eq!(
        (status, &body["display_status"]),
        (200, &json!("disabled")),
        "{body}"
    );
    // Review off: everything still waiting goes out, but not the disabled one.
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{campaign}"),
            json!({ "manual_review": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        sim.wait_for(Duration::from_secs(20), |s| s.accepted >= 2)
            .await
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sim.sends_to(&held_to), 0, "a disabled member is never sent");
    let members = api.all_members(campaign).await;
    assert_eq!(
        status_of(&members, held),
        ("disabled".into(), "disabled".into())
    );
    let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(
        c["status"], "running",
        "a disabled member holds completion: {c}"
    );

    // Enabled again, it is sent once and the campaign completes.
    let (status, _) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/members/{held}/enable"))
        .await;
    assert_eq!(status, 200);
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(sim.sends_to(&held_to), 1);
    // A sent member cannot be disabled.
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/members/{held}/disable"))
        .await;
    assert_eq!(status, 409, "{body}");
}
both_backends!(a_disabled_member_is_never_sent_until_enabled);

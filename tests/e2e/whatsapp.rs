//! WhatsApp template campaigns end to end: template sync, refusals before
//! the campaign starts, what Meta (the simulator) received, read receipts,
//! 131026, signed webhooks, and a reply stored and forwarded signed.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald};
use crate::support::{
    PHONE_NUMBER_ID, ReplyReceiver, create, eventually, forged_webhook_is_refused, list_of,
    refused, run, signature_valid, whatsapp_channel,
};

async fn whatsapp_template_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let ch = whatsapp_channel(&api, &sim, &herald).await;

    let (status, templates) = api
        .post_empty(&format!("/v1/channels/{ch}/templates/sync"))
        .await;
    assert_eq!(status, 200, "{templates}");
    let (_, listed) = api.get(&format!("/v1/channels/{ch}/templates")).await;
    assert_eq!(templates, listed);
    let order = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "order_update")
        .unwrap();
    assert_eq!(order["status"], "APPROVED");
    assert_eq!(order["body_parameter_count"], 2);
    assert_eq!(order["category"], "UTILITY");

    // Three ordinary numbers and one not on WhatsApp (…0001: 131026).
    let numbers = [
        "+14155557101",
        "+14155557102",
        "+14155557103",
        "+14155570001",
    ];
    let contacts = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| json!({ "phone": n, "first_name": format!("Ana{i}"), "fields": { "order": format!("A-{i}") } }))
        .collect();
    let list = list_of(&api, contacts).await;
    let campaign = |template: serde_json::Value| json!({ "name": "wa", "type": "whatsapp", "channel_id": ch, "list_id": list, "template": template });
    let params = json!([{ "field": "first_name" }, { "field": "order" }]);

    // Refused before anything starts: not approved, a parameter missing, an
    // unknown field, a field of another campaign type.
    refused(
        &api,
        campaign(json!({ "name": "new_feature", "language": "en_US",
        "parameters": [{ "literal": "a" }, { "literal": "b" }, { "literal": "c" }] })),
        "template.name",
    )
    .await;
    refused(
        &api,
        campaign(json!({ "name": "order_update", "language": "en_US",
        "parameters": [{ "field": "first_name" }] })),
        "template.parameters[1]",
    )
    .await;
    refused(
        &api,
        campaign(json!({ "name": "order_update", "language": "en_US",
        "parameters": [{ "field": "first_name" }, { "field": "ordr" }] })),
        "template.parameters[1]",
    )
    .await;
    let mut with_body =
        campaign(json!({ "name": "order_update", "language": "en_US", "parameters": params }));
    with_body["body"] = json!("hi");
    refused(&api, with_body, "body").await;

    let mut request =
        campaign(json!({ "name": "order_update", "language": "en_US", "parameters": params }));
    request["send_mode"] = json!("session");
    let id = create(&api, request).await;
    run(&api, id, Duration::from_secs(30)).await;

    // What Meta received, field by field.
    let sent = sim.messages_for("whatsapp");
    assert_eq!(sent.len(), 4, "{sent:?}");
    for (i, n) in numbers.iter().enumerate() {
        let m = sent.iter().find(|m| m.to.ends_with(&n[1..])).expect("sent");
        let t = m.template.as_ref().expect("a template message");
        assert_eq!(t.name, "order_update");
        assert_eq!(t.language, "en_US");
        assert_eq!(t.body_parameters, vec![format!("Ana{i}"), format!("A-{i}")]);
    }
    // Delivered then read; the unregistered number fails with Meta's code.
    eventually("read receipts applied", Duration::from_secs(15), || async {
        let members = api.all_members(id).await;
        members.iter().filter(|m| m["status"] == "read").count() == 3
    })
    .await;
    let members = api.all_members(id).await;
    for m in &members {
        if m["address"] == numbers[3] {
            assert_eq!(m["status"], "failed", "{m}");
            assert_eq!(m["error_code"], "131026", "{m}");
        } else {
            assert!(
                crate::support::at_ms(&m["read_at"]) >= crate::support::at_ms(&m["delivered_at"]),
                "{m}"
            );
        }
    }

    // A forged notification changes nothing.
    let forged = json!({"object": "whatsapp_business_account", "entry": []}).to_string();
    forged_webhook_is_refused(
        &herald,
        &api,
        &format!("/webhooks/{ch}"),
        &[
            ("x-hub-signature-256", "sha256=00"),
            ("content-type", "application/json"),
        ],
        &forged,
        id,
    )
    .await;

    // A reply: stored on the member's conversation, forwarded signed.
    let receiver = ReplyReceiver::start().await;
    let (status, settings) = api
        .put("/v1/reply-endpoint", json!({ "reply_url": receiver.url }))
        .await;
    assert_eq!(status, 200, "{settings}");
    let secret = settings["webhook_secret"].as_str().unwrap().to_owned();
    assert!(
        sim.whatsapp_inbound(PHONE_NUMBER_ID, numbers[0], "Yes please")
            .await
    );
    eventually("reply forwarded", Duration::from_secs(10), || async {
        !receiver.received.lock().unwrap().is_empty()
    })
    .await;
    let (headers, body) = receiver.received.lock().unwrap()[0].clone();
    let signature = headers["x-herald-signature"].to_str().unwrap();
    assert!(signature_valid(&secret, signature, &body), "{signature}");
    assert!(!signature_valid("wrong", signature, &body));
    let forwarded: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(forwarded["body"], "Yes please");
    assert_eq!(forwarded["from"], numbers[0]);
    assert_eq!(forwarded["campaign_id"], id);
    // The campaign's default tag (from its name "wa") rides along (seed 002).
    assert_eq!(forwarded["tags"], serde_json::json!(["wa"]));
    assert_eq!(forwarded["session"]["target"], "reply_endpoint");
    // A second reply reuses the session.
    assert!(
        sim.whatsapp_inbound(PHONE_NUMBER_ID, numbers[0], "And a question")
            .await
    );
    let (_, sessions) = api.get("/v1/sessions?target=reply_endpoint").await;
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(sessions["items"][0]["id"], forwarded["session"]["id"]);
    assert_eq!(sessions["items"][0]["address"], numbers[0]);
    assert_eq!(sessions["items"][0]["tags"], serde_json::json!(["wa"]));
    // Conversations group by campaign tag.
    let (_, tagged) = api.get("/v1/sessions?tag=WA").await;
    assert_eq!(tagged["items"].as_array().unwrap().len(), 1, "{tagged}");
    let (_, other) = api.get("/v1/sessions?tag=other").await;
    assert_eq!(other["items"], serde_json::json!([]));

    let member = members.iter().find(|m| m["address"] == numbers[0]).unwrap();
    let (_, conversation) = api
        .get(&format!(
            "/v1/campaigns/{id}/members/{}/conversation",
            member["id"]
        ))
        .await;
    let directions: Vec<&str> = conversation["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, ["out", "in", "in"], "{conversation}");
    assert_eq!(conversation["items"][1]["body"], "Yes please");

    // 1 reply among 3 reached.
    let (_, p) = api.get(&format!("/v1/campaigns/{id}/progress")).await;
    assert_eq!(p["reached"], 3, "{p}");
    assert_eq!(p["replied"], 1, "{p}");
    assert_eq!(p["response_rate"], 33.3, "{p}");
    assert_eq!(p["read"], 3, "{p}");
}
both_backends!(whatsapp_template_campaign);

//! Message templates (seed 003): a campaign copies one; until it goes live
//! the copy follows the template, after that it keeps the snapshot.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};
use crate::support::{create, eventually, list_of};

/// 10:00 in San Francisco (the contacts' numbers): inside quiet hours.
const MORNING: &str = "2026-03-10T17:00:00Z";
const DAY: i64 = 24 * 3600;

fn sms_to(sim: &Simulator, number: &str) -> Vec<String> {
    sim.messages_for("twilio")
        .into_iter()
        .filter(|m| m.to == number)
        .map(|m| m.body)
        .collect()
}

async fn edit_template(api: &Api, id: i64, version: &str) -> Value {
    let (status, t) = api
        .patch(
            &format!("/v1/message-templates/{id}"),
            json!({ "body": format!("Hi {{{{first_name}}}}, offer {version}"),
                "follow_ups": [{ "after_days": 2, "body": format!("Reminder {version}") }] }),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    t
}

// Edited before go-live: the campaign sends the edited text. Edited after:
// the simulator still receives the snapshot (first message and follow-up).
async fn campaign_snapshots_its_template(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    herald.set_clock(MORNING).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let phone = "+14155557401";
    let list = list_of(&api, vec![json!({ "phone": phone, "first_name": "Ana" })]).await;

    let (status, t) = api
        .post(
            "/v1/message-templates",
            json!({ "name": "offer", "type": "sms", "body": "Hi {{first_name}}, offer v1 {{code}}",
                "follow_ups": [{ "after_days": 2, "body": "Reminder v1" }] }),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["variables"], json!(["code", "first_name"]), "{t}");
    assert_eq!(t["version"], 1);
    let tid = t["id"].as_i64().unwrap();

    // Inline content and a template at once is ambiguous.
    let (status, body) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "c", "channel_id": sms, "list_id": list,
                "message_template_id": tid, "body": "inline" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "body", "{body}");

    // `code` is no field of the list: the campaign checks refuse the copy...
    let (status, body) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "c", "channel_id": sms, "list_id": list, "message_template_id": tid }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // ...so the template drops it, and the campaign is made from version 2.
    edit_template(&api, tid, "v2").await;
    let id = create(
        &api,
        json!({ "name": "c", "channel_id": sms, "list_id": list, "message_template_id": tid }),
    )
    .await;
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["body"], "Hi {{first_name}}, offer v2", "{c}");
    assert_eq!(c["follow_ups"][0]["content"]["body"], "Reminder v2", "{c}");
    assert_eq!(c["message_template_id"], tid, "{c}");
    assert_eq!(c["message_template_version"], 2, "{c}");

    // Edited while the campaign is a draft: going live takes this version.
    let t = edit_template(&api, tid, "v3").await;
    assert_eq!(t["version"], 3);
    let (status, c) = api.post_empty(&format!("/v1/campaigns/{id}/start")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["message_template_version"], 3, "{c}");
    eventually("first message sent", Duration::from_secs(10), || async {
        !sms_to(&sim, phone).is_empty()
    })
    .await;
    assert_eq!(sms_to(&sim, phone), ["Hi Ana, offer v3"]);

    // Edited once live: the campaign keeps its snapshot.
    edit_template(&api, tid, "v4").await;
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["body"], "Hi {{first_name}}, offer v3", "{c}");
    assert_eq!(c["message_template_version"], 3, "{c}");
    herald.advance_clock(2 * DAY + 60).await;
    eventually("follow-up sent", Duration::from_secs(10), || async {
        sms_to(&sim, phone).len() == 2
    })
    .await;
    assert_eq!(sms_to(&sim, phone)[1], "Reminder v3");

    // A draft whose follow-up gaps are set by hand no longer follows the
    // template: going live keeps the gaps it was given.
    let draft = create(
        &api,
        json!({ "name": "d", "channel_id": sms, "list_id": list, "message_template_id": tid }),
    )
    .await;
    let (status, c) = api
        .patch(
            &format!("/v1/campaigns/{draft}/schedule"),
            json!({ "follow_up_days": [5] }),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert!(c["message_template_id"].is_null(), "{c}");
    let (status, c) = api
        .post_empty(&format!("/v1/campaigns/{draft}/start"))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["follow_ups"][0]["after_days"], 5, "{c}");
}

both_backends!(campaign_snapshots_its_template);

// Syntax errors are refused at save time naming the field; templates are
// the tenant's own (404 to another, which cannot build a campaign on one).
async fn template_checks_and_tenancy(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let other = herald.new_tenant("other").await;

    for (template, field) in [
        (
            json!({ "name": "t", "type": "sms", "body": "Hi {{first_name" }),
            "body",
        ),
        (
            json!({ "name": "t", "type": "email", "subject": "{% if %}", "body": "x" }),
            "subject",
        ),
        (
            json!({ "name": "t", "type": "sms", "body": "x",
                "follow_ups": [{ "after_days": 2, "body": "{{ a b }}" }] }),
            "follow_ups[0].body",
        ),
        (
            json!({ "name": "t", "type": "sms", "body": "x",
                "follow_ups": [{ "after_days": 9, "body": "later" }] }),
            "follow_ups[0].after_days",
        ),
        (
            json!({ "name": "t", "type": "sms", "body": "x", "subject": "s" }),
            "subject",
        ),
    ] {
        let (status, body) = api.post("/v1/message-templates", template).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }

    let (status, t) = api
        .post(
            "/v1/message-templates",
            json!({ "name": "welcome", "type": "email", "subject": "Hello {{first_name}}",
                "body": "Welcome, {{ name }}." }),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["variables"], json!(["first_name", "name"]), "{t}");
    let tid = t["id"].as_i64().unwrap();
    let path = format!("/v1/message-templates/{tid}");

    // A broken edit is refused and leaves the template as it was.
    let (status, body) = api.patch(&path, json!({ "body": "{{ oops" })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "body", "{body}");
    let (_, same) = api.get(&path).await;
    assert_eq!(same["version"], 1, "{same}");
    assert_eq!(same["body"], "Welcome, {{ name }}.", "{same}");

    // A draft made from it follows it, until its content is written by hand.
    let acme_channel = crate::support::channel(
        &api,
        "mailgun-email",
        "news@mg.example.test",
        json!({ "domain": sim.config().mailgun_domain, "base-url": sim.base_url() }),
        json!({ "api-key": sim.config().mailgun_api_key,
            "webhook-signing-key": sim.config().mailgun_webhook_signing_key }),
    )
    .await;
    let acme_list = list_of(&api, vec![json!({ "email": "ana@example.com" })]).await;
    let draft = create(
        &api,
        json!({ "name": "d", "channel_id": acme_channel, "list_id": acme_list,
            "message_template_id": tid }),
    )
    .await;
    let (status, c) = api
        .patch(
            &format!("/v1/campaigns/{draft}"),
            json!({ "body": "By hand" }),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert!(c["message_template_id"].is_null(), "{c}");
    assert_eq!(c["subject"], "Hello {{first_name}}", "{c}");

    let (status, all) = api.get("/v1/message-templates").await;
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "{all}");

    for (status, body) in [
        other.get(&path).await,
        other.patch(&path, json!({ "name": "mine" })).await,
        other.delete(&path).await,
    ] {
        assert_eq!(status, 404, "{body}");
    }
    let (_, none) = other.get("/v1/message-templates").await;
    assert_eq!(none["items"], json!([]));
    let channel = other.sim_channel(&sim, "twilio-sms").await;
    let list = other.list_with(&["+14155557402".to_owned()]).await;
    let (status, body) = other
        .post(
            "/v1/campaigns",
            json!({ "name": "c", "channel_id": channel, "list_id": list, "message_template_id": tid }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "message_template_id", "{body}");

    let (status, _) = api.delete(&path).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&path).await;
    assert_eq!(status, 404);
}

both_backends!(template_checks_and_tenancy);

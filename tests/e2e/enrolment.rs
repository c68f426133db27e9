//! The other ways contacts come in: manual edits with the same validation,
//! API enrolment into a live automatic campaign, a CSV straight into a
//! campaign, and inbound enrolment of an unknown number.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, twilio_inbound};

async fn contacts_are_edited_and_removed_with_validation(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (_, list) = api.post("/v1/lists", json!({"name": "l"})).await;
    let list = list["id"].as_i64().unwrap();
    let (status, added) = api
        .post(
            &format!("/v1/lists/{list}/contacts"),
            json!({"contacts": [{"phone": "+14155550100"}, {"phone": "+14155550101", "email": "b@x.io"}]}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let (a, b) = (
        added["contact_ids"][0].as_i64().unwrap(),
        added["contact_ids"][1].as_i64().unwrap(),
    );

    let (status, body) = api
        .patch(&format!("/v1/contacts/{a}"), json!({"phone": "0155 1234"}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("phone")),
        "{body}"
    );
    let (status, body) = api
        .patch(&format!("/v1/contacts/{a}"), json!({"email": "b@x.io"}))
        .await;
    assert_eq!(status, 409, "an email another contact holds: {body}");
    let (status, body) = api
        .patch(
            &format!("/v1/contacts/{a}"),
            json!({"phone": "+14155550109", "first_name": "Ana", "timezone": "America/Los_Angeles"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phone"], "+14155550109");
    assert_eq!(body["timezone"], "America/Los_Angeles");

    let (status, _) = api.delete(&format!("/v1/lists/{list}/contacts/{a}")).await;
    assert_eq!(status, 204);
    let (_, l) = api.get(&format!("/v1/lists/{list}")).await;
    assert_eq!(l["contacts"], 1);
    let (status, _) = api.delete(&format!("/v1/contacts/{b}")).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&format!("/v1/contacts/{b}")).await;
    assert_eq!(status, 404);

    let other = herald.new_tenant("other").await;
    let (status, _) = other.get(&format!("/v1/contacts/{a}")).await;
    assert_eq!(
        status, 404,
        "another tenant's contact does not exist for us"
    );
    let (status, _) = other.delete(&format!("/v1/contacts/{a}")).await;
    assert_eq!(status, 404);
}
both_backends!(contacts_are_edited_and_removed_with_validation);

async fn automatic_campaign(api: &Api, channel: i64, inbound: bool) -> (i64, i64) {
    let (_, list) = api.post("/v1/lists", json!({"name": "followers"})).await;
    let list = list["id"].as_i64().unwrap();
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({"name": "welcome", "channel_id": channel, "list_id": list, "body": "Welcome!",
                   "execution_mode": "automatic", "inbound_enrolment": inbound}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (status, body) = api.post_empty(&format!("/v1/campaigns/{id}/start")).await;
    assert_eq!(status, 200, "{body}");
    (id, list)
}

async fn delivered(api: &Api, campaign: i64, n: usize) -> Vec<Value> {
    for _ in 0..600 {
        let members = api.all_members(campaign).await;
        if members.len() == n && members.iter().all(|m| m["status"] == "delivered") {
            return members;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "campaign {campaign}: not {n} delivered: {:?}",
        api.all_members(campaign).await
    );
}

async fn api_and_csv_enrolment_into_an_automatic_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (campaign, _) = automatic_campaign(&api, channel, false).await;

    // Idle and running, not completed, while nobody is enrolled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(c["status"], "running", "{c}");

    let contacts = json!({"contacts": [{"phone": "+14155550120"}, {"phone": "+14155550121"}]});
    let (status, first) = api
        .post(
            &format!("/v1/campaigns/{campaign}/contacts"),
            contacts.clone(),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["enrolled"], 2);
    delivered(&api, campaign, 2).await;
    let (_, again) = api
        .post(&format!("/v1/campaigns/{campaign}/contacts"), contacts)
        .await;
    assert_eq!(again["enrolled"], 0, "idempotent: {again}");
    assert_eq!(again["contact_ids"], first["contact_ids"]);

    let csv = "phone,first_name\n+14155550121,Again\n+14155550122,New\n";
    let (status, job) = api
        .post_csv(
            &format!("/v1/campaigns/{campaign}/imports?wait=true"),
            csv.into(),
        )
        .await;
    assert_eq!(status, 200, "{job}");
    delivered(&api, campaign, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.duplicates), (3, 0), "{stats:?}");

    // The audience export: one row per member with its delivery state.
    let (status, csv) = api
        .get_text(&format!("/v1/campaigns/{campaign}/export.csv"))
        .await;
    assert_eq!(status, 200);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3, "{csv}");
    assert!(
        records
            .iter()
            .all(|r| &r[col("status")] == "delivered" && &r[col("attempts")] == "1"),
        "{csv}"
    );
    let new = records
        .iter()
        .find(|r| &r[col("phone")] == "+14155550122")
        .expect("imported member");
    assert_eq!(&new[col("first_name")], "New");
    assert!(new[col("provider_message_id")].starts_with("SM"), "{csv}");

    // A manual campaign's audience is fixed once it starts.
    let list = api.list_with(&["+14155550130".to_string()]).await;
    let manual = api.campaign(channel, list, "hi").await;
    api.post_empty(&format!("/v1/campaigns/{manual}/start"))
        .await;
    let (status, body) = api
        .post(
            &format!("/v1/campaigns/{manual}/contacts"),
            json!({"contacts": [{"phone": "+14155550131"}]}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api
        .post_csv(&format!("/v1/campaigns/{manual}/imports"), csv.into())
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api
        .post(
            "/v1/campaigns",
            json!({"name": "x", "channel_id": channel, "list_id": list, "body": "hi", "inbound_enrolment": true}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("inbound_enrolment"))
    );
}
both_backends!(api_and_csv_enrolment_into_an_automatic_campaign);

async fn an_unknown_number_writing_in_is_enrolled(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (campaign, list) = automatic_campaign(&api, channel, true).await;

    // The message, and the provider retrying its webhook.
    for _ in 0..2 {
        let status = twilio_inbound(
            &herald,
            &sim,
            channel,
            "SM0000000000000000000000000000inb1",
            "+14155550140",
            "JOIN",
        )
        .await;
        assert_eq!(status, 200);
    }
    let members = delivered(&api, campaign, 1).await;
    assert_eq!(members[0]["address"], "+14155550140");
    let (_, l) = api.get(&format!("/v1/lists/{list}")).await;
    assert_eq!(
        l["contacts"], 1,
        "the sender became a contact of the campaign's list"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.stats().accepted, 1, "enrolled once, sent once");
}
both_backends!(an_unknown_number_writing_in_is_enrolled);

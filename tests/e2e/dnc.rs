//! The do-not-contact list: managed by API and CSV, checked at send time.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, twilio_inbound};

async fn dnc_list_is_managed_by_api_and_csv(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;

    let (status, body) = api
        .post(
            "/v1/dnc",
            json!({"addresses": ["+14155550100", "Opt.Out@Example.com"], "note": "asked by phone"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], 2);
    let (_, again) = api
        .post("/v1/dnc", json!({"addresses": ["+14155550100"]}))
        .await;
    assert_eq!(again["added"], 0, "listing twice keeps one entry");
    let (status, body) = api
        .post("/v1/dnc", json!({"addresses": ["+14155550101", "415 555"]}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("addresses[1]")),
        "{body}"
    );

    let csv = "Number,Name\n(415) 555-0102,A\n+14155550100,dup\nnope,B\n";
    let (status, body) = api
        .post_csv("/v1/dnc/import?default_region=US", csv.into())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], 1, "{body}");
    assert_eq!(body["rejected"][0][0], 4, "{body}");

    let (_, page) = api.get("/v1/dnc?limit=2").await;
    let addresses: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["+14155550100", "+14155550102"], "{page}");
    let (_, rest) = api
        .get(&format!(
            "/v1/dnc?cursor={}",
            page["next_cursor"].as_str().unwrap().replace('+', "%2B")
        ))
        .await;
    assert_eq!(rest["items"][0]["address"], "opt.out@example.com");
    assert_eq!(rest["items"][0]["source"], "api");

    let (status, _) = api.delete("/v1/dnc/%2B14155550100").await;
    assert_eq!(status, 204);
    let (status, _) = api.delete("/v1/dnc/%2B14155550100").await;
    assert_eq!(status, 404);

    let other = herald.new_tenant("other").await;
    let (_, theirs) = other.get("/v1/dnc").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "per tenant");
}
both_backends!(dnc_list_is_managed_by_api_and_csv);

/// A reply from `from`, which must be accepted.
async fn reply(herald: &Herald, sim: &Simulator, channel: i64, sid: &str, from: &str, body: &str) {
    assert_eq!(
        twilio_inbound(herald, sim, channel, sid, from, body).await,
        200
    );
}

async fn stop_reply_opts_out_of_every_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (x, y) = ("+14155550150".to_string(), "+14155550151".to_string());
    let first = api
        .campaign(channel, api.list_with(&[x.clone(), y.clone()]).await, "Hi")
        .await;
    api.post_empty(&format!("/v1/campaigns/{first}/start"))
        .await;
    api.wait_status(first, "completed", Duration::from_secs(30))
        .await;

    // STOP, the provider retrying that webhook, and a second STOP.
    reply(
        &herald,
        &sim,
        channel,
        "SM00000000000000000000000000stop1",
        &x,
        "Stop",
    )
    .await;
    reply(
        &herald,
        &sim,
        channel,
        "SM00000000000000000000000000stop1",
        &x,
        "Stop",
    )
    .await;
    reply(
        &herald,
        &sim,
        channel,
        "SM00000000000000000000000000stop2",
        &x,
        "STOP!",
    )
    .await;
    let (_, dnc) = api.get("/v1/dnc").await;
    assert_eq!(dnc["items"][0]["address"], x.as_str(), "{dnc}");
    assert_eq!(dnc["items"][0]["source"], "reply:STOP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sim.sends_to(&x),
        2,
        "the campaign message and one confirmation"
    );

    // No campaign sends to it again; the others still get theirs.
    let second = api
        .campaign(
            channel,
            api.list_with(&[x.clone(), y.clone()]).await,
            "Again",
        )
        .await;
    api.post_empty(&format!("/v1/campaigns/{second}/start"))
        .await;
    api.wait_status(second, "completed", Duration::from_secs(30))
        .await;
    let members = api.all_members(second).await;
    let of = |a: &str| members.iter().find(|m| m["address"] == a).unwrap().clone();
    assert_eq!(of(&x)["status"], "disqualified", "{members:?}");
    assert_eq!(of(&x)["error_code"], "do_not_contact");
    assert_eq!(of(&x)["attempts"], 0);
    assert_eq!(of(&y)["status"], "delivered");
    let (_, progress) = api.get(&format!("/v1/campaigns/{second}/progress")).await;
    assert_eq!(progress["disqualified"], 1, "{progress}");
    assert_eq!(sim.sends_to(&x), 2);

    // START re-subscribes, with its own confirmation.
    reply(
        &herald,
        &sim,
        channel,
        "SM00000000000000000000000000star1",
        &x,
        "start",
    )
    .await;
    let (_, dnc) = api.get("/v1/dnc").await;
    assert_eq!(dnc["items"].as_array().unwrap().len(), 0, "{dnc}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.sends_to(&x), 3);
}
both_backends!(stop_reply_opts_out_of_every_campaign);

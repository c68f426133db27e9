//! SMS/MMS and email campaigns end to end: hosted media fetched by the
//! provider, switching a channel from Twilio to Infobip between sends,
//! Mailgun subjects and bounces, and forged webhooks refused.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald};
use crate::support::{
    channel, create, eventually, forged_webhook_is_refused, list_of, refused, run, twilio_config,
};

/// A PNG header: enough for the type sniffer, and for the simulator to fetch.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 4096));
    bytes
}

async fn mms_then_switch_to_infobip(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (config, secrets) = twilio_config(&sim);
    let ch = channel(&api, "twilio-sms", "+15005550006", config, secrets).await;
    let numbers = ["+14155557301", "+14155557302", "+14155557303"];
    let list = list_of(
        &api,
        numbers
            .iter()
            .map(|n| json!({ "phone": n, "first_name": "Bo" }))
            .collect(),
    )
    .await;

    // Media: sniffed, not trusted; served at an unguessable public URL.
    let (status, err) = api
        .post_bytes("/v1/media", b"<html>not media</html>".to_vec())
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("body")),
        "{err}"
    );
    let (status, media) = api.post_bytes("/v1/media?filename=promo.png", png()).await;
    assert_eq!(status, 201, "{media}");
    assert_eq!(media["content_type"], "image/png");
    let media_id = media["id"].as_i64().unwrap();
    // Beyond the usual 2 MB request limit: media go up to 100 MB.
    let mut big = png();
    big.resize(3 << 20, 1);
    let (status, large) = api.post_bytes("/v1/media", big).await;
    assert_eq!(
        (status, large["size"].as_i64()),
        (201, Some(3 << 20)),
        "{large}"
    );
    // Over 100 MB: 413 with the usual JSON error, nothing stored.
    let mut huge = png();
    huge.resize((100 << 20) + 1, 1);
    let (status, err) = api.post_bytes("/v1/media", huge).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{err}"
    );

    let sms = |media: Option<i64>| {
        let mut c = json!({ "name": "promo", "type": "sms", "channel_id": ch, "list_id": list,
            "body": "Hi {{first_name}}, spring sale 🌸" });
        if let Some(id) = media {
            c["media_id"] = json!(id);
        }
        c
    };
    let mut foreign = sms(None);
    foreign["queue"] = json!("support");
    refused(&api, foreign, "queue").await;
    refused(&api, sms(Some(9999)), "media_id").await;

    let mms = create(&api, sms(Some(media_id))).await;
    run(&api, mms, Duration::from_secs(30)).await;
    let sent = sim.messages_for("twilio");
    assert_eq!(sent.len(), 3);
    for m in &sent {
        assert_eq!(m.body, "Hi Bo, spring sale 🌸");
        assert_eq!(m.media_urls.len(), 1, "{m:?}");
        let url = &m.media_urls[0];
        assert!(url.starts_with(&format!("{}/media/", herald.base)), "{url}");
        assert!(
            !url.contains(media["sha256"].as_str().unwrap()),
            "the URL is not the hash"
        );
    }
    eventually(
        "the provider fetched the media",
        Duration::from_secs(10),
        || async { sim.stats().media_fetches >= 3 },
    )
    .await;
    let fetch = &sim.messages_for("twilio")[0].media_fetches[0];
    assert_eq!(
        (fetch.status, fetch.content_type.as_deref(), fetch.bytes),
        (Some(200), Some("image/png"), 4096 + 16)
    );

    // A draft MMS campaign, checked again when it starts (below).
    let draft = create(&api, sms(Some(media_id))).await;

    // Switch the channel to Infobip (no restart) and send the same SMS again.
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{ch}"),
            json!({
                "plugin": "infobip-sms",
                "config": { "base-url": sim.base_url() },
                "secrets": { "api-key": sim.config().infobip_api_key, "webhook-token": "tok-123" },
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Infobip sends no MMS: the channel no longer serves this campaign
    // type, at creation and at start.
    refused(&api, sms(Some(media_id)), "channel_id").await;
    let (status, err) = api
        .post_empty(&format!("/v1/campaigns/{draft}/start"))
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("channel_id")),
        "{err}"
    );
    // Named as the API names channel kinds.
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("which serves sms; a sms campaign needs mms"),
        "{err}"
    );
    let (_, d) = api.get(&format!("/v1/campaigns/{draft}")).await;
    assert_eq!(d["status"], "draft", "a refused start changes nothing");
    let again = create(&api, sms(None)).await;
    run(&api, again, Duration::from_secs(30)).await;
    let by = sim.stats().accepted_by_provider;
    assert_eq!(
        (by.get("twilio"), by.get("infobip")),
        (Some(&3), Some(&3)),
        "{by:?}"
    );
    assert_eq!(
        sim.stats().duplicates,
        3,
        "each number got one MMS and one SMS"
    );
    // Infobip cannot sign: its token rides in the path (redacted in logs),
    // never in a query string every proxy would log.
    for m in sim.messages_for("infobip") {
        let url = m.status_callback.unwrap_or_default();
        assert_eq!(
            url,
            format!("{}/webhooks/{ch}/token/tok-123", herald.base),
            "{url}"
        );
    }
    let members = api.all_members(again).await;
    assert!(
        members.iter().all(|m| m["status"] == "delivered"),
        "{members:?}"
    );

    forged_webhook_is_refused(
        &herald,
        &api,
        &format!("/webhooks/{ch}/token/wrong"),
        &[("content-type", "application/json")],
        r#"{"results":[]}"#,
        again,
    )
    .await;
}
both_backends!(mms_then_switch_to_infobip);

async fn email_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let ch = crate::support::mailgun_channel(&api, &sim, &herald).await;
    let list = list_of(
        &api,
        vec![
            json!({ "email": "ana@example.com", "first_name": "Ana" }),
            json!({ "email": "bounce-bo@example.com", "first_name": "Bo" }),
            json!({ "phone": "+14155557401", "first_name": "NoEmail" }),
        ],
    )
    .await;
    let email = json!({ "name": "news", "type": "email", "channel_id": ch, "list_id": list,
        "subject": "Hello {{first_name}}", "body": "Text for {{first_name}}",
        "html_body": "<p>Hi {{first_name}}</p>" });
    let mut foreign = email.clone();
    foreign["max_retries"] = json!(1);
    refused(&api, foreign, "max_retries").await;

    let id = create(&api, email).await;
    run(&api, id, Duration::from_secs(30)).await;
    let sent = sim.messages_for("mailgun");
    assert_eq!(
        sent.len(),
        2,
        "contacts without an email are not members: {sent:?}"
    );
    let ana = sent
        .iter()
        .find(|m| m.to.contains("ana@example.com"))
        .unwrap();
    assert_eq!(ana.subject.as_deref(), Some("Hello Ana"));
    assert_eq!(ana.body, "Text for Ana");
    assert_eq!(ana.html.as_deref(), Some("<p>Hi Ana</p>"));
    let members = api.all_members(id).await;
    assert_eq!(members.len(), 2);
    for m in &members {
        let expected = if m["address"] == "ana@example.com" {
            "delivered"
        } else {
            "failed"
        };
        assert_eq!(m["status"], expected, "{m}");
    }

    forged_webhook_is_refused(
        &herald,
        &api,
        &format!("/webhooks/{ch}"),
        &[("content-type", "application/json")],
        r#"{"signature":{"timestamp":"1","token":"t","signature":"00"},"event-data":{"event":"failed","severity":"permanent","message":{"headers":{"message-id":"x@mg"}}}}"#,
        id,
    )
    .await;
}
both_backends!(email_campaign);

//! Journeys: a fallback on another channel when the primary message fails,
//! follow-ups after days without a reply (moved by the test clock), and
//! replies (STOP included) cancelling what is pending.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, twilio_inbound};
use crate::support::{create, eventually, list_of, refused, whatsapp_channel};

/// 10:00 in San Francisco (the contacts' numbers): inside quiet hours.
const MORNING: &str = "2026-03-10T17:00:00Z";
const DAY: i64 = 24 * 3600;
/// Long enough for a due step to be claimed and sent (the dispatcher looks
/// every 200 ms) if it wrongly were.
const WOULD_HAVE_SENT: Duration = Duration::from_millis(1500);

async fn member(api: &Api, campaign: i64, address: &str) -> Value {
    api.all_members(campaign)
        .await
        .into_iter()
        .find(|m| m["address"] == address)
        .unwrap_or_else(|| panic!("no member {address}"))
}

async fn journey(api: &Api, campaign: i64, member: &Value) -> Value {
    let (status, j) = api
        .get(&format!(
            "/v1/campaigns/{campaign}/members/{}/journey",
            member["id"]
        ))
        .await;
    assert_eq!(status, 200, "{j}");
    j
}

fn history_has(journey: &Value, kind: &str, detail: &str) -> bool {
    journey["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == kind && e["detail"].as_str().unwrap().contains(detail))
}

fn sms_to(sim: &Simulator, number: &str) -> Vec<String> {
    sim.messages_for("twilio")
        .into_iter()
        .filter(|m| m.to == number)
        .map(|m| m.body)
        .collect()
}

async fn start(api: &Api, campaign: i64) {
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A simulator, a server whose clock reads [`MORNING`], a tenant and its
/// SMS channel.
async fn sms_at_morning(backend: Backend) -> (Simulator, Herald, Api, i64) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    herald.set_clock(MORNING).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    (sim, herald, api, sms)
}

async fn synced_whatsapp_channel(api: &Api, sim: &Simulator, herald: &Herald) -> i64 {
    let ch = whatsapp_channel(api, sim, herald).await;
    let (status, body) = api
        .post_empty(&format!("/v1/channels/{ch}/templates/sync"))
        .await;
    assert_eq!(status, 200, "{body}");
    ch
}

// WhatsApp fails with 131026 for one contact: the SMS fallback goes out
// once, with its own content; the contact WhatsApp reached gets no SMS.
// An email that bounces falls back to SMS too, and a contact without a
// phone skips the fallback (recorded, nothing sent).
async fn fallback_on_another_channel(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    herald.set_clock(MORNING).await;
    let api = herald.new_tenant("acme").await;
    let wa = synced_whatsapp_channel(&api, &sim, &herald).await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    // …0002: accepted by Meta, then failed 131026 "message undeliverable".
    let (reached, undeliverable) = ("+14155557101", "+14155570002");
    let list = list_of(
        &api,
        vec![
            json!({ "phone": reached, "first_name": "Ana", "fields": { "order": "A-1" } }),
            json!({ "phone": undeliverable, "first_name": "Bo", "fields": { "order": "B-2" } }),
        ],
    )
    .await;
    let campaign = |fallback: Value| {
        json!({ "name": "wa", "type": "whatsapp", "channel_id": wa, "list_id": list,
            "template": { "name": "order_update", "language": "en_US",
                "parameters": [{ "field": "first_name" }, { "field": "order" }] },
            "fallback": fallback })
    };
    // Refused: the same channel, a field of another type, an unknown variable.
    refused(
        &api,
        campaign(json!({ "channel_id": wa, "body": "x" })),
        "fallback.channel_id",
    )
    .await;
    refused(
        &api,
        campaign(json!({ "channel_id": sms, "body": "x", "after_days": 1 })),
        "fallback.after_days",
    )
    .await;
    refused(
        &api,
        campaign(json!({ "channel_id": sms, "body": "Hi {{nickname}}" })),
        "fallback.body",
    )
    .await;
    let id = create(
        &api,
        campaign(json!({ "channel_id": sms, "body": "{{first_name}}, order {{order}} shipped" })),
    )
    .await;
    let (_, shown) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(shown["fallback"]["channel_id"], sms, "{shown}");
    start(&api, id).await;
    api.wait_status(id, "completed", Duration::from_secs(30))
        .await;

    assert_eq!(sms_to(&sim, undeliverable), ["Bo, order B-2 shipped"]);
    assert!(sms_to(&sim, reached).is_empty());
    assert_eq!(sim.messages_for("whatsapp").len(), 2);
    let bo = member(&api, id, undeliverable).await;
    let j = journey(&api, id, &bo).await;
    assert_eq!(j["current_step"], "fallback", "{j}");
    assert_eq!(j["channel_id"], sms, "{j}");
    assert!(history_has(&j, "failed", "131026"), "{j}");
    assert!(
        history_has(&j, "fallback", "primary failed (131026)"),
        "{j}"
    );
    assert!(j["next"].is_null(), "{j}");
    // Twilio's …0002 is undelivered in turn: that ends the journey.
    eventually("fallback receipt", Duration::from_secs(10), || async {
        member(&api, id, undeliverable).await["error_code"] == "30003"
    })
    .await;
    eventually("read by WhatsApp", Duration::from_secs(10), || async {
        member(&api, id, reached).await["status"] == "read"
    })
    .await;
    let ana = member(&api, id, reached).await;
    assert_eq!(journey(&api, id, &ana).await["current_step"], "primary");
    // Progress per channel: each member counts under its latest outreach's
    // channel (Ana read on WhatsApp, Bo's SMS fallback undelivered).
    let (_, p) = api.get(&format!("/v1/campaigns/{id}/progress")).await;
    let figures = |channel: i64| {
        let c = p["by_channel"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["channel_id"] == channel))
            .unwrap_or_else(|| panic!("no channel {channel} in {p}"));
        [
            "target",
            "sent",
            "delivered",
            "failed",
            "replied",
            "response_rate",
        ]
        .map(|k| c[k].as_f64().unwrap_or(-1.0))
    };
    assert_eq!(figures(wa), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0], "{p}");
    assert_eq!(figures(sms), [1.0, 1.0, 0.0, 1.0, 0.0, 0.0], "{p}");

    // Email bounces -> SMS; a contact without a phone skips the fallback.
    let mail = crate::support::mailgun_channel(&api, &sim, &herald).await;
    let with_phone = "+14155557201";
    let list = list_of(
        &api,
        vec![
            json!({ "email": "bounce-cy@example.com", "phone": with_phone, "first_name": "Cy" }),
            json!({ "email": "bounce-di@example.com", "first_name": "Di" }),
        ],
    )
    .await;
    let id = create(
        &api,
        json!({ "name": "news", "type": "email", "channel_id": mail, "list_id": list,
            "subject": "Hello {{first_name}}", "body": "Text",
            "fallback": { "channel_id": sms, "body": "{{first_name}}, check your email" } }),
    )
    .await;
    start(&api, id).await;
    api.wait_status(id, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(sms_to(&sim, with_phone), ["Cy, check your email"]);
    assert_eq!(sim.messages_for("twilio").len(), 2, "no other SMS");
    let di = member(&api, id, "bounce-di@example.com").await;
    assert_eq!(di["status"], "failed", "{di}");
    let j = journey(&api, id, &di).await;
    assert!(
        history_has(&j, "skipped", "fallback skipped: the contact has no phone"),
        "{j}"
    );
    assert_eq!(j["current_step"], "primary", "{j}");
    let cy = member(&api, id, with_phone).await;
    assert_eq!(cy["status"], "delivered", "{cy}");
}
both_backends!(fallback_on_another_channel);

async fn sms_campaign_with_follow_up(api: &Api, channel: i64, numbers: &[&str]) -> i64 {
    let contacts = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| json!({ "phone": n, "first_name": format!("C{i}") }))
        .collect();
    let list = list_of(api, contacts).await;
    // Refused: a gap under a day or over a week.
    for days in [0, 8] {
        refused(
            api,
            json!({ "name": "seq", "channel_id": channel, "list_id": list, "body": "Hi",
                "follow_ups": [{ "after_days": days, "body": "Again" }] }),
            "follow_ups[0].after_days",
        )
        .await;
    }
    create(
        api,
        json!({ "name": "seq", "channel_id": channel, "list_id": list,
            "body": "Hi {{first_name}}, want a demo?",
            "follow_ups": [{ "after_days": 2, "body": "Still interested, {{first_name}}?" }] }),
    )
    .await
}

// No reply for 2 days: the follow-up goes out (after a restart in between:
// the timer is in the database). A reply on day 1: never sent.
async fn follow_up_unless_replied(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    let started = herald.set_clock(MORNING).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let (silent, replier) = ("+14155557301", "+14155557302");
    let id = sms_campaign_with_follow_up(&api, sms, &[silent, replier]).await;
    start(&api, id).await;
    eventually(
        "both first messages delivered",
        Duration::from_secs(10),
        || async {
            let m = api.all_members(id).await;
            m.iter().filter(|m| m["status"] == "delivered").count() == 2
        },
    )
    .await;
    assert_eq!(sms_to(&sim, silent), ["Hi C0, want a demo?"]);
    let m = member(&api, id, silent).await;
    let j = journey(&api, id, &m).await;
    assert_eq!(j["next"]["step"], "follow_up_1", "{j}");
    assert_eq!(j["next"]["channel_id"], sms, "{j}");
    assert_eq!(j["next"]["content"], "Still interested, C0?", "{j}");
    let due = crate::support::at_ms(&j["next"]["at"]);
    assert_eq!(
        due,
        crate::support::at_ms(&m["sent_at"]) + 2 * DAY * 1000,
        "{j}"
    );
    assert!(due >= started + 2 * DAY * 1000);
    // Waiting for its follow-up, the campaign is not done.
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(c["status"], "running", "{c}");

    herald.advance_clock(DAY).await;
    let status = twilio_inbound(
        &herald,
        &sim,
        sms,
        "SM000000000000000000000000reply1",
        replier,
        "Yes, call me",
    )
    .await;
    assert_eq!(status, 200);
    let r = member(&api, id, replier).await;
    let j = journey(&api, id, &r).await;
    assert!(j["next"].is_null(), "{j}");
    // One of the two delivered on SMS replied: 50 % on that channel.
    let (_, p) = api.get(&format!("/v1/campaigns/{id}/progress")).await;
    let c = &p["by_channel"][0];
    assert_eq!(
        (
            c["channel_id"].clone(),
            c["delivered"].clone(),
            c["replied"].clone()
        ),
        (json!(sms), json!(2), json!(1)),
        "{p}"
    );
    assert_eq!(c["response_rate"], 50.0, "{p}");
    assert_eq!(p["by_channel"].as_array().map(Vec::len), Some(1), "{p}");
    assert!(
        history_has(
            &j,
            "cancelled",
            "pending follow-ups cancelled: the contact replied"
        ),
        "{j}"
    );

    let mut herald = herald.crash_and_restart(&[]).await;
    // A minute short of the two days: nothing yet.
    herald.advance_clock(DAY - 60).await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sms_to(&sim, silent).len(), 1);
    herald.advance_clock(61).await;
    eventually("follow-up sent", Duration::from_secs(5), || async {
        sms_to(&sim, silent).len() == 2
    })
    .await;
    assert_eq!(sms_to(&sim, silent)[1], "Still interested, C0?");
    api.wait_status(id, "completed", Duration::from_secs(10))
        .await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sms_to(&sim, silent).len(), 2, "sent once");
    assert_eq!(
        sms_to(&sim, replier),
        ["Hi C1, want a demo?"],
        "never followed up"
    );
    let m = member(&api, id, silent).await;
    assert_eq!(m["status"], "delivered", "{m}");
    let j = journey(&api, id, &m).await;
    assert_eq!(j["current_step"], "follow_up_1", "{j}");
    assert!(history_has(&j, "follow_up", "follow_up_1 due"), "{j}");
    assert!(j["next"].is_null(), "{j}");
}
both_backends!(follow_up_unless_replied);

// STOP cancels the pending follow-up: the only further message is the one
// opt-out confirmation.
async fn stop_cancels_follow_ups(backend: Backend) {
    let (sim, mut herald, api, sms) = sms_at_morning(backend).await;
    let number = "+14155557303";
    let id = sms_campaign_with_follow_up(&api, sms, &[number]).await;
    start(&api, id).await;
    eventually("delivered", Duration::from_secs(10), || async {
        member(&api, id, number).await["status"] == "delivered"
    })
    .await;
    herald.advance_clock(3600).await;
    let status = twilio_inbound(
        &herald,
        &sim,
        sms,
        "SM0000000000000000000000000stop1",
        number,
        "STOP",
    )
    .await;
    assert_eq!(status, 200);
    let j = journey(&api, id, &member(&api, id, number).await).await;
    assert!(j["next"].is_null(), "{j}");
    assert!(history_has(&j, "cancelled", "the contact opted out"), "{j}");
    // The campaign has nothing left to do.
    api.wait_status(id, "completed", Duration::from_secs(10))
        .await;
    // An opt-out is counted as one, not as a reply.
    let (_, p) = api.get(&format!("/v1/campaigns/{id}/progress")).await;
    assert_eq!(
        (
            p["replied"].clone(),
            p["opted_out"].clone(),
            p["response_rate"].clone()
        ),
        (json!(0), json!(1), json!(0.0)),
        "{p}"
    );
    assert_eq!(p["by_channel"][0]["opted_out"], 1, "{p}");
    herald.advance_clock(3 * DAY).await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    let sent = sms_to(&sim, number);
    assert_eq!(sent.len(), 2, "the message and one confirmation: {sent:?}");
    assert!(sent[1].contains("unsubscribed"), "{sent:?}");
}
both_backends!(stop_cancels_follow_ups);

// A follow-up due outside quiet hours waits for their opening, like any
// send; a contact without the follow-up channel's address skips it, and
// the campaign completes once no journey has anything left.
async fn follow_up_waits_for_quiet_hours_and_skips_without_address(backend: Backend) {
    let (sim, mut herald, api, sms) = sms_at_morning(backend).await;
    let mail = crate::support::mailgun_channel(&api, &sim, &herald).await;
    let (with_email, without) = ("+14155557401", "+14155557402");
    let list = list_of(
        &api,
        vec![
            json!({ "phone": with_email, "email": "eve@example.com", "first_name": "Eve" }),
            json!({ "phone": without, "first_name": "Fay" }),
        ],
    )
    .await;
    let id = create(
        &api,
        json!({ "name": "seq", "channel_id": sms, "list_id": list, "body": "Hi {{first_name}}",
            "follow_ups": [{ "after_days": 1, "channel_id": mail,
                "subject": "Details for {{first_name}}", "body": "Here they are" }] }),
    )
    .await;
    start(&api, id).await;
    eventually("both delivered", Duration::from_secs(10), || async {
        let m = api.all_members(id).await;
        m.iter().filter(|m| m["status"] == "delivered").count() == 2
    })
    .await;
    // From now on, nothing before 12:00 in the contacts' time (UTC-7).
    let (status, body) = api
        .patch(
            "/v1/tenant",
            json!({ "quiet_hours": { "start": "12:00", "end": "20:00" } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    herald.advance_clock(DAY + 60).await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert!(sim.messages_for("mailgun").is_empty());
    let eve = member(&api, id, with_email).await;
    let j = journey(&api, id, &eve).await;
    assert_eq!(j["next"]["at"], "2026-03-11T19:00:00Z", "{j}");
    assert_eq!(j["next"]["address"], "eve@example.com", "{j}");
    assert_eq!(
        j["next"]["content"], "Details for Eve\n\nHere they are",
        "{j}"
    );
    assert!(
        history_has(&j, "deferred", "follow_up_1 quiet_hours"),
        "{j}"
    );
    let fay = member(&api, id, without).await;
    let j = journey(&api, id, &fay).await;
    assert!(
        history_has(
            &j,
            "skipped",
            "follow_up_1 skipped: the contact has no email"
        ),
        "{j}"
    );
    assert!(j["next"].is_null(), "{j}");

    herald.set_clock("2026-03-11T19:00:01Z").await;
    eventually("follow-up e-mailed", Duration::from_secs(5), || async {
        sim.messages_for("mailgun").len() == 1
    })
    .await;
    let sent = &sim.messages_for("mailgun")[0];
    assert!(sent.to.contains("eve@example.com"), "{sent:?}");
    assert_eq!(sent.subject.as_deref(), Some("Details for Eve"));
    api.wait_status(id, "completed", Duration::from_secs(10))
        .await;
    let eve = member(&api, id, "eve@example.com").await;
    assert_eq!(journey(&api, id, &eve).await["current_step"], "follow_up_1");
}
both_backends!(follow_up_waits_for_quiet_hours_and_skips_without_address);

// A live campaign's follow-ups can be re-timed: members already waiting
// have theirs moved (2 -> 4 days: nothing on day 2, sent on day 4), later
// steps are planned with their new gap (3 -> 1 day), and their content
// stays as it went live.
async fn live_follow_ups_can_be_re_timed(backend: Backend) {
    let (sim, mut herald, api, sms) = sms_at_morning(backend).await;
    let number = "+14155557501";
    let list = list_of(&api, vec![json!({ "phone": number })]).await;
    let id = create(
        &api,
        json!({ "name": "seq", "channel_id": sms, "list_id": list, "body": "Hi",
            "follow_ups": [{ "after_days": 2, "body": "F1" }, { "after_days": 3, "body": "F2" }] }),
    )
    .await;
    // Gaps come in one place or the other.
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({ "follow_ups": [{ "after_days": 1, "body": "F" }], "follow_up_days": [2] }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("follow_up_days")),
        "{body}"
    );
    start(&api, id).await;
    eventually("first delivered", Duration::from_secs(10), || async {
        member(&api, id, number).await["status"] == "delivered"
    })
    .await;
    let sent_at = crate::support::at_ms(&member(&api, id, number).await["sent_at"]);
    let path = format!("/v1/campaigns/{id}/schedule");
    for (days, field) in [
        (json!([4]), "follow_up_days"),
        (json!([4, 8]), "follow_up_days[1]"),
    ] {
        let (status, body) = api.patch(&path, json!({ "follow_up_days": days })).await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (422, json!(field)),
            "{body}"
        );
    }
    let (status, body) = api
        .patch(&path, json!({ "scheduled_at": "2026-03-20T10:00" }))
        .await;
    assert_eq!(status, 409, "a started campaign's start is fixed: {body}");
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({ "follow_ups": [{ "after_days": 4, "body": "New text" }] }),
        )
        .await;
    assert_eq!(status, 409, "a live campaign's content is fixed: {body}");

    // Through the campaign's own PATCH, with a note.
    let (status, c) = api
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({ "follow_up_days": [4, 1], "notes": "pushed back" }),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (
            c["follow_ups"][0]["after_days"].clone(),
            c["follow_ups"][1]["after_days"].clone()
        ),
        (json!(4), json!(1)),
        "{c}"
    );
    assert_eq!(c["notes"], "pushed back");
    let j = journey(&api, id, &member(&api, id, number).await).await;
    assert_eq!(
        crate::support::at_ms(&j["next"]["at"]),
        sent_at + 4 * DAY * 1000,
        "{j}"
    );

    // Day 2 and a minute, when the old gap was due: nothing.
    herald.advance_clock(2 * DAY + 60).await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sms_to(&sim, number), ["Hi"]);
    herald.advance_clock(2 * DAY).await;
    eventually("first follow-up sent", Duration::from_secs(5), || async {
        sms_to(&sim, number).len() == 2
    })
    .await;
    assert_eq!(sms_to(&sim, number)[1], "F1", "content as it went live");
    eventually("follow-up delivered", Duration::from_secs(5), || async {
        journey(&api, id, &member(&api, id, number).await).await["next"]["step"] == "follow_up_2"
    })
    .await;
    let m = member(&api, id, number).await;
    let j = journey(&api, id, &m).await;
    assert_eq!(
        crate::support::at_ms(&j["next"]["at"]),
        crate::support::at_ms(&m["sent_at"]) + DAY * 1000,
        "the second waits its new single day: {j}"
    );
    herald.advance_clock(DAY + 60).await;
    eventually("second follow-up sent", Duration::from_secs(5), || async {
        sms_to(&sim, number).len() == 3
    })
    .await;
    api.wait_status(id, "completed", Duration::from_secs(10))
        .await;
    let (status, body) = api.patch(&path, json!({ "follow_up_days": [1, 1] })).await;
    assert_eq!(status, 409, "over: nothing changes: {body}");
}
both_backends!(live_follow_ups_can_be_re_timed);

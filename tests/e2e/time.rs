//! Time, under the controllable clock: quiet hours in each contact's local
//! time (first sends and retries), and scheduled starts that survive a
//! restart.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};
use crate::support::eventually;

/// Long enough for a due member to be claimed and sent (the dispatcher
/// looks every 200 ms) if it wrongly were.
const WOULD_HAVE_SENT: Duration = Duration::from_millis(1500);

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn sent_to(sim: &Simulator, number: &str) -> usize {
    sim.messages().iter().filter(|m| m.to == number).count()
}

async fn member(api: &Api, campaign: i64, address: &str) -> Value {
    api.all_members(campaign)
        .await
        .into_iter()
        .find(|m| m["address"] == address)
        .unwrap_or_else(|| panic!("no member {address}"))
}

async fn campaign_to(api: &Api, channel: i64, contacts: Value) -> i64 {
    let list = crate::support::list_of(api, contacts.as_array().unwrap().clone()).await;
    api.campaign(channel, list, "Good morning {{first_name}}")
        .await
}

async fn start(api: &Api, campaign: i64) -> Value {
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn wait_sent(api: &Api, sim: &Simulator, campaign: i64, number: &str) -> Value {
    eventually(
        &format!("{number} sent"),
        Duration::from_secs(5),
        || async { sent_to(sim, number) == 1 },
    )
    .await;
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let m = member(api, campaign, number).await;
        if m["sent_at"].is_string() {
            return m;
        }
        assert!(std::time::Instant::now() < until, "not recorded sent: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_waiting(m: &Value, until_ms: i64, attempts: i64) {
    assert_eq!(m["status"], "queued", "{m}");
    assert_eq!(m["wait_reason"], "quiet_hours", "{m}");
    assert_eq!(
        crate::support::at_ms(&m["next_attempt_at"]),
        until_ms,
        "{m}"
    );
    assert_eq!(m["attempts"], attempts, "{m}");
}

// Quiet hours (08:00-21:00) in each contact's local time. Started at 23:00
// UTC in January, Berlin (midnight) waits for its 08:00 while Los Angeles
// (15:00) is inside its hours and is sent at once; a second campaign started
// at 05:00 UTC (21:00 in Los Angeles, 06:00 in Berlin) finds both outside
// and each receives at its own 08:00, not a second before.
async fn each_contact_gets_their_own_eight_o_clock(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // Zones inferred from the numbers (213: Los Angeles, +49 30: Berlin),
    // and from a contact's own field, which beats its (New York) number.
    let (la, berlin) = ("+12135550150", "+4930901820");
    let (la2, berlin2) = ("+12135550151", "+12125550152");
    let first = campaign_to(
        &api,
        channel,
        json!([{"phone": la, "first_name": "Ana"}, {"phone": berlin, "first_name": "Ben"}]),
    )
    .await;
    let second = campaign_to(
        &api,
        channel,
        json!([{"phone": la2, "first_name": "Cy"},
               {"phone": berlin2, "first_name": "Di", "timezone": "Europe/Berlin"}]),
    )
    .await;

    herald.set_clock("2026-01-14T23:00:00Z").await;
    start(&api, first).await;
    let m = wait_sent(&api, &sim, first, la).await;
    assert!(crate::support::at_ms(&m["sent_at"]) >= ms("2026-01-14T23:00:00Z"));
    let berlin_eight = ms("2026-01-15T07:00:00Z");
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sent_to(&sim, berlin), 0);
    assert_waiting(&member(&api, first, berlin).await, berlin_eight, 0);

    herald.set_clock("2026-01-15T05:00:00Z").await;
    start(&api, second).await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sent_to(&sim, la2), 0);
    assert_eq!(sent_to(&sim, berlin2), 0);
    let la_eight = ms("2026-01-15T16:00:00Z");
    assert_waiting(&member(&api, second, la2).await, la_eight, 0);
    assert_waiting(&member(&api, second, berlin2).await, berlin_eight, 0);

    // Just before 08:00 in Berlin: still nothing.
    herald.set_clock("2026-01-15T06:59:57Z").await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sent_to(&sim, berlin) + sent_to(&sim, berlin2), 0);
    // 08:00 in Berlin comes (the clock runs on): both Berlin contacts, within
    // a second of it, and not Los Angeles.
    for (campaign, number) in [(first, berlin), (second, berlin2)] {
        let m = wait_sent(&api, &sim, campaign, number).await;
        let at = crate::support::at_ms(&m["sent_at"]);
        assert!(at >= berlin_eight, "sent {at} before 08:00 Berlin: {m}");
        assert!(at < berlin_eight + 2_000, "sent {at}, late: {m}");
        assert_eq!(m["attempts"], 1, "{m}");
        assert!(m["wait_reason"].is_null(), "{m}");
    }
    assert_eq!(sent_to(&sim, la2), 0);

    herald.set_clock("2026-01-15T15:59:57Z").await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sent_to(&sim, la2), 0);
    let m = wait_sent(&api, &sim, second, la2).await;
    let at = crate::support::at_ms(&m["sent_at"]);
    assert!(at >= la_eight && at < la_eight + 2_000, "{m}");
    for campaign in [first, second] {
        api.wait_status(campaign, "completed", Duration::from_secs(10))
            .await;
    }
    assert_eq!(sim.stats().duplicates, 0);
}
both_backends!(each_contact_gets_their_own_eight_o_clock);

// A retry that comes due after 21:00 waits for the next 08:00 too, keeping
// the attempt it used (the first, failed one) and no other.
async fn a_retry_waits_for_the_window(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // New York; the simulator answers its first request with a 500, and
    // the retry is due a second later.
    let number = "+12125550500";
    let campaign = campaign_to(
        &api,
        channel,
        json!([{"phone": number, "first_name": "Ny"}]),
    )
    .await;
    herald.set_clock("2026-01-15T01:59:59Z").await; // 20:59:59 New York
    start(&api, campaign).await;
    let next_eight = ms("2026-01-15T13:00:00Z");
    eventually("first attempt failed", Duration::from_secs(5), || {
        let api = api.clone();
        async move { member(&api, campaign, number).await["wait_reason"] == "quiet_hours" }
    })
    .await;
    let m = member(&api, campaign, number).await;
    assert_waiting(&m, next_eight, 1);
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    assert_eq!(sent_to(&sim, number), 0);

    herald.set_clock("2026-01-15T12:59:58Z").await;
    let m = wait_sent(&api, &sim, campaign, number).await;
    assert!(crate::support::at_ms(&m["sent_at"]) >= next_eight, "{m}");
    assert_eq!(m["attempts"], 2, "{m}");
}
both_backends!(a_retry_waits_for_the_window);

// Scheduled in the tenant's timezone, stored in UTC, shown both ways; it
// starts by itself within a second of its time, after a restart too.
async fn scheduled_start(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    herald.set_clock("2026-01-14T12:00:00Z").await;
    let api = herald.new_tenant("acme").await;
    for (bad, field) in [
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (
            json!({"quiet_hours": {"start": "8:00", "end": "21:00"}}),
            "quiet_hours",
        ),
    ] {
        let (status, body) = api.patch("/v1/tenant", bad).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    let (status, tenant) = api
        .patch(
            "/v1/tenant",
            json!({"timezone": "Europe/Berlin", "quiet_hours": {"start": "08:00", "end": "21:00"}}),
        )
        .await;
    assert_eq!(status, 200, "{tenant}");
    assert_eq!(tenant["timezone"], "Europe/Berlin");
    assert_eq!(
        tenant["quiet_hours"],
        json!({"start": "08:00", "end": "21:00"})
    );
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let number = "+12125550160"; // New York: 09:00 when it starts
    let list = crate::support::list_of(&api, vec![json!({"phone": number})]).await;
    let (status, past) = api
        .post(
            "/v1/campaigns",
            json!({"name": "late", "channel_id": channel, "list_id": list, "body": "x",
                   "scheduled_at": "2026-01-14T12:59"}),
        )
        .await;
    assert_eq!(status, 422, "12:59 Berlin is 11:59 UTC, past: {past}");
    assert_eq!(past["error"]["field"], "scheduled_at");
    let (status, bad) = api
        .post(
            "/v1/campaigns",
            json!({"name": "x", "channel_id": channel, "list_id": list, "body": "x",
                   "calling_hours": {"start": "09:00", "end": "17:00", "timezone": "Nowhere"}}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"]["field"], "calling_hours.timezone");
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({"name": "at three", "channel_id": channel, "list_id": list,
                   "body": "It is three in Berlin", "scheduled_at": "2026-01-14T15:00"}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["scheduled_at"], "2026-01-14T14:00:00Z");
    assert_eq!(c["scheduled_at_local"], "2026-01-14T15:00:00");
    assert_eq!(c["scheduled_timezone"], "Europe/Berlin");
    let campaign = c["id"].as_i64().unwrap();
    let started = start(&api, campaign).await;
    assert_eq!(started["status"], "scheduled", "{started}");

    // Moved a minute later while scheduled; a restart in between.
    let (status, c) = api
        .patch(
            &format!("/v1/campaigns/{campaign}/schedule"),
            json!({"scheduled_at": "2026-01-14T14:01:00Z"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["scheduled_at_local"], "2026-01-14T15:01:00");
    let (status, refused) = api
        .patch(
            &format!("/v1/campaigns/{campaign}/schedule"),
            json!({"quiet_hours": {"start": "09:00", "end": "17:00"}}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    herald.set_clock("2026-01-14T14:00:00Z").await;
    let mut herald = herald.crash_and_restart(&[]).await;
    // The restarted server's clock carried on from where it was.
    let now = herald.advance_clock(1).await;
    assert!(now > ms("2026-01-14T14:00:01Z") && now < ms("2026-01-14T14:00:58Z"));
    herald.set_clock("2026-01-14T14:00:58Z").await;
    tokio::time::sleep(WOULD_HAVE_SENT).await;
    let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(c["status"], "scheduled", "{c}");
    assert_eq!(sent_to(&sim, number), 0);

    let m = wait_sent(&api, &sim, campaign, number).await;
    let at = crate::support::at_ms(&m["sent_at"]);
    let due = ms("2026-01-14T14:01:00Z");
    assert!(at >= due && at < due + 2_000, "{m}");
    let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert!(crate::support::at_ms(&c["started_at"]) >= due, "{c}");
    api.wait_status(campaign, "completed", Duration::from_secs(10))
        .await;
}
both_backends!(scheduled_start);

// Calling hours (14:00-17:00 New York) on top of quiet hours (a Berlin
// contact): at 13:30 New York the member waits for calling hours, and is
// sent when they open (20:00 in Berlin, inside its quiet hours).
async fn calling_hours_defer_to_their_opening(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let number = "+4930901822";
    let list = crate::support::list_of(&api, vec![json!({"phone": number})]).await;
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({"name": "afternoon", "channel_id": channel, "list_id": list, "body": "x",
                   "calling_hours": {"start": "14:00", "end": "17:00",
                                     "timezone": "America/New_York"}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["calling_hours"]["start"], "14:00");
    let campaign = c["id"].as_i64().unwrap();
    herald.set_clock("2026-01-14T18:30:00Z").await;
    start(&api, campaign).await;
    let opens = ms("2026-01-14T19:00:00Z");
    eventually("deferred", Duration::from_secs(5), || {
        let api = api.clone();
        async move { member(&api, campaign, number).await["wait_reason"] == "calling_hours" }
    })
    .await;
    let m = member(&api, campaign, number).await;
    assert_eq!(
        (
            crate::support::at_ms(&m["next_attempt_at"]),
            m["attempts"].as_i64()
        ),
        (opens, Some(0))
    );
    herald.set_clock("2026-01-14T18:59:58Z").await;
    let m = wait_sent(&api, &sim, campaign, number).await;
    assert!(crate::support::at_ms(&m["sent_at"]) >= opens, "{m}");
}
both_backends!(calling_hours_defer_to_their_opening);

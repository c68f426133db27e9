//! Credits and per-sender rate limits, end to end: a campaign pauses when
//! its tenant runs out of credits and finishes after a top-up without
//! sending anyone twice; a channel's rate limit spaces what the provider
//! receives, and a pause stops what waits for its turn; a provider's
//! "retry after" holds the whole sender.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, numbers_ending};
use crate::support::eventually;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn tenant_id(api: &Api) -> i64 {
    let (_, me) = api.get("/v1/tenant").await;
    me["id"].as_i64().unwrap()
}

async fn top_up(herald: &Herald, tenant: i64, amount: i64) -> Value {
    let (status, body) = herald
        .admin()
        .post(
            &format!("/v1/tenants/{tenant}/credits"),
            json!({ "amount": amount, "note": "e2e" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The balance once no credits are held by sends in flight.
async fn settled(api: &Api) -> Value {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = api.get("/v1/credits").await;
        if b["reserved"] == 0 {
            return b;
        }
        assert!(std::time::Instant::now() < until, "credits still held: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn credits_run_out_then_top_up_completes(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let tenant = tenant_id(&api).await;

    let (status, b) = api.get("/v1/credits").await;
    assert_eq!(status, 200);
    assert_eq!(b["metered"], false, "no credits configured: unlimited");
    // Regular tenants cannot top themselves up.
    let (status, _) = api
        .post(
            &format!("/v1/tenants/{tenant}/credits"),
            json!({"amount": 5}),
        )
        .await;
    assert_eq!(status, 401);
    // Zero, and amounts whose size overflows a signed negation, are refused.
    for amount in [0, i64::MIN, i64::MAX] {
        let (status, err) = herald
            .admin()
            .post(
                &format!("/v1/tenants/{tenant}/credits"),
                json!({ "amount": amount }),
            )
            .await;
        assert_eq!(
            (status, err["error"]["field"].clone()),
            (422, json!("amount")),
            "{amount}: {err}"
        );
    }

    // 170 GSM-7 characters: two SMS parts, two credits per member. 21
    // credits pay for ten members and leave one, too few for the eleventh.
    let body = format!("Hi {{{{first_name}}}}, {}", "x".repeat(163));
    let top = top_up(&herald, tenant, 21).await;
    assert_eq!(
        (top["metered"].clone(), top["available"].clone()),
        (json!(true), json!(21))
    );

    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers: Vec<String> = (0..25)
        .map(|i| format!("+1628555{:04}", 3000 + i))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, &body).await;
    let (status, c) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{c}");

    let c = api
        .wait_status(campaign, "paused", Duration::from_secs(30))
        .await;
    assert_eq!(c["status_reason"], "insufficient credits", "{c}");
    let b = settled(&api).await;
    assert_eq!(
        (b["available"].clone(), b["charged"].clone()),
        (json!(1), json!(20)),
        "{b}"
    );
    assert_eq!(sim.stats().accepted, 10);
    // Sends claimed before the pause reach the same refusal and go back.
    let mut members = api.all_members(campaign).await;
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while members
        .iter()
        .any(|m| m["status"] == "sending" || m["status"] == "claimed")
    {
        assert!(std::time::Instant::now() < until, "members still sending");
        tokio::time::sleep(Duration::from_millis(50)).await;
        members = api.all_members(campaign).await;
    }
    let waiting: Vec<&Value> = members.iter().filter(|m| m["status"] == "queued").collect();
    assert_eq!(waiting.len(), 15);
    assert!(
        waiting.iter().all(|m| m["attempts"] == 0),
        "holding a member for credits uses none of its attempts: {waiting:?}"
    );

    // A manual resume without credits runs into the same wall: nothing sent.
    let (status, _) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/resume"))
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = api
        .wait_status(campaign, "paused", Duration::from_secs(10))
        .await;
    assert_eq!(c["status_reason"], "insufficient credits");
    assert_eq!(sim.stats().accepted, 10);

    // A top-up resumes it by itself.
    let top = top_up(&herald, tenant, 100).await;
    assert_eq!(top["resumed_campaigns"], json!([campaign]), "{top}");
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;

    let stats = sim.stats();
    assert_eq!(stats.accepted, 25, "{stats:?}");
    assert_eq!(stats.distinct_recipients, 25);
    assert_eq!(stats.duplicates, 0, "no member sent twice: {stats:?}");
    let members = api.all_members(campaign).await;
    assert!(
        members.iter().all(|m| m["attempts"] == 1),
        "every member sent on its first attempt"
    );
    let b = settled(&api).await;
    assert_eq!(
        (b["available"].clone(), b["charged"].clone()),
        (json!(71), json!(50)),
        "{b}"
    );

    // The ledger accounts for every credit: top-ups in, charges out.
    let (_, ledger) = api.get("/v1/credits/ledger").await;
    let entries = ledger["items"].as_array().unwrap();
    let sum = |kind: &str| -> i64 {
        entries
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["amount"].as_i64().unwrap())
            .sum()
    };
    assert_eq!((sum("top_up"), sum("charge")), (121, -50), "{ledger}");
    let messages: i64 = entries.iter().filter_map(|e| e["messages"].as_i64()).sum();
    assert_eq!(messages, 25);
    assert_eq!(entries[0]["balance_after"], 71, "newest first: {ledger}");
}
both_backends!(credits_run_out_then_top_up_completes);

/// Receipt times, in order, of the messages the simulator accepted for
/// `numbers`.
fn receipts(sim: &Simulator, numbers: &[String]) -> Vec<u64> {
    let mut at: Vec<u64> = sim
        .messages()
        .iter()
        .filter(|m| numbers.contains(&m.to))
        .map(|m| m.received_at_ms)
        .collect();
    at.sort_unstable();
    at
}

/// Every member of `campaign` delivered on its first attempt (handed back
/// members keep their attempts), nothing sent twice.
async fn each_sent_once(sim: &Simulator, api: &Api, campaign: i64, members: u64) {
    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.duplicates),
        (members, 0),
        "{stats:?}"
    );
    let members = api.all_members(campaign).await;
    assert!(
        members
            .iter()
            .all(|m| m["status"] == "delivered" && m["attempts"] == 1),
        "{members:?}"
    );
}

async fn channel_rate_limit_spaces_sends(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let (status, c) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({"rate_per_second": 5}),
        )
        .await;
    assert_eq!(
        (status, c["rate_per_second"].clone()),
        (200, json!(5)),
        "{c}"
    );
    let (status, err) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({"rate_per_second": 0}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (422, json!("rate_per_second"))
    );

    // Two campaigns on the same channel share its 5 messages per second.
    let first: Vec<String> = (0..10)
        .map(|i| format!("+1628555{:04}", 4000 + i))
        .collect();
    let second: Vec<String> = (0..10)
        .map(|i| format!("+1628555{:04}", 5000 + i))
        .collect();
    let mut campaigns = Vec::new();
    for numbers in [&first, &second] {
        let list = api.list_with(numbers).await;
        campaigns.push(api.campaign(channel, list, "Hello {{first_name}}").await);
    }
    for c in &campaigns {
        let (status, body) = api.post_empty(&format!("/v1/campaigns/{c}/start")).await;
        assert_eq!(status, 200, "{body}");
    }
    for c in &campaigns {
        api.wait_status(*c, "completed", Duration::from_secs(60))
            .await;
    }

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let at = receipts(&sim, &all);
    assert_eq!(at.len(), 20);
    // 20 sends at 5/s: 19 gaps of 200 ms.
    let span = at[19] - at[0];
    assert!(
        span >= 3400,
        "20 messages at 5/s took only {span} ms: {at:?}"
    );
    // No second-long window holds more than the rate (one extra for timing
    // jitter at the window's edges).
    for (i, start) in at.iter().enumerate() {
        let in_window = at[i..].iter().take_while(|t| **t < start + 1000).count();
        assert!(
            in_window <= 6,
            "{in_window} messages within 1 s from {start}: {at:?}"
        );
    }
}
both_backends!(channel_rate_limit_spaces_sends);

async fn provider_retry_after_holds_the_whole_sender(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;

    // The simulator answers a `0429` number's first send with 429 and
    // Retry-After: 1.
    let limited = numbers_ending("0429", 1, 700);
    let list = api.list_with(&limited).await;
    let first = api.campaign(channel, list, "Hello").await;
    let started_at = now_ms();
    api.post_empty(&format!("/v1/campaigns/{first}/start"))
        .await;
    eventually("the provider's 429", Duration::from_secs(10), || {
        let sim = &sim;
        async move { sim.stats().rate_limited == 1 }
    })
    .await;

    // Another campaign on the same sender waits out the Retry-After too.
    let others: Vec<String> = (0..5).map(|i| format!("+1628555{:04}", 6000 + i)).collect();
    let list = api.list_with(&others).await;
    let second = api.campaign(channel, list, "Hello").await;
    api.post_empty(&format!("/v1/campaigns/{second}/start"))
        .await;
    for c in [first, second] {
        api.wait_status(c, "completed", Duration::from_secs(30))
            .await;
    }
    let at = receipts(&sim, &others);
    assert_eq!(at.len(), 5);
    // The 429 came after `started_at` and holds the sender for 1 s from
    // then. Without the hold the second campaign would go a few hundred ms
    // after the first started.
    assert!(
        at[0] >= started_at + 1000,
        "sent {} ms after the first campaign started; the provider's 429 asked for 1 s",
        at[0] as i64 - started_at as i64
    );
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.duplicates), (6, 0), "{stats:?}");
}
both_backends!(provider_retry_after_holds_the_whole_sender);

async fn rate_limit_backlog_waits_in_the_queue_not_on_a_lease(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // A 2 s lease: a send may wait at most 0.5 s for its turn in memory;
    // the rest of the backlog goes back to the database, booked at the
    // sender's pace.
    let herald = Herald::start(backend, &["--lease-secs", "2"]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 4).await;
    let numbers: Vec<String> = (0..12)
        .map(|i| format!("+1628555{:04}", 7000 + i))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;

    each_sent_once(&sim, &api, campaign, 12).await;
    let at = receipts(&sim, &numbers);
    for (i, start) in at.iter().enumerate() {
        let in_window = at[i..].iter().take_while(|t| **t < start + 1000).count();
        assert!(
            in_window <= 5,
            "{in_window} messages within 1 s from {start}: {at:?}"
        );
    }
}
both_backends!(rate_limit_backlog_waits_in_the_queue_not_on_a_lease);

// Paused while its backlog waits in memory for the sender's turn (2/s): the
// sends that were waiting do not go out after the pause; resumed, every
// member is sent exactly once, none having lost an attempt.
async fn pause_stops_sends_waiting_for_their_turn(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 2).await;
    let numbers: Vec<String> = (0..12)
        .map(|i| format!("+1628555{:04}", 7100 + i))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    eventually("two sent", Duration::from_secs(10), || async {
        sim.stats().accepted >= 2
    })
    .await;
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/pause"))
        .await;
    assert_eq!(status, 200, "{body}");
    let at_pause = sim.stats().accepted;
    // At 2/s, three seconds would let six more through.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = sim.stats().accepted;
    assert!(
        after <= at_pause + 1,
        "{} sent after the pause (one may have been in its provider call)",
        after - at_pause
    );
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/resume"))
        .await;
    assert_eq!(status, 200, "{body}");
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    each_sent_once(&sim, &api, campaign, 12).await;
}
both_backends!(pause_stops_sends_waiting_for_their_turn);

/// Two instances on one PostgreSQL database both send a campaign through a
/// channel limited to 10/s: together they keep to it (each takes half).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_a_senders_rate() {
    if crate::harness::skip_postgres() {
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // Four sends in flight each: both instances keep claiming, and each
    // waits for its own limiter's slots.
    let flags = ["--max-in-flight", "4"];
    let a = Herald::start(Backend::Postgres, &flags).await;
    let _b = a.second_instance(&flags).await;
    let api = a.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 10).await;
    // Heartbeats come every second: both have counted both.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let numbers: Vec<String> = (0..40)
        .map(|i| format!("+1628555{:04}", 7200 + i))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;

    each_sent_once(&sim, &api, campaign, 40).await;
    let at = receipts(&sim, &numbers);
    let span = at[39] - at[0];
    assert!(span >= 3400, "40 messages at 10/s took only {span} ms");
    // Each instance's 5/s may gain one at a window's edge from timing
    // jitter; unshared, the two would put about 20 in a second.
    for (i, start) in at.iter().enumerate() {
        let in_window = at[i..].iter().take_while(|t| **t < start + 1000).count();
        assert!(
            in_window <= 12,
            "{in_window} messages within 1 s from {start}: {at:?}"
        );
    }
}

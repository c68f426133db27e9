//! At most once per intent: a process killed mid-campaign never causes a
//! second send to anyone after restart, every member still ends final, and
//! no credit stays reserved for a send the crash cut off.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};

use crate::both_backends;
use crate::harness::{Backend, Herald};
use crate::support::count;

async fn crash_mid_campaign_never_sends_twice(backend: Backend) {
    let sim = Simulator::start(SimConfig {
        response_delay: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // Receipts lost while the server is down are fetched from the provider.
    let flags = [
        "--max-in-flight",
        "8",
        "--lease-secs",
        "1",
        "--receipt-check-secs",
        "2",
    ];
    let herald = Herald::start(backend, &flags).await;
    let api = herald.new_tenant("acme").await;
    // Metered: what was reserved for sends cut off by the crash must not
    // stay held.
    let (_, me) = api.get("/v1/tenant").await;
    let (status, body) = herald
        .admin()
        .post(
            &format!("/v1/tenants/{}/credits", me["id"]),
            serde_json::json!({ "amount": 1000 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers: Vec<String> = (0..200)
        .map(|i| format!("+1512{:03}{:04}", 300 + i / 100, 3000 + i % 100))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "crash test").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    while sim.stats().accepted < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let herald = herald.crash_and_restart(&flags).await;
    let api = herald.api(&api.key);
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;

    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    let members = api.all_members(campaign).await;
    let mut unknown = 0;
    let mut sent_total = 0;
    for m in &members {
        let sends = sim.sends_to(m["address"].as_str().unwrap());
        sent_total += sends;
        match m["status"].as_str().unwrap() {
            "delivered" => assert_eq!(sends, 1, "{m}"),
            // In flight at the crash: maybe sent, never resent.
            "unknown" => {
                unknown += 1;
                assert!(sends <= 1, "{m}");
                assert_eq!(m["attempts"], 1, "{m}");
            }
            other => panic!("unexpected status {other}: {m}"),
        }
    }
    assert_eq!(sent_total as u64, stats.accepted);
    // Only sends whose outcome was not yet durable end unknown: at most the
    // sends in flight (8), the writer's queue (2 x 8) and the batch in hand
    // (bounded by the same two). Everything else was sent exactly once.
    assert!(
        unknown <= 8 + 16 + 24,
        "at most the sends in flight at the crash: {unknown}"
    );
    // Every reservation settled: delivered sends charged (one credit each),
    // and those cut off charged when their lease expired if they had
    // reserved (the provider may have them), never left held.
    let (_, credits) = api.get("/v1/credits").await;
    let charged = credits["charged"].as_i64().unwrap();
    let delivered = members.len() as i64 - unknown;
    assert_eq!(credits["reserved"], 0, "{credits}");
    assert_eq!(
        credits["available"].as_i64().unwrap() + charged,
        1000,
        "{credits}"
    );
    assert!(
        (delivered..=delivered + unknown).contains(&charged),
        "{charged} charged for {delivered} delivered and {unknown} unknown: {credits}"
    );
    eprintln!(
        "{backend:?}: {unknown} members in flight at the crash ended unknown; {} sends, 0 duplicates; {charged} credits charged",
        stats.accepted
    );
}
both_backends!(crash_mid_campaign_never_sends_twice);

/// 5,000 distinct numbers, none of the simulator's failure patterns.
fn five_thousand_numbers() -> Vec<String> {
    (0..)
        .map(|i: u32| format!("+1512{:03}{:04}", 200 + i / 10_000, i % 10_000))
        .filter(|n| !["0001", "0002", "0003", "0429", "0500"].contains(&&n[n.len() - 4..]))
        .take(5_000)
        .collect()
}

/// What became of a campaign's members after crashes or a drain.
struct Tally {
    unknown: usize,
    /// Unknown members the provider never received: claims cut off before
    /// their call reached the provider.
    unknown_never_sent: usize,
    /// Unknown members the provider did receive: what reconciliation
    /// (looking each up at the provider) must leave none of.
    unknown_received: usize,
}

/// Every member final, nothing sent twice, nothing the provider took shown
/// as unsent, every unknown member with its reason.
async fn tally(api: &crate::harness::Api, sim: &Simulator, campaign: i64) -> Tally {
    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    let members = api.all_members(campaign).await;
    let mut tally = Tally {
        unknown: 0,
        unknown_never_sent: 0,
        unknown_received: 0,
    };
    for m in &members {
        let sends = sim.sends_to(m["address"].as_str().unwrap());
        match m["status"].as_str().unwrap() {
            "sent" | "delivered" => assert_eq!(sends, 1, "{m}"),
            "unknown" => {
                tally.unknown += 1;
                if sends == 0 {
                    tally.unknown_never_sent += 1;
                } else {
                    tally.unknown_received += 1;
                }
                assert!(sends <= 1, "{m}");
                assert!(
                    m["error_message"].as_str().is_some_and(|r| !r.is_empty()),
                    "{m}"
                );
            }
            other => panic!("member left {other}: {m}"),
        }
    }
    tally
}

/// `kill -9` at ten random moments of a 5,000-member campaign: claims of
/// the dead process go back to the queue (its heartbeat stops; the lease,
/// 5 minutes by default, is not waited for), only sends whose provider
/// call was under way can end unknown, and nothing is sent twice.
async fn repeated_kills_lose_nothing(backend: Backend) {
    use rand::Rng;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // 32 sends in flight (default 128): what one kill can catch between a
    // send's start and its request reaching the provider grows with it
    // when the machine is loaded (measured under the whole suite: up to 64
    // over ten kills at 128).
    let flags = ["--receipt-check-secs", "2", "--max-in-flight", "32"];
    let mut herald = Herald::start(backend, &flags).await;
    let api = herald.new_tenant("acme").await;
    let key = api.key.clone();
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 500).await;
    let list = api.list_with(&five_thousand_numbers()).await;
    let campaign = api.campaign(channel, list, "kill test").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    for _ in 0..10 {
        let pause = rand::rng().random_range(200..900);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        herald = herald.crash_and_restart(&flags).await;
    }
    let api = herald.api(&key);
    api.wait_status(campaign, "completed", Duration::from_secs(180))
        .await;
    let tally = tally(&api, &sim, campaign).await;
    // Claims waiting for their turn at a kill go back to the queue; a send
    // cut off during its call (`sending`) becomes unknown and is looked up
    // at the provider: found, it counts as sent; not found, it goes out
    // again under the same key. So nothing the provider took may stay
    // unknown, and at most 1% of the campaign (a plugin or provider that
    // cannot be asked) may. (Before: 41% of the campaign lost to kills,
    // then 11-326 members left unknown that the provider had.)
    assert_eq!(
        tally.unknown_received, 0,
        "members the provider has, still unknown after reconciliation"
    );
    assert!(
        tally.unknown <= 50,
        "{} unknown members ({} never sent)",
        tally.unknown,
        tally.unknown_never_sent
    );
    eprintln!(
        "{backend:?}: 10 kills, {} sends, 0 duplicates, {} unknown after reconciliation",
        sim.stats().accepted,
        tally.unknown,
    );
}
both_backends!(repeated_kills_lose_nothing);

/// SIGTERM mid-campaign (a deploy): the process drains and exits within
/// its grace period, leaves nothing in flight or unknown, and the next
/// start finishes the campaign with nothing sent twice.
async fn sigterm_drains_and_loses_nothing(backend: Backend) {
    let sim = Simulator::start(SimConfig {
        response_delay: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let flags = ["--receipt-check-secs", "2", "--shutdown-grace-secs", "5"];
    let herald = Herald::start(backend, &flags).await;
    let api = herald.new_tenant("acme").await;
    let key = api.key.clone();
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 1000).await;
    let list = api.list_with(&five_thousand_numbers()).await;
    let campaign = api.campaign(channel, list, "deploy test").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    while sim.stats().accepted < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (herald, took, clean) = herald
        .terminate_and_restart(&flags, Duration::from_secs(15))
        .await;
    assert!(clean, "herald exited with an error after SIGTERM");
    assert!(took < Duration::from_secs(6), "exit took {took:?}");
    let api = herald.api(&key);
    api.wait_status(campaign, "completed", Duration::from_secs(120))
        .await;
    let tally = tally(&api, &sim, campaign).await;
    assert_eq!(tally.unknown, 0, "a drain leaves nothing unknown");
    eprintln!("{backend:?}: SIGTERM drained in {took:?}; 5,000 sent once each");
}
both_backends!(sigterm_drains_and_loses_nothing);

/// An instance whose own heartbeat looks stale is still alive: on SQLite a
/// heartbeat waits for the one writer, and a long write (enrolling a
/// 1,000,000-member campaign held it for 5 s) left it stale. Its sweeper
/// must not take its own sends under way for a dead instance's (marking
/// them `unknown`) nor hand its own claims back to the queue.
async fn a_stale_heartbeat_does_not_cost_an_instance_its_own_sends(backend: Backend) {
    // Slow answers: at every sweep, sends of this instance are under way.
    let sim = Simulator::start(SimConfig {
        response_delay: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &["--max-in-flight", "8"]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers: Vec<String> = (0..48)
        .map(|i| format!("+1512{:03}{:04}", 400, 3000 + i))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "stale heartbeat").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    // Age the instance's heartbeat, over and over, until the campaign is
    // done: 48 sends 8 at a time take about 2 s, two sweeps or more.
    let url = herald.database_url().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut aged = 0;
    loop {
        age_heartbeats(backend, &url).await;
        aged += 1;
        let (_, body) = api.get(&format!("/v1/campaigns/{campaign}")).await;
        if body["status"] == "completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "campaign not completed within 60 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(aged > 20, "the heartbeat was aged only {aged} times");
    let stats = sim.stats();
    assert_eq!(stats.accepted, 48, "{stats:?}");
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    // The sweeper had its chance (it runs every second) and took nothing.
    let lost = count(
        backend,
        &url,
        "SELECT COUNT(*) FROM member_events WHERE detail LIKE '%lease lost%' \
         OR detail LIKE 'claim lost%'",
    )
    .await;
    assert_eq!(lost, 0, "the instance swept its own sends as a dead one's");
    for m in api.all_members(campaign).await {
        assert_ne!(m["status"], "unknown", "{m}");
    }
}

both_backends!(a_stale_heartbeat_does_not_cost_an_instance_its_own_sends);

/// Sets every instance's heartbeat far in the past.
async fn age_heartbeats(backend: Backend, url: &str) {
    const SQL: &str = "UPDATE herald_instances SET seen_at = 0";
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(SQL).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(SQL).execute(&mut conn).await.unwrap();
        }
    }
}

//! Several instances on one PostgreSQL database (issue 13, §6): three
//! instances claim at the same moments, one of them killed and restarted
//! again and again, while two campaigns reach the same addresses under the
//! tenant's duplicate window. Each address gets exactly one message; the
//! other campaign's member is skipped as a duplicate.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::harness::{Api, Backend, Herald};

/// Three instances on one fresh PostgreSQL database.
async fn three_instances(flags: &[&str]) -> (Herald, Herald, Herald) {
    let first = Herald::start(Backend::Postgres, flags).await;
    let second = first.second_instance(flags).await;
    let third = first.second_instance(flags).await;
    (first, second, third)
}

/// A tenant whose duplicate window (24 h) skips a second campaign's member
/// for an address already reached.
async fn tenant_with_duplicate_window(herald: &Herald) -> Api {
    let api = herald.new_tenant("acme").await;
    let (status, body) = api
        .patch(
            "/v1/tenant",
            json!({ "duplicate_window_hours": 24, "one_campaign_per_contact": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_never_send_twice_under_the_duplicate_window() {
    if crate::harness::skip_postgres() {
        eprintln!("HERALD_SKIP_POSTGRES set: skipped");
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let flags = ["--max-in-flight", "16", "--receipt-check-secs", "2"];
    let (first, _second, mut third) = three_instances(&flags).await;
    let api = tenant_with_duplicate_window(&first).await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 5_000).await;
    let numbers: Vec<String> = (0..1_500)
        .map(|i| format!("+1737{:03}{:04}", 200 + i / 1000, 1000 + i % 1000))
        .collect();
    let list = api.list_with(&numbers).await;
    // Two campaigns to the same addresses, started together: their members
    // for one address come due at the same moments on every instance.
    let one = api.campaign(channel, list, "one").await;
    let two = api.campaign(channel, list, "two").await;
    api.post_empty(&format!("/v1/campaigns/{one}/start")).await;
    api.post_empty(&format!("/v1/campaigns/{two}/start")).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        third = third.crash_and_restart(&flags).await;
    }
    for campaign in [one, two] {
        api.wait_status(campaign, "completed", Duration::from_secs(120))
            .await;
    }

    let stats = sim.stats();
    if stats.duplicates > 0 {
        for campaign in [one, two] {
            for m in api.all_members(campaign).await {
                if sim.sends_to(m["address"].as_str().unwrap()) > 1 {
                    let (_, j) = api
                        .get(&format!(
                            "/v1/campaigns/{campaign}/members/{}/journey",
                            m["id"]
                        ))
                        .await;
                    eprintln!("DUP {campaign}: {m}\n   {j}");
                }
            }
        }
    }
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.accepted, numbers.len() as u64, "{stats:?}");
    let mut sent = 0;
    let mut skipped = 0;
    for campaign in [one, two] {
        for m in api.all_members(campaign).await {
            match (m["status"].as_str().unwrap(), m["error_code"].as_str()) {
                ("delivered", _) => sent += 1,
                ("disqualified", Some("duplicate_outreach")) => skipped += 1,
                other => panic!("member left {other:?}: {m}"),
            }
        }
    }
    assert_eq!(sent, numbers.len(), "each address reached once");
    assert_eq!(
        skipped,
        numbers.len(),
        "the other campaign's member skipped"
    );
    drop(third);
}

/// Three instances on one database, one of them killed and restarted
/// every few seconds, send a 5,000-member campaign (and a second one to
/// 500 of its addresses under the duplicate window) through a channel
/// limited to 100 messages/s: they take the sender's slots from one shared
/// schedule, so together they never exceed the rate by more than 10% on
/// average or in any 5 s, and keep within 15% below it through the kills,
/// and nothing is sent twice. The limit is half of what three debug builds
/// sharing two cores with PostgreSQL and the simulator reach (at 200/s they
/// read 177-183/s through the restarts, and once below 170 in CI): the
/// floor measures the shared schedule, not the machine's spare CPU.
/// 5,000 members at 100/s make 50 s of sending and about ten restarts:
/// the rate is judged over 4,800 arrivals and every 5 s window of them
/// (10,000 members took 100 s of the suite's two threads, alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_keep_a_senders_rate_through_kills() {
    use rand::Rng;
    if crate::harness::skip_postgres() {
        eprintln!("HERALD_SKIP_POSTGRES set: skipped");
        return;
    }
    const RATE: f64 = 100.0;
    const MEMBERS: usize = 5_000;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let flags = ["--max-in-flight", "32", "--receipt-check-secs", "2"];
    let (first, _second, mut third) = three_instances(&flags).await;
    let api = tenant_with_duplicate_window(&first).await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, RATE as u32).await;
    let numbers: Vec<String> = (0..MEMBERS)
        // Last four digits from 1000 up: the simulator's fault numbers are below.
        .map(|i| format!("+1737{:03}{:04}", 400 + i / 9_000, 1_000 + i % 9_000))
        .collect();
    // 10,000 contacts per request at most.
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "rate").await;
    // And a campaign to 500 of the same addresses under the tenant's
    // duplicate window, claimed by every instance at the same moments.
    const OVERLAP: usize = 500;
    let again = api.list_with(&numbers[..OVERLAP]).await;
    let again = api.campaign(channel, again, "again").await;
    for c in [campaign, again] {
        let (status, body) = api.post_empty(&format!("/v1/campaigns/{c}/start")).await;
        assert_eq!(status, 200, "{body}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let mut kills = 0;
    while sim.stats().accepted < (MEMBERS as u64) * 9 / 10 {
        assert!(std::time::Instant::now() < deadline, "{:?}", sim.stats());
        let pause = rand::rng().random_range(3_000..6_000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        third = third.crash_and_restart(&flags).await;
        kills += 1;
    }
    for c in [campaign, again] {
        api.wait_status(c, "completed", Duration::from_secs(120))
            .await;
    }

    let stats = sim.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    assert_eq!(stats.accepted, MEMBERS as u64, "{stats:?}");
    assert_eq!(stats.distinct_recipients, MEMBERS as u64, "{stats:?}");
    // Each overlapping address reached by one campaign, skipped by the
    // other; a send cut off by a kill and not settled by the lookup stays
    // unknown for an operator, at most 1%.
    let (mut skipped, mut unknown) = (0, 0);
    for c in [campaign, again] {
        for m in api.all_members(c).await {
            match (m["status"].as_str().unwrap(), m["error_code"].as_str()) {
                ("delivered", _) => {}
                ("disqualified", Some("duplicate_outreach")) => skipped += 1,
                ("unknown", Some(_)) => unknown += 1,
                other => panic!("member left {other:?}: {m}"),
            }
        }
    }
    assert_eq!(skipped, OVERLAP, "the other campaign's member skipped");
    assert!(unknown <= MEMBERS / 100, "{unknown} members unknown");
    eprintln!("{skipped} skipped as duplicates, {unknown} unknown after reconciliation");
    let mut at: Vec<u64> = sim.messages().iter().map(|m| m.received_at_ms).collect();
    at.sort_unstable();
    // The steady part: without the first and last 2% (start-up, and the
    // few sends of killed calls looked up and resent at the end).
    let (from, to) = (MEMBERS / 50, MEMBERS - MEMBERS / 50);
    let average = (to - from) as f64 * 1000.0 / (at[to] - at[from]) as f64;
    // Arrivals in the busiest 1 s and 5 s windows. On two cores shared by
    // three instances, PostgreSQL and the simulator, a process stalled for
    // a moment moves a few sends from one second into the next; over five
    // seconds that evens out, and a schedule not shared (each instance at
    // the full rate, or a killed one's share reused too soon) would not.
    let busiest = |window: u64| {
        (0..at.len())
            .map(|i| at[i..].iter().take_while(|t| **t < at[i] + window).count())
            .max()
            .unwrap_or(0)
    };
    let (second, five) = (busiest(1_000), busiest(5_000));
    eprintln!(
        "{kills} kills: {average:.0} messages/s on average, {second} in the busiest second, \
         {five} in the busiest 5 s; limit {RATE}/s"
    );
    // Never above the limit by more than 10%: the shared schedule. Below
    // it by at most 15%: restarts every 3-6 s (each one compiles its
    // plugins again) cost the senders 5% at 100/s here (95/s), 8-12% at
    // 200/s where the restarts competed with the senders for the cores.
    assert!(
        (RATE * 0.85..=RATE * 1.1).contains(&average),
        "{average:.0}/s on average against a limit of {RATE}/s"
    );
    assert!(
        five as f64 <= RATE * 5.0 * 1.1,
        "{five} in 5 s against a limit of {RATE}/s"
    );
}

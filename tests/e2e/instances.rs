//! Several instances on one PostgreSQL database (issue 13, §6): three
//! instances claim at the same moments, one of them killed and restarted
//! again and again, while two campaigns reach the same addresses under the
//! tenant's duplicate window. Each address gets exactly one message; the
//! other campaign's member is skipped as a duplicate.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::harness::{Backend, Herald};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_never_send_twice_under_the_duplicate_window() {
    if crate::harness::skip_postgres() {
        eprintln!("HERALD_SKIP_POSTGRES set: skipped");
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let flags = ["--max-in-flight", "16", "--receipt-check-secs", "2"];
    let first = Herald::start(Backend::Postgres, &flags).await;
    let _second = first.second_instance(&flags).await;
    let mut third = first.second_instance(&flags).await;
    let api = first.new_tenant("acme").await;
    let (status, body) = api
        .patch(
            "/v1/tenant",
            json!({ "duplicate_window_hours": 24, "one_campaign_per_contact": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
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

//! A misbehaving plugin fails only the message it was sending: the server
//! keeps answering and other campaigns keep sending.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

async fn hostile_plugin_fails_only_its_message(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(
        backend,
        &["--plugin-timeout-ms", "500", "--plugin-memory-mb", "32"],
    )
    .await;
    let api = herald.new_tenant("acme").await;
    let hostile = api.sim_channel(&sim, "test-hostile").await;
    let healthy = api.sim_channel(&sim, "twilio-sms").await;

    let trap = numbers_ending("0666", 1, 500).remove(0);
    let looping = numbers_ending("0999", 1, 501).remove(0);
    let bomb = numbers_ending("0777", 1, 502).remove(0);
    let fine = numbers_ending("1111", 3, 510);
    let mut hostile_numbers = vec![trap.clone(), looping.clone(), bomb.clone()];
    hostile_numbers.extend(fine.iter().cloned());
    let hostile_list = api.list_with(&hostile_numbers).await;
    let healthy_list = api.list_with(&numbers_ending("2222", 50, 600)).await;
    let bad = api
        .campaign(hostile, hostile_list, "from a hostile plugin")
        .await;
    let good = api
        .campaign(healthy, healthy_list, "from a healthy plugin")
        .await;

    api.post_empty(&format!("/v1/campaigns/{bad}/start")).await;
    api.post_empty(&format!("/v1/campaigns/{good}/start")).await;

    // The healthy campaign completes while the hostile one is still retrying
    // its looping member (3 attempts x 500 ms deadline + backoff).
    let started = Instant::now();
    api.wait_status(good, "completed", Duration::from_secs(30))
        .await;
    let good_done = started.elapsed();
    let (_, bad_now) = api.get(&format!("/v1/campaigns/{bad}")).await;
    assert_eq!(
        bad_now["status"], "running",
        "hostile campaign still retrying"
    );

    // The server keeps answering while guests trap and spin.
    let health = herald
        .http
        .get(format!("{}/healthz", herald.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    api.wait_status(bad, "completed", Duration::from_secs(60))
        .await;
    eprintln!(
        "healthy campaign done after {good_done:?}; hostile after {:?}",
        started.elapsed()
    );

    let members = api.all_members(bad).await;
    let member = |n: &str| members.iter().find(|m| m["address"] == n).unwrap().clone();
    for (number, expect) in [
        (&trap, "trapped"),
        (&looping, "deadline"),
        (&bomb, "memory limit"),
    ] {
        let m = member(number);
        assert_eq!(m["status"], "failed", "{m}");
        assert_eq!(m["attempts"], 3, "{m}");
        let error = m["error_message"].as_str().unwrap();
        assert!(error.contains(expect), "{number}: {error}");
    }
    for n in &fine {
        assert_eq!(member(n)["status"], "delivered");
    }
    let good_members = api.all_members(good).await;
    assert!(good_members.iter().all(|m| m["status"] == "delivered"));
    assert_eq!(sim.stats().duplicates, 0);
}
both_backends!(hostile_plugin_fails_only_its_message);

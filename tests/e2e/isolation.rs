//! A misbehaving plugin costs its own tenant only: a spinning guest is
//! stopped by its CPU budget (not its 5 s wall-clock deadline), a plugin
//! that faults on half its calls is quarantined by itself, only its
//! campaigns stop, and the delivery reports of the messages it did send are
//! still applied; the neighbour's campaign completes untouched.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

/// `--plugin-cpu-ms` in this test.
const CPU_BUDGET_MS: f64 = 50.0;

/// The CPU a budget failure reports: "... (used 52.3ms)".
fn used_ms(error: &str) -> f64 {
    let used = error
        .split_once("(used ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(used, _)| used)
        .unwrap_or_else(|| panic!("no CPU figure in {error:?}"));
    if let Some(ms) = used.strip_suffix("ms") {
        ms.parse().unwrap()
    } else if let Some(us) = used.strip_suffix("µs") {
        us.parse::<f64>().unwrap() / 1000.0
    } else {
        used.strip_suffix('s').unwrap().parse::<f64>().unwrap() * 1000.0
    }
}

async fn a_faulty_plugin_is_stopped_and_quarantined_by_itself(backend: Backend) {
    // Receipts come late: those of B's sends arrive after its quarantine.
    let sim = Simulator::start(SimConfig {
        callback_delay: Duration::from_millis(1500),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &["--plugin-cpu-ms", "50"]).await;
    let a = herald.new_tenant("a").await;
    let b = herald.new_tenant("b").await;
    let a_channel = a.sim_channel(&sim, "twilio-sms").await;
    let a_numbers = numbers_ending("3131", 200, 600);
    let a_list = a.list_with(&a_numbers).await;
    let a_campaign = a.campaign(a_channel, a_list, "from A").await;

    // B: two spinning recipients for each ordinary one.
    let b_channel = b.sim_channel(&sim, "test-hostile").await;
    let spinning = numbers_ending("0999", 40, 300);
    let fine = numbers_ending("1212", 20, 400);
    // Interleaved, so that ordinary ones are among the first claimed: a
    // plugin without a record holds only a quarter of the slots.
    let interleaved: Vec<String> = spinning
        .chunks(2)
        .zip(&fine)
        .flat_map(|(two, one)| two.iter().chain([one]).cloned())
        .collect();
    let b_list = b.list_with(&interleaved).await;
    let b_campaign = b.campaign(b_channel, b_list, "from B").await;

    let started = Instant::now();
    for (api, id) in [(&b, b_campaign), (&a, a_campaign)] {
        let (status, body) = api.post_empty(&format!("/v1/campaigns/{id}/start")).await;
        assert_eq!(status, 200, "{body}");
    }

    // Quarantined without anyone acting, within a minute.
    let admin = herald.admin();
    let reason = loop {
        let hostile = admin.admin_plugin("test-hostile").await;
        if let Some(reason) = hostile["quarantine_reason"].as_str() {
            break reason.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not quarantined: {hostile}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "test-hostile quarantined after {:?}: {reason}",
        started.elapsed()
    );
    assert!(reason.contains("within a minute"), "{reason}");

    // Only B's campaign stops, with the cause.
    b.wait_status(b_campaign, "stopped", Duration::from_secs(30))
        .await;
    let (_, c) = b.get(&format!("/v1/campaigns/{b_campaign}")).await;
    assert_eq!(c["status_cause"], "plugin_quarantined", "{c}");
    a.wait_status(a_campaign, "completed", Duration::from_secs(60))
        .await;
    let a_members = a.all_members(a_campaign).await;
    assert_eq!(a_members.len(), 200);
    assert!(a_members.iter().all(|m| m["status"] == "delivered"));
    assert_eq!(sim.stats().duplicates, 0);

    // A spinning call stopped by its CPU budget used at most twice it.
    let b_members = b.all_members(b_campaign).await;
    let by = |number: &String| -> &Value {
        b_members
            .iter()
            .find(|m| m["address"] == number.as_str())
            .unwrap()
    };
    for n in &spinning {
        let member = by(n);
        // A plugin without a record holds a quarter of the slots: some
        // spinners were not tried before the quarantine, or are still
        // waiting their turn on the heavy slot.
        if ["queued", "claimed", "sending"].contains(&member["status"].as_str().unwrap_or_default())
        {
            continue;
        }
        let error = member["error_message"].as_str().unwrap_or_default();
        if error.starts_with("plugin exceeded its CPU budget") {
            let used = used_ms(error);
            assert!(
                used <= 2.0 * CPU_BUDGET_MS,
                "stopped after {used} ms of CPU: {error}"
            );
        } else {
            // Forty spinners take turns on the heavy slot: most reach the
            // wall-clock deadline first, waiting (nobody's CPU); later
            // attempts meet the quarantine.
            assert!(
                error.contains("deadline") || error.contains("quarantined"),
                "{n}: {error}"
            );
        }
    }

    // B's messages that did go out are delivered by their receipts, which
    // came after the quarantine.
    let sent: Vec<&String> = fine
        .iter()
        .filter(|n| by(n)["provider_message_id"].is_string())
        .collect();
    assert!(!sent.is_empty(), "{b_members:?}");
    crate::support::eventually(
        "B's sent messages delivered",
        Duration::from_secs(15),
        || async {
            let members = b.all_members(b_campaign).await;
            sent.iter().all(|n| {
                members
                    .iter()
                    .any(|m| m["address"] == n.as_str() && m["status"] == "delivered")
            })
        },
    )
    .await;
}
both_backends!(a_faulty_plugin_is_stopped_and_quarantined_by_itself);

/// An admin gives one plugin its own CPU budget; `null` returns it to the
/// server's.
async fn an_admin_sets_a_plugins_cpu_budget(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let limits = "/v1/admin/plugins/test-hostile/limits";
    for (bad, status) in [
        (json!({ "cpu_budget_ms": 0 }), 422),
        (json!({ "cpu_ms": 5 }), 422),
    ] {
        let (got, body) = admin.put(limits, bad).await;
        assert_eq!(got, status, "{body}");
    }
    let (status, _) = admin
        .put(
            "/v1/admin/plugins/nope/limits",
            json!({ "cpu_budget_ms": 5 }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, report) = admin.put(limits, json!({ "cpu_budget_ms": 20 })).await;
    assert_eq!(
        (status, &report["cpu_budget_ms"]),
        (200, &json!(20)),
        "{report}"
    );

    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "test-hostile").await;
    let spinner = numbers_ending("0999", 1, 350);
    let list = api.list_with(&spinner).await;
    let campaign = api.campaign(channel, list, "spin").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;
    let m = &api.all_members(campaign).await[0];
    let error = m["error_message"].as_str().unwrap();
    assert!(
        error.starts_with("plugin exceeded its CPU budget of 20ms"),
        "{m}"
    );
    assert!(used_ms(error) <= 40.0, "{error}");

    let (status, report) = admin.put(limits, json!({ "cpu_budget_ms": null })).await;
    assert_eq!(
        (status, &report["cpu_budget_ms"]),
        (200, &json!(null)),
        "{report}"
    );
}
both_backends!(an_admin_sets_a_plugins_cpu_budget);

/// A plugin two tenants share that faults for one tenant's messages only
/// (its recipients lead the guest into a trap) stops that tenant's
/// campaign, paused with the reason, not the plugin: the neighbour's calls
/// through the same version were sound, so no quarantine, and its next
/// campaign sends.
async fn a_plugin_faulting_for_one_channel_stops_that_channels_campaign_only(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &["--quarantine-after", "5"]).await;
    let a = herald.new_tenant("a").await;
    let b = herald.new_tenant("b").await;
    let a_channel = a.sim_channel(&sim, "test-hostile").await;
    let b_channel = b.sim_channel(&sim, "test-hostile").await;
    let fine = a
        .campaign(
            a_channel,
            a.list_with(&numbers_ending("6000", 20, 500)).await,
            "fine",
        )
        .await;
    // A's calls come first, so the version has a sound channel.
    a.start_to_completion(fine, Duration::from_secs(60)).await;
    let traps = b
        .campaign(
            b_channel,
            b.list_with(&numbers_ending("0666", 20, 520)).await,
            "trap",
        )
        .await;
    b.post_empty(&format!("/v1/campaigns/{traps}/start")).await;
    let paused = b
        .wait_status(traps, "paused", Duration::from_secs(60))
        .await;
    assert_eq!(paused["status_cause"], "channel_unusable", "{paused}");
    let reason = paused["status_reason"].as_str().unwrap();
    assert!(reason.contains("this channel's"), "{reason}");

    let plugin = herald.admin().admin_plugin("test-hostile").await;
    assert!(plugin["quarantine_reason"].is_null(), "{plugin}");
    let again = a
        .campaign(
            a_channel,
            a.list_with(&numbers_ending("6000", 10, 540)).await,
            "again",
        )
        .await;
    a.start_to_completion(again, Duration::from_secs(60)).await;
    assert_eq!(sim.stats().duplicates, 0);
}
both_backends!(a_plugin_faulting_for_one_channel_stops_that_channels_campaign_only);

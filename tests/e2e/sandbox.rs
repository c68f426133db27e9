//! A misbehaving plugin fails only the message it was sending: the server
//! keeps answering and other campaigns keep sending.

use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_sim::{SimConfig, Simulator};

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};
use crate::twilio_hooks::post_signed;

async fn hostile_plugin_fails_only_its_message(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // A spinning guest runs on the heavy slot a fifteenth of the time: its
    // CPU budget, 100 ms here, takes about 1.5 s of wall time, more while
    // the memory bomb takes turns too, so the deadline, which would
    // otherwise stop it first, is well past that. The budget is twice the
    // default: filling its memory page by page cost the bomb 52-56 ms of
    // CPU on a busy machine (measured, at a 16 and a 32 MiB cap alike), and
    // at 50 ms the budget, not the memory cap, stopped it.
    let herald = Herald::start(
        backend,
        &["--plugin-cpu-ms", "100", "--plugin-timeout-ms", "4000"],
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
    // its looping member (3 attempts, each stopped by its CPU budget, +
    // backoff).
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
        (&looping, "CPU budget"),
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

/// The rest of the hostile repertoire: each has its documented outcome and
/// the server keeps serving.
async fn hostile_components_meet_their_documented_outcomes(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &["--plugin-timeout-ms", "1000"]).await;
    let api = herald.new_tenant("acme").await;
    let hostile = api.sim_channel(&sim, "test-hostile").await;

    let overflow = numbers_ending("0888", 1, 520).remove(0);
    let huge = numbers_ending("0333", 1, 521).remove(0);
    let probes = numbers_ending("0444", 4, 522);
    let mut numbers = vec![overflow.clone(), huge.clone()];
    numbers.extend(probes.iter().cloned());
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(hostile, list, "probe").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;
    let members = api.all_members(campaign).await;
    let member = |n: &str| members.iter().find(|m| m["address"] == n).unwrap().clone();

    // Stack overflow: a trap, like any other.
    let m = member(&overflow);
    assert_eq!(m["status"], "failed", "{m}");
    assert!(
        m["error_message"].as_str().unwrap().contains("trapped"),
        "{m}"
    );
    // A huge return value is refused, never stored.
    let m = member(&huge);
    assert_eq!(m["status"], "failed", "{m}");
    assert!(
        m["error_message"]
            .as_str()
            .unwrap()
            .contains("unusable provider message id"),
        "{m}"
    );
    assert!(m["provider_message_id"].is_null());
    // No ambient secrets: no environment, no files, no directory listing;
    // and no memory of earlier calls: each probe's instance saw only its
    // own send, although the same plugin handled five others before.
    for probe in &probes {
        assert_eq!(member(probe)["status"], "delivered");
        let sent = sim.messages().into_iter().find(|m| &m.to == probe).unwrap();
        assert_eq!(
            sent.body,
            "ambient: env=0 files=0 root_entries=0 sends_seen=1"
        );
    }

    // http-send to a host outside the allowed list is refused; the channel
    // cannot work, so its campaign pauses with the reason and sends nothing.
    let forbidden = numbers_ending("0555", 2, 530);
    let list = api.list_with(&forbidden).await;
    let campaign = api.campaign(hostile, list, "exfiltrate").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    let paused = api
        .wait_status(campaign, "paused", Duration::from_secs(30))
        .await;
    let reason = paused["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("exfiltrate.example") && reason.contains("not in the allowed hosts"),
        "{reason}"
    );
    assert!(forbidden.iter().all(|n| sim.sends_to(n) == 0));

    // A panic in handle-webhook answers 500; the server carries on.
    let resp = herald
        .http
        .post(format!("{}/webhooks/{hostile}", herald.base))
        .body("MessageSid=SM1&MessageStatus=panic")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    // Among a channel's valid status callbacks arriving together (which a
    // 1.4 plugin such as this one verifies in one call), a panicking one
    // fails alone: the others are answered as if it had not come.
    let url = format!("{}/webhooks/{hostile}", herald.base);
    let statuses: Vec<(usize, u16)> = futures::stream::iter(0..41)
        .map(|i| {
            let (sim, herald, url) = (&sim, &herald, &url);
            async move {
                let status = if i == 20 { "panic" } else { "delivered" };
                let params = vec![
                    ("MessageSid".to_owned(), format!("SMbatch{i}")),
                    ("MessageStatus".to_owned(), status.to_owned()),
                ];
                (i, post_signed(herald, sim, url, &params).await)
            }
        })
        .buffer_unordered(41)
        .collect()
        .await;
    for (i, status) in statuses {
        let expected = if i == 20 { 500 } else { 204 };
        assert_eq!(status, expected, "callback {i}");
    }
    let health = herald
        .http
        .get(format!("{}/healthz", herald.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
both_backends!(hostile_components_meet_their_documented_outcomes);

/// A plugin that keeps faulting is quarantined: its campaigns pause with the
/// reason, other plugins carry on, and activating a version lifts it.
async fn a_plugin_that_keeps_faulting_is_quarantined(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &["--quarantine-after", "5"]).await;
    let api = herald.new_tenant("acme").await;
    let hostile = api.sim_channel(&sim, "test-hostile").await;
    let healthy = api.sim_channel(&sim, "twilio-sms").await;
    let bad = api
        .campaign(
            hostile,
            api.list_with(&numbers_ending("0666", 10, 540)).await,
            "trap",
        )
        .await;
    let good = api
        .campaign(
            healthy,
            api.list_with(&numbers_ending("6000", 30, 560)).await,
            "fine",
        )
        .await;
    api.post_empty(&format!("/v1/campaigns/{bad}/start")).await;
    api.post_empty(&format!("/v1/campaigns/{good}/start")).await;

    // A quarantine is a system fault: the campaign is stopped with the cause.
    let stopped = api
        .wait_status(bad, "stopped", Duration::from_secs(60))
        .await;
    assert_eq!(stopped["status_cause"], "plugin_quarantined", "{stopped}");
    let reason = stopped["status_reason"].as_str().unwrap();
    assert!(reason.contains("quarantined"), "{reason}");
    api.wait_status(good, "completed", Duration::from_secs(30))
        .await;

    let admin = herald.admin();
    let p = admin.admin_plugin("test-hostile").await;
    assert!(
        p["quarantine_reason"]
            .as_str()
            .unwrap()
            .contains("calls within a minute"),
        "{p}"
    );
    // No member was given up on: the quarantine stopped them, queued. The
    // outcomes of calls that faulted meanwhile are written in batches, so
    // wait until none is still `sending`.
    let mut members = api.all_members(bad).await;
    for _ in 0..200 {
        if members
            .iter()
            .all(|m| m["status"] != "sending" && m["status"] != "claimed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        members = api.all_members(bad).await;
    }
    assert!(
        members.iter().any(|m| m["status"] == "queued"),
        "members wait for the fix: {members:?}"
    );

    let attempts = |members: &[serde_json::Value]| -> i64 {
        members
            .iter()
            .map(|m| m["attempts"].as_i64().unwrap())
            .sum()
    };
    let before = attempts(&members);
    let sha = p["active_sha256"].as_str().unwrap();
    let (status, _) = admin
        .post(
            "/v1/admin/plugins/test-hostile/activate",
            serde_json::json!({ "sha256": sha }),
        )
        .await;
    assert_eq!(status, 200);
    let p = admin.admin_plugin("test-hostile").await;
    assert!(p["quarantine_reason"].is_null(), "{p}");
    // The fault is cleared: the stopped campaign carries on by itself.
    crate::support::eventually(
        "the stopped campaign sends again after the fix",
        Duration::from_secs(20),
        || async { attempts(&api.all_members(bad).await) > before },
    )
    .await;
}
both_backends!(a_plugin_that_keeps_faulting_is_quarantined);

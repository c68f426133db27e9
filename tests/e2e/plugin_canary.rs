//! Canary versions (issue 17, section 4): a share of members or some
//! tenants' sends go to another version of a plugin, each member staying
//! on one version, its callbacks verified by it; a canary that faults far
//! more than the active version, or refuses a channel it sends with, is
//! rolled back by itself and its members still reach a final state.
//! Promotion and the admin's requests: `plugin_canary_admin`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use herald_sim::{ReceivedMessage, SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, artifact};

/// Installs a test artifact (not activated); answers its sha256.
pub(crate) async fn install(admin: &Api, file: &str) -> String {
    let (status, body) = admin.post_bytes("/v1/admin/plugins", artifact(file)).await;
    assert_eq!(status, 201, "{body}");
    body["sha256"].as_str().unwrap().to_owned()
}

pub(crate) async fn active_sha(admin: &Api) -> String {
    admin.admin_plugin("twilio-sms").await["active_sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The version that sent a message, from the plugin's User-Agent.
pub(crate) fn sent_by(m: &ReceivedMessage) -> String {
    m.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.rsplit('/').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// Distinct valid US numbers ending in `suffix` (exchanges from `from`,
/// never an N11 code).
pub(crate) fn numbers_ending_in(suffix: &str, count: usize, from: usize) -> Vec<String> {
    (from..=999)
        .filter(|x| x % 100 != 11)
        .take(count)
        .map(|x| format!("+1415{x:03}{suffix}"))
        .collect()
}

/// One version's entry in the plugin report.
pub(crate) fn version<'a>(plugin: &'a Value, sha: &str) -> &'a Value {
    plugin["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sha256"] == sha)
        .unwrap_or_else(|| panic!("no version {sha} in {plugin}"))
}

pub(crate) async fn tenant_id(api: &Api) -> i64 {
    let (_, me) = api.get("/v1/tenant").await;
    me["id"].as_i64().unwrap()
}

/// Runs a campaign to `numbers` on `channel` to completion; answers the
/// version each number's message was sent by.
pub(crate) async fn versions_used(
    api: &Api,
    sim: &Simulator,
    channel: i64,
    numbers: &[String],
) -> HashMap<String, String> {
    let list = api.list_with(numbers).await;
    let campaign = api.campaign(channel, list, "Hello {{first_name}}").await;
    api.start_to_completion(campaign, Duration::from_secs(60))
        .await;
    let by_number: HashMap<String, String> = sim
        .messages()
        .iter()
        .map(|m| (m.to.clone(), sent_by(m)))
        .collect();
    numbers
        .iter()
        .map(|n| (n.clone(), by_number.get(n).cloned().unwrap_or_default()))
        .collect()
}

/// A 20% canary takes about a fifth of a campaign's members, each member
/// on one version for all its attempts (a first attempt rate limited, the
/// retry on the same version), the canary's callbacks verified by it; the
/// campaign completes with nothing lost or sent twice.
async fn a_percent_canary_takes_a_stable_share_of_members(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v1 = active_sha(&admin).await;
    let v2 = install(&admin, "twilio_sms_v2.wasm").await;
    let (status, report) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": v2, "percent": 20 }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let canary = &report["canary"];
    assert_eq!(
        (&canary["state"], &canary["percent"], &canary["version"]),
        (&json!("running"), &json!(20), &json!("1.1.0")),
        "{report}"
    );
    assert_eq!(canary["baseline_sha256"], v1.as_str());
    assert_eq!(
        report["active_sha256"],
        v1.as_str(),
        "a canary is no activation"
    );

    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // 490 plain numbers, and 10 whose first request is rate limited (429):
    // retried a second later.
    let mut numbers: Vec<String> = (0..490)
        .map(|i| format!("+1303{:03}{:04}", 300 + i / 1000, 1000 + i % 1000))
        .collect();
    numbers.extend(numbers_ending_in("0429", 10, 220));
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello {{first_name}}").await;
    api.start_to_completion(campaign, Duration::from_secs(120))
        .await;

    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.distinct_recipients, stats.duplicates),
        (500, 500, 0),
        "{stats:?}"
    );
    let messages: HashMap<String, ReceivedMessage> = sim
        .messages()
        .into_iter()
        .map(|m| (m.to.clone(), m))
        .collect();
    let members = api.all_members(campaign).await;
    assert_eq!(members.len(), 500);
    let (mut canary_members, mut canary_attempts, mut active_attempts) = (0, 0, 0);
    let mut retried_on_canary = 0;
    for m in &members {
        assert_eq!(m["status"], "delivered", "{m}");
        let address = m["address"].as_str().unwrap();
        let sha = m["plugin_sha256"].as_str().unwrap();
        let attempts = m["attempts"].as_u64().unwrap();
        let expected = if sha == v2 {
            canary_members += 1;
            canary_attempts += attempts;
            retried_on_canary += (attempts > 1) as u64;
            "1.1.0"
        } else {
            assert_eq!(sha, v1, "{m}");
            active_attempts += attempts;
            "1.0.0"
        };
        assert_eq!(
            sent_by(&messages[address]),
            expected,
            "member {m} and the provider agree on its version"
        );
    }
    eprintln!(
        "{backend:?}: the 20% canary took {canary_members} of 500 members \
         ({retried_on_canary} of them retried after a 429)"
    );
    // 20% of 500 is 100; three standard deviations are 27.
    assert!(
        (70..=130).contains(&canary_members),
        "{canary_members} of 500 members on the canary"
    );
    // Every call each version made was an attempt of its own members: no
    // retry went to the other version.
    let plugin = admin.admin_plugin("twilio-sms").await;
    let canary_stats = &version(&plugin, &v2)["stats"];
    assert_eq!(canary_stats["calls"], canary_attempts, "{plugin}");
    let active_calls = version(&plugin, &v1)["stats"]["calls"].as_u64().unwrap();
    assert!(
        active_calls >= active_attempts,
        "{active_calls} < {active_attempts}"
    );
    assert!(
        members.iter().any(|m| m["attempts"].as_u64() > Some(1)),
        "some members were retried"
    );
    // The canary's status callbacks (sent, delivered) were verified by it.
    assert_eq!(
        version(&plugin, &v2)["webhook_stats"]["calls"],
        json!(2 * canary_members),
        "{plugin}"
    );
    let figures = &plugin["canary"]["figures"];
    assert_eq!(
        figures["canary"]["calls"],
        json!(canary_attempts),
        "{plugin}"
    );
    assert_eq!(figures["canary"]["faults"], 0);
    assert_eq!(plugin["canary"]["state"], "running");
}
both_backends!(a_percent_canary_takes_a_stable_share_of_members);

/// A canary on one tenant takes all of that tenant's sends and none of
/// another's; it survives a restart (it lives in the database).
async fn a_tenant_canary_routes_only_that_tenant(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v2 = install(&admin, "twilio_sms_v2.wasm").await;
    let trying = herald.new_tenant("trying").await;
    let other = herald.new_tenant("other").await;
    let (status, report) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": v2, "tenants": [tenant_id(&trying).await] }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["canary"]["tenants"],
        json!([tenant_id(&trying).await])
    );

    let trying_channel = trying.sim_channel(&sim, "twilio-sms").await;
    let other_channel = other.sim_channel(&sim, "twilio-sms").await;
    let trying_numbers = numbers_ending_in("7001", 15, 220);
    let other_numbers = numbers_ending_in("7002", 15, 220);
    let used = versions_used(&trying, &sim, trying_channel, &trying_numbers).await;
    assert!(used.values().all(|v| v == "1.1.0"), "{used:?}");
    let used = versions_used(&other, &sim, other_channel, &other_numbers).await;
    assert!(used.values().all(|v| v == "1.0.0"), "{used:?}");

    let herald = herald.crash_and_restart(&[]).await;
    let plugin = herald.admin().admin_plugin("twilio-sms").await;
    assert_eq!(plugin["canary"]["state"], "running", "{plugin}");
    let trying = herald.api(&trying.key);
    let after = numbers_ending_in("7003", 10, 220);
    let used = versions_used(&trying, &sim, trying_channel, &after).await;
    assert!(
        used.values().all(|v| v == "1.1.0"),
        "after a restart: {used:?}"
    );
}
both_backends!(a_tenant_canary_routes_only_that_tenant);

/// A canary that traps where the active version sends (the hostile plugin
/// built as a twilio-sms version) is rolled back by itself within its
/// window; its members' retries go to the active version, so every member
/// is delivered, once; the rollback is logged (warn) with both figures and
/// shown in the plugin report.
async fn a_faulting_canary_is_rolled_back_by_itself(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (herald, logs) = Herald::start_logging_with(
        backend,
        "warn",
        &["--canary-window-secs", "3", "--canary-min-calls", "10"],
    )
    .await;
    let admin = herald.admin();
    let v1 = active_sha(&admin).await;
    let bad = install(&admin, "twilio_sms_hostile.wasm").await;
    let (status, report) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": bad, "percent": 50 }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["canary"]["version"], "1.2.0");

    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // The hostile version traps on numbers ending in 0666; twilio-sms sends.
    let numbers = numbers_ending_in("0666", 200, 220);
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello").await;
    let started = Instant::now();
    api.start_to_completion(campaign, Duration::from_secs(90))
        .await;

    let plugin = admin.admin_plugin("twilio-sms").await;
    let canary = &plugin["canary"];
    assert_eq!(canary["state"], "rolled_back", "{plugin}");
    let reason = canary["reason"].as_str().unwrap();
    assert!(reason.contains("fault rate 100.0%"), "{reason}");
    assert!(reason.contains("on the active version"), "{reason}");
    let faults = canary["figures"]["canary"]["faults"].as_u64().unwrap();
    assert!(faults >= 10, "{plugin}");
    let ended = crate::support::at_ms(&canary["ended_at"]);
    let began = crate::support::at_ms(&canary["started_at"]);
    eprintln!(
        "{backend:?}: rolled back after {faults} faults, {} ms after it started; campaign done in {:?}",
        ended - began,
        started.elapsed()
    );
    assert_eq!(
        plugin["active_sha256"],
        v1.as_str(),
        "the active version stays"
    );

    // Nothing lost, nothing twice: the active version sent every message.
    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.distinct_recipients, stats.duplicates),
        (200, 200, 0),
        "{stats:?}"
    );
    assert!(sim.messages().iter().all(|m| sent_by(m) == "1.0.0"));
    let members = api.all_members(campaign).await;
    assert!(
        members
            .iter()
            .all(|m| m["status"] == "delivered" && m["plugin_sha256"] == v1.as_str()),
        "every member delivered by the active version"
    );
    let retried = members
        .iter()
        .filter(|m| m["attempts"].as_u64() > Some(1))
        .count();
    assert!(
        retried >= 10,
        "the canary's members were retried: {retried}"
    );

    let logged = logs.lock().unwrap().clone();
    let line = logged
        .iter()
        .find(|l| l.contains("canary rolled back by itself"))
        .unwrap_or_else(|| panic!("no rollback warning in {logged:?}"));
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["fields"]["canary_fault_percent"], 100.0, "{line}");
    assert_eq!(line["fields"]["active_fault_percent"], 0.0, "{line}");

    // Ended: a new send of any member goes to the active version.
    let again = numbers_ending_in("0666", 20, 600);
    let used = versions_used(&api, &sim, channel, &again).await;
    assert!(used.values().all(|v| v == "1.0.0"), "{used:?}");
}
both_backends!(a_faulting_canary_is_rolled_back_by_itself);

/// The messages a canary sent are verified by it (their callback URL names
/// it); when it faults on one, the active version verifies it instead, so
/// no receipt is lost to a canary's broken webhook code.
async fn a_canary_verifies_its_own_callbacks(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v1 = active_sha(&admin).await;
    // The hostile build sends like twilio-sms (but to numbers ending in
    // 0666) and faults on webhooks whose body says "panic".
    let canary = install(&admin, "twilio_sms_hostile.wasm").await;
    let api = herald.new_tenant("acme").await;
    let (status, body) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": canary, "tenants": [tenant_id(&api).await] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers = numbers_ending_in("7401", 5, 220);
    let used = versions_used(&api, &sim, channel, &numbers).await;
    assert!(used.values().all(|v| v == "1.2.0"), "{used:?}");
    let plugin = admin.admin_plugin("twilio-sms").await;
    assert_eq!(
        version(&plugin, &canary)["webhook_stats"]["calls"],
        10,
        "{plugin}"
    );
    assert_eq!(
        version(&plugin, &v1)["webhook_stats"]["calls"],
        0,
        "{plugin}"
    );

    let sent = sim.messages_for("twilio").remove(0);
    let url = sent.status_callback.clone().unwrap();
    assert!(url.ends_with(&format!("?herald_version={canary}")), "{url}");
    let params: Vec<(String, String)> = [
        ("AccountSid", sim.config().twilio_account_sid.as_str()),
        ("MessageSid", sent.sid.as_str()),
        ("MessageStatus", "read"),
        ("To", sent.to.as_str()),
        ("Note", "panic"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let status = crate::twilio_hooks::post_signed(&herald, &sim, &url, &params).await;
    assert_eq!(status, 204, "the active version took the callback");
    let plugin = admin.admin_plugin("twilio-sms").await;
    assert_eq!(
        version(&plugin, &canary)["webhook_stats"]["faults"],
        1,
        "{plugin}"
    );
    assert_eq!(
        version(&plugin, &v1)["webhook_stats"]["calls"],
        1,
        "{plugin}"
    );
}
both_backends!(a_canary_verifies_its_own_callbacks);

/// A canary that refuses the channel's configuration where the active
/// version sends (the hostile build calls a host outside its manifest for
/// numbers ending in 0555) is rolled back at its first refusal, without
/// waiting for its window; the campaign does not pause, and the active
/// version delivers every member.
async fn a_canary_refusing_a_channel_is_rolled_back_at_once(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v1 = active_sha(&admin).await;
    let bad = install(&admin, "twilio_sms_hostile.wasm").await;
    let (status, body) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": bad, "percent": 50 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers = numbers_ending_in("0555", 40, 220);
    let used = versions_used(&api, &sim, channel, &numbers).await;
    assert!(used.values().all(|v| v == "1.0.0"), "{used:?}");
    assert_eq!(sim.stats().duplicates, 0);

    let plugin = admin.admin_plugin("twilio-sms").await;
    assert_eq!(plugin["canary"]["state"], "rolled_back", "{plugin}");
    let reason = plugin["canary"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rolled back: it refused a channel's configuration"),
        "{reason}"
    );
    assert_eq!(plugin["active_sha256"], v1.as_str());
    // The default window (300 s) and minimum (20 calls) were not waited for.
    let canary_calls = version(&plugin, &bad)["stats"]["calls"].as_u64().unwrap();
    eprintln!("{backend:?}: rolled back after {canary_calls} canary calls");
    assert!(canary_calls < 20, "{canary_calls} canary calls");
}
both_backends!(a_canary_refusing_a_channel_is_rolled_back_at_once);

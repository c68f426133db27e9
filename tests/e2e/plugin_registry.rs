//! The plugin registry: install checks with clear refusals, zero-loss hot
//! reload under load, rollback, and activation reaching every instance.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, Herald, artifact};

async fn install_refuses_what_is_not_a_provider(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("text", b"hello".to_vec(), "not a WebAssembly file"),
        (
            "core module",
            core_module,
            "core WebAssembly module, not a component",
        ),
        (
            "other world",
            artifact("test_other_world.wasm"),
            "does not implement the provider world",
        ),
        (
            "future version",
            artifact("test_future_version.wasm"),
            "herald:provider@2.0.0",
        ),
        ("empty", Vec::new(), "empty"),
    ];
    for (what, bytes, expect) in cases {
        let (status, body) = admin.post_bytes("/v1/admin/plugins", bytes).await;
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["error"]["field"], "file", "{what}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expect), "{what}: {message}");
    }
    // Nothing was stored: only the bundled plugins are listed.
    let (_, list) = admin.get("/v1/admin/plugins").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "example-http-sms",
            "infobip-sms",
            "mailgun-email",
            "test-hostile",
            "twilio-sms",
            "twilio-voice",
            "vonage-sms-py",
            "whatsapp-cloud"
        ]
    );
    // Tenant keys cannot install.
    let tenant = herald.new_tenant("t").await;
    let (status, _) = tenant
        .post_bytes("/v1/admin/plugins", artifact("twilio_sms_v2.wasm"))
        .await;
    assert_eq!(status, 401);
}
both_backends!(install_refuses_what_is_not_a_provider);

fn plugin<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

/// The version a message was sent by, from the plugin's User-Agent.
fn sent_by(m: &herald_sim::ReceivedMessage) -> String {
    m.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.rsplit('/').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

async fn hot_reload_under_load_loses_nothing(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let (_, list) = admin.get("/v1/admin/plugins").await;
    let v1 = plugin(&list, "twilio-sms")["active_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, installed) = admin
        .post_bytes("/v1/admin/plugins", artifact("twilio_sms_v2.wasm"))
        .await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["version"], "1.1.0");
    assert_eq!(
        installed["active"], false,
        "install alone does not activate"
    );
    let v2 = installed["sha256"].as_str().unwrap().to_owned();

    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // Fast, so the swaps land among many calls in flight, yet bounded, so
    // however fast Herald goes the campaign outlasts the three swaps.
    api.set_rate(channel, 1_000).await;
    let numbers: Vec<String> = (0..10_000)
        .map(|i| format!("+1303{:03}{:04}", 300 + i / 1000, 1000 + i % 1000))
        .collect();
    let list_id = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list_id, "reload test").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;

    // Calls that resolved the old version just before a swap may still
    // reach the provider this long after it.
    let grace = 1_000;
    // v1 -> v2 -> v1 -> v2 while the campaign sends; each version serves a
    // second past its grace before the next swap.
    let mut swaps: Vec<(u64, u64, &str)> = Vec::new();
    for (k, (sha, version)) in [(&v2, "1.1.0"), (&v1, "1.0.0"), (&v2, "1.1.0")]
        .into_iter()
        .enumerate()
    {
        let deadline = Instant::now() + Duration::from_secs(120);
        while sim.stats().accepted < 1_000 * (k as u64 + 1)
            || swaps.last().is_some_and(|s| now_ms() < s.1 + grace + 1_000)
        {
            assert!(
                Instant::now() < deadline,
                "the campaign stalled: {:?}",
                sim.stats()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The new version serves calls from some instant between the
        // request and its answer: (asked, answered, version).
        let asked = now_ms();
        let (status, body) = admin
            .post(
                "/v1/admin/plugins/twilio-sms/activate",
                json!({ "sha256": sha }),
            )
            .await;
        assert_eq!(
            (status, &body["active_sha256"]),
            (200, &json!(sha)),
            "{body}"
        );
        swaps.push((asked, now_ms(), version));
    }
    let started = Instant::now();
    api.wait_status(campaign, "completed", Duration::from_secs(180))
        .await;
    eprintln!(
        "{backend:?}: completed {:?} after the last swap",
        started.elapsed()
    );

    let stats = sim.stats();
    assert_eq!(stats.accepted, 10_000, "{stats:?}");
    assert_eq!(stats.distinct_recipients, 10_000);
    assert_eq!(stats.duplicates, 0);
    // After each swap (plus the grace for calls already running on the old
    // version), every send carries the new version's marker.
    let messages = sim.messages();
    for (i, (_, at, version)) in swaps.iter().enumerate() {
        // Up to the moment the next swap was asked for.
        let until = swaps.get(i + 1).map(|s| s.0).unwrap_or(u64::MAX);
        let window: Vec<_> = messages
            .iter()
            .filter(|m| m.received_at_ms > at + grace && m.received_at_ms < until)
            .collect();
        assert!(!window.is_empty(), "sends after swap {i}");
        let wrong = window.iter().filter(|m| sent_by(m) != *version).count();
        assert_eq!(
            wrong,
            0,
            "swap {i} to {version}: {wrong} of {} sends by another version",
            window.len()
        );
    }
    let members = api.all_members(campaign).await;
    assert!(
        members
            .iter()
            .all(|m| m["status"] == "delivered" && m["attempts"] == 1)
    );

    // Rollback returns to the version before the current one.
    let (status, _) = admin
        .post_empty("/v1/admin/plugins/twilio-sms/rollback")
        .await;
    assert_eq!(status, 200);
    let (_, list) = admin.get("/v1/admin/plugins").await;
    let p = plugin(&list, "twilio-sms");
    assert_eq!(p["active_sha256"], v1.as_str());
    assert_eq!(p["channel_ids"], json!([channel]));
    let calls: u64 = p["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["stats"]["calls"].as_u64().unwrap_or(0))
        .sum();
    assert!(calls >= 10_000, "per-version call counts add up: {calls}");
}
both_backends!(hot_reload_under_load_loses_nothing);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Two instances share PostgreSQL: an activation on one reaches the other
/// within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_reaches_other_instances() {
    if crate::harness::skip_postgres() {
        return;
    }
    let a = Herald::start(Backend::Postgres, &[]).await;
    let b = a.second_instance(&[]).await;
    let (status, installed) = a
        .admin()
        .post_bytes(
            "/v1/admin/plugins?activate=true",
            artifact("twilio_sms_v2.wasm"),
        )
        .await;
    assert_eq!(status, 201, "{installed}");
    let activated = Instant::now();
    let tenant = b.new_tenant("t").await;
    loop {
        let (_, plugins) = tenant.get("/v1/plugins").await;
        if plugin(&plugins, "twilio-sms")["version"] == "1.1.0" {
            break;
        }
        assert!(
            activated.elapsed() < Duration::from_secs(1),
            "instance B still runs the old version"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "activation reached the other instance after {:?}",
        activated.elapsed()
    );
}

/// Development mode: `--watch` reloads a plugin when its file changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reloads_a_changed_plugin_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twilio_sms.wasm");
    std::fs::copy(crate::harness::plugins_dir().join("twilio_sms.wasm"), &file).unwrap();
    let plugins_dir = dir.path().to_str().unwrap().to_owned();
    let herald = Herald::start(Backend::Sqlite, &["--plugins-dir", &plugins_dir, "--watch"]).await;
    let tenant = herald.new_tenant("dev").await;
    let (_, plugins) = tenant.get("/v1/plugins").await;
    assert_eq!(plugin(&plugins, "twilio-sms")["version"], "1.0.0");
    // Channel kinds as the API names them everywhere.
    assert_eq!(
        plugin(&plugins, "twilio-sms")["channels"],
        json!(["sms", "mms"])
    );

    // A rebuild lands: written aside, then renamed into place.
    let staged = dir.path().join("twilio_sms.wasm.new");
    std::fs::write(&staged, artifact("twilio_sms_v2.wasm")).unwrap();
    std::fs::rename(&staged, &file).unwrap();
    let changed = Instant::now();
    loop {
        let (_, plugins) = tenant.get("/v1/plugins").await;
        if plugin(&plugins, "twilio-sms")["version"] == "1.1.0" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "not reloaded: {plugins}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("reloaded {:?} after the file changed", changed.elapsed());
}

/// A channel can pin an installed version; unpinned channels follow the
/// active one; a PATCH switches pin or provider for the next send.
async fn channels_pin_versions_and_switch_providers(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let (_, v2) = herald
        .admin()
        .post_bytes("/v1/admin/plugins", artifact("twilio_sms_v2.wasm"))
        .await;
    let v2 = v2["sha256"].as_str().unwrap().to_owned();
    let api = herald.new_tenant("acme").await;
    let pinned = api.sim_channel(&sim, "twilio-sms").await;
    let following = api.sim_channel(&sim, "twilio-sms").await;
    let (status, c) = api
        .patch(
            &format!("/v1/channels/{pinned}"),
            json!({ "pinned_sha256": v2 }),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["pinned_sha256"], v2.as_str());

    let mut exchange = 900;
    let mut run = |channel: i64| {
        exchange += 10;
        let numbers = crate::harness::numbers_ending("8000", 3, exchange);
        let (api, sim) = (api.clone(), &sim);
        async move {
            let list = api.list_with(&numbers).await;
            let campaign = api.campaign(channel, list, "pin test").await;
            api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
                .await;
            api.wait_status(campaign, "completed", Duration::from_secs(30))
                .await;
            let messages = sim.messages();
            numbers
                .iter()
                .map(|n| {
                    messages
                        .iter()
                        .find(|m| &m.to == n)
                        .map(sent_by_or_gateway)
                        .unwrap()
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        run(pinned).await,
        ["1.1.0"; 3],
        "pinned channel sends with v2"
    );
    assert_eq!(
        run(following).await,
        ["1.0.0"; 3],
        "other channels follow the active v1"
    );

    let (status, c) = api
        .patch(
            &format!("/v1/channels/{pinned}"),
            json!({ "pinned_sha256": null }),
        )
        .await;
    assert_eq!((status, &c["pinned_sha256"]), (200, &Value::Null));
    tokio::time::sleep(Duration::from_millis(1100)).await; // channel cache TTL
    assert_eq!(
        run(pinned).await,
        ["1.0.0"; 3],
        "unpinned: the active version"
    );

    let (status, err) = api
        .patch(
            &format!("/v1/channels/{pinned}"),
            json!({ "pinned_sha256": "deadbeef" }),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("pinned_sha256")),
        "{err}"
    );

    // Switch the provider: Twilio -> the JSON gateway, no restart.
    let (status, c) = api
        .patch(
            &format!("/v1/channels/{pinned}"),
            json!({
                "plugin": "example-http-sms",
                "config": { "base-url": format!("{}/generic", sim.base_url()) },
                "secrets": { "api-token": sim.config().generic_api_token, "webhook-secret": sim.config().generic_webhook_secret },
            }),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        run(pinned).await,
        ["gateway"; 3],
        "sent through the new provider"
    );
}
both_backends!(channels_pin_versions_and_switch_providers);

/// Twilio sends name their plugin version; the JSON gateway's ids say "gen-".
fn sent_by_or_gateway(m: &herald_sim::ReceivedMessage) -> String {
    if m.sid.starts_with("gen-") {
        "gateway".into()
    } else {
        sent_by(m)
    }
}

/// Rollback walks back through the activations instead of toggling: after
/// 1.0.0 -> 1.1.0, a rollback returns to 1.0.0 and a second finds nothing
/// earlier (409); `?sha256=` returns to a named version.
async fn rollback_walks_back_not_forth(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let active = |list: &Value| {
        plugin(list, "twilio-sms")["active_sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_, list) = admin.get("/v1/admin/plugins").await;
    let v1 = active(&list);
    let (status, installed) = admin
        .post_bytes(
            "/v1/admin/plugins?activate=true",
            artifact("twilio_sms_v2.wasm"),
        )
        .await;
    assert_eq!(status, 201, "{installed}");
    let v2 = installed["sha256"].as_str().unwrap().to_owned();

    let rollback = "/v1/admin/plugins/twilio-sms/rollback";
    let (status, body) = admin.post_empty(rollback).await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = admin.get("/v1/admin/plugins").await;
    assert_eq!(active(&list), v1);
    let (status, body) = admin.post_empty(rollback).await;
    assert_eq!(status, 409, "nothing before 1.0.0: {body}");
    assert!(body.to_string().contains("no earlier version"), "{body}");
    let (_, list) = admin.get("/v1/admin/plugins").await;
    assert_eq!(active(&list), v1, "a refused rollback changes nothing");

    let (status, body) = admin.post_empty(&format!("{rollback}?sha256={v2}")).await;
    assert_eq!(
        (status, &body["active_sha256"]),
        (200, &json!(v2)),
        "{body}"
    );
    let (_, list) = admin.get("/v1/admin/plugins").await;
    assert_eq!(active(&list), v2);
    let (status, body) = admin
        .post_empty(&format!("{rollback}?sha256=deadbeef"))
        .await;
    assert_eq!(status, 422, "{body}");
}
both_backends!(rollback_walks_back_not_forth);

//! Canary versions, the admin's side (issue 17, section 4): promotion (by
//! an admin, or automatic) makes a canary the active version on every
//! instance; requests are checked; the console shows and promotes one.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald};
use crate::plugin_canary::{active_sha, install, numbers_ending_in, tenant_id, versions_used};
use crate::support::eventually;

/// Promotion makes the canary the active version (an activation: rollback
/// returns to the version before); `--auto-promote-after` promotes a
/// healthy canary by itself.
async fn promotion_makes_the_canary_active(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(
        backend,
        &["--auto-promote-after", "2s", "--canary-min-calls", "5"],
    )
    .await;
    let admin = herald.admin();
    let v1 = active_sha(&admin).await;
    let v2 = install(&admin, "twilio_sms_v2.wasm").await;
    let start = json!({ "sha256": v2, "percent": 50 });
    let (status, body) = admin
        .post("/v1/admin/plugins/twilio-sms/canary", start.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, report) = admin
        .post_empty("/v1/admin/plugins/twilio-sms/canary/promote")
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["active_sha256"], v2.as_str(), "{report}");
    assert_eq!(report["previous_sha256"], v1.as_str());
    assert_eq!(report["canary"]["state"], "promoted");
    assert_eq!(report["canary"]["reason"], "promoted by an admin");
    let (status, body) = admin
        .post_empty("/v1/admin/plugins/twilio-sms/canary/promote")
        .await;
    assert_eq!(status, 404, "nothing left to promote: {body}");

    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let used = versions_used(&api, &sim, channel, &numbers_ending_in("7101", 10, 220)).await;
    assert!(used.values().all(|v| v == "1.1.0"), "{used:?}");
    let (status, body) = admin
        .post_empty("/v1/admin/plugins/twilio-sms/rollback")
        .await;
    assert_eq!(
        (status, &body["active_sha256"]),
        (200, &json!(v1)),
        "{body}"
    );

    // Automatic: healthy for 2 s with at least 5 canary sends.
    let (status, body) = admin
        .post("/v1/admin/plugins/twilio-sms/canary", start)
        .await;
    assert_eq!(status, 200, "{body}");
    let used = versions_used(&api, &sim, channel, &numbers_ending_in("7102", 40, 220)).await;
    let on_canary = used.values().filter(|v| *v == "1.1.0").count();
    assert!(on_canary >= 5, "{on_canary} of 40 on the canary");
    eventually("auto-promoted", Duration::from_secs(20), || {
        let admin = admin.clone();
        let v2 = v2.clone();
        async move { admin.admin_plugin("twilio-sms").await["active_sha256"] == v2.as_str() }
    })
    .await;
    let plugin = admin.admin_plugin("twilio-sms").await;
    assert_eq!(plugin["canary"]["state"], "promoted", "{plugin}");
    let reason = plugin["canary"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("promoted automatically"), "{reason}");
}
both_backends!(promotion_makes_the_canary_active);

/// What a canary request must be: 404 for an unknown plugin or version,
/// 409 for the active version (or nothing to compare with), 422 naming the
/// field for its route; a new canary replaces the running one; DELETE ends
/// it.
async fn canary_requests_are_checked(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v1 = active_sha(&admin).await;
    let v2 = install(&admin, "twilio_sms_v2.wasm").await;
    let tenant = herald.new_tenant("t").await;
    let tenant_id = tenant_id(&tenant).await;
    let url = "/v1/admin/plugins/twilio-sms/canary";
    let cases = [
        (
            "/v1/admin/plugins/nope/canary",
            json!({"sha256": v2, "percent": 5}),
            404,
            None,
        ),
        (url, json!({"sha256": "deadbeef", "percent": 5}), 404, None),
        (url, json!({"sha256": v1, "percent": 5}), 409, None),
        (
            url,
            json!({"sha256": v2, "percent": 0}),
            422,
            Some("percent"),
        ),
        (
            url,
            json!({"sha256": v2, "percent": 100}),
            422,
            Some("percent"),
        ),
        (url, json!({"sha256": v2}), 422, Some("percent")),
        (
            url,
            json!({"sha256": v2, "percent": 5, "tenants": [tenant_id]}),
            422,
            Some("tenants"),
        ),
        (
            url,
            json!({"sha256": v2, "tenants": []}),
            422,
            Some("tenants"),
        ),
        (
            url,
            json!({"sha256": v2, "tenants": [tenant_id, 999_999]}),
            422,
            Some("tenants[1]"),
        ),
    ];
    for (path, body, status, field) in cases {
        let (got, answer) = admin.post(path, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
        }
    }
    let (status, _) = tenant.post(url, json!({"sha256": v2, "percent": 5})).await;
    assert_eq!(status, 401, "tenants cannot start canaries");
    let (status, body) = admin.delete(url).await;
    assert_eq!(status, 404, "no canary to end: {body}");

    let (status, first) = admin.post(url, json!({"sha256": v2, "percent": 5})).await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = admin.post(url, json!({"sha256": v2, "percent": 25})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["canary"]["percent"], 25, "{second}");
    assert_ne!(second["canary"]["id"], first["canary"]["id"]);
    let (status, body) = admin.delete(url).await;
    assert_eq!(status, 204, "{body}");
    let plugin = admin.admin_plugin("twilio-sms").await;
    assert_eq!(
        (&plugin["canary"]["state"], &plugin["canary"]["reason"]),
        (&json!("aborted"), &json!("ended by an admin")),
        "{plugin}"
    );

    // Activating another version ends a running canary (its comparison
    // is void), activating the canary's own promotes it; a disabled
    // plugin has nothing to compare a canary with.
    let bad = install(&admin, "twilio_sms_hostile.wasm").await;
    let (status, _) = admin.post(url, json!({"sha256": bad, "percent": 5})).await;
    assert_eq!(status, 200);
    let (status, body) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/activate",
            json!({"sha256": v2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["canary"]["state"], "aborted", "{body}");
    assert_eq!(
        body["canary"]["reason"],
        format!("the active version changed to {v2}"),
        "{body}"
    );
    let (status, body) = admin
        .post_empty("/v1/admin/plugins/twilio-sms/rollback")
        .await;
    assert_eq!(
        (status, &body["active_sha256"]),
        (200, &json!(v1)),
        "{body}"
    );
    let (status, _) = admin.post(url, json!({"sha256": v2, "percent": 5})).await;
    assert_eq!(status, 200);
    let (status, body) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/activate",
            json!({"sha256": v2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["canary"]["state"], "promoted", "{body}");
    let (status, body) = admin
        .post_empty("/v1/admin/plugins/twilio-sms/disable")
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin.post(url, json!({"sha256": v1, "percent": 5})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no active version")
    );
}
both_backends!(canary_requests_are_checked);

/// Two instances share PostgreSQL: a canary started on one routes the
/// other's sends too, and a promotion on the other reaches the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_reaches_every_instance() {
    if crate::harness::skip_postgres() {
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let a = Herald::start(Backend::Postgres, &[]).await;
    let b = a.second_instance(&[]).await;
    let v2 = install(&a.admin(), "twilio_sms_v2.wasm").await;
    let tenant = a.new_tenant("t").await;
    let (status, body) = a
        .admin()
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": v2, "tenants": [tenant_id(&tenant).await] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let on_b = b.admin();
    eventually("B sees the canary", Duration::from_secs(2), || {
        let on_b = on_b.clone();
        async move { on_b.admin_plugin("twilio-sms").await["canary"]["state"] == "running" }
    })
    .await;
    // Both instances claim the campaign's members: all go to the canary.
    let channel = tenant.sim_channel(&sim, "twilio-sms").await;
    let used = versions_used(&tenant, &sim, channel, &numbers_ending_in("7201", 40, 220)).await;
    assert!(used.values().all(|v| v == "1.1.0"), "{used:?}");

    let (status, body) = on_b
        .post_empty("/v1/admin/plugins/twilio-sms/canary/promote")
        .await;
    assert_eq!(status, 200, "{body}");
    let promoted = Instant::now();
    let on_a = a.api(&tenant.key);
    loop {
        let (_, plugins) = on_a.get("/v1/plugins").await;
        let twilio = plugins["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "twilio-sms")
            .cloned()
            .unwrap();
        if twilio["version"] == "1.1.0" {
            break;
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(2),
            "instance A still runs the old version"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The console's plugins page shows a running canary (its version, what it
/// takes, both versions' figures) with its version marked, promotes it, and
/// then tells how it ended.
async fn the_console_shows_and_promotes_a_canary(backend: Backend) {
    use crate::console_client::{Session, csrf, location};
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let v2 = install(&admin, "twilio_sms_v2.wasm").await;
    let (status, body) = admin
        .post(
            "/v1/admin/plugins/twilio-sms/canary",
            json!({ "sha256": v2, "percent": 20 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let console = Session::signed_in(&herald, crate::harness::ADMIN_KEY).await;
    let page = console.page("/plugins").await;
    assert!(page.contains("data-canary-state=\"running\""), "{page}");
    assert!(page.contains("Canary 1.1.0"), "{page}");
    assert!(page.contains("takes 20% of members"), "{page}");
    assert!(page.contains("canary 0 calls"), "{page}");
    let token = csrf(&page);
    let r = console
        .post("/plugins/twilio-sms/canary/promote", &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(active_sha(&admin).await, v2);
    let page = console.page(location(&r)).await;
    assert!(page.contains("canary promoted"), "{page}");
    assert!(page.contains("Last canary 1.1.0: promoted"), "{page}");
    assert!(page.contains("promoted by an admin"), "{page}");
    // Nothing left to end: the reason, not a server error.
    let r = console
        .post("/plugins/twilio-sms/canary/end", &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("no canary of this plugin is running")
    );
}
both_backends!(the_console_shows_and_promotes_a_canary);

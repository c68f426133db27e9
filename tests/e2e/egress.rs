//! The egress policy: a tenant cannot make the server call loopback,
//! private ranges or the metadata address, through a plugin's base URL or
//! allowed hosts, at creation or at send time; the operator's
//! `--allow-egress` lets the loopback simulator through. Only the admin
//! widens a channel's allowed hosts beyond its plugin's manifest.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

async fn non_public_destinations_are_refused(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // A channel saved while loopback was allowed (the tests' usual
    // allowance) ...
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let saved = api.sim_channel(&sim, "twilio-sms").await;
    // ... then a restart with an allowance that is not loopback, which
    // replaces it.
    let _herald = herald
        .crash_and_restart(&["--allow-egress", "192.0.2.1"])
        .await;
    let channel = |base: &str, hosts: serde_json::Value| {
        json!({
            "name": "probe", "plugin": "twilio-sms", "sender": "+15005550006",
            "config": { "account-sid": sim.config().twilio_account_sid, "base-url": base },
            "secrets": { "auth-token": sim.config().twilio_auth_token },
            "allowed_hosts": hosts,
        })
    };
    let port = sim.base_url().rsplit(':').next().unwrap().to_owned();
    for host in [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
    ] {
        let base = format!("http://{host}:{port}");
        let (status, body) = api
            .post("/v1/channels", channel(&base, json!(["api.twilio.com"])))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("config.base-url")),
            "{host}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("refused by egress policy"),
            "{body}"
        );
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let (status, body) = api
            .post(
                "/v1/channels",
                channel("https://api.twilio.com", json!([bare])),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("allowed_hosts[0]")),
            "{host}: {body}"
        );
    }

    // At send time too: the channel saved before sends nothing to loopback.
    let id = saved;
    let list = api.list_with(&numbers_ending("4545", 1, 700)).await;
    let campaign = api.campaign(id, list, "probe").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    // The channel cannot reach its provider: the campaign pauses with the
    // reason, the member waits unsent.
    let paused = api
        .wait_status(campaign, "paused", Duration::from_secs(30))
        .await;
    assert_eq!(paused["status_cause"], "channel_unusable", "{paused}");
    assert!(
        paused["status_reason"]
            .as_str()
            .unwrap()
            .contains("refused by egress policy"),
        "{paused}"
    );
    let m = &api.all_members(campaign).await[0];
    assert_eq!(m["status"], "queued", "{m}");
    assert_eq!(
        sim.stats().requests,
        0,
        "nothing reached the loopback simulator"
    );
}
both_backends!(non_public_destinations_are_refused);

/// A tenant may not widen a channel's allowed hosts beyond what its
/// plugin's manifest and the operator allow (403 naming the entry); the
/// admin may, and the tenant's later edits keep what the admin granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_admin_widens_a_channels_allowed_hosts() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    // The operator allows loopback (the tests' allowance): the simulator
    // channel is the tenant's to set up.
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // A public address no manifest names (nothing is sent to it).
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({ "allowed_hosts": ["127.0.0.1", "8.8.8.8"] }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (403, Some("allowed_hosts[1]")),
        "{body}"
    );
    // The manifest's own host and narrowing stay the tenant's.
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({ "allowed_hosts": ["api.twilio.com", "127.0.0.1"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let admin = herald.admin();
    let path = format!("/v1/admin/channels/{channel}/allowed-hosts");
    let (status, body) = api
        .put(&path, json!({ "allowed_hosts": ["127.0.0.1", "8.8.8.8"] }))
        .await;
    assert_eq!(status, 401, "a tenant key is not the admin's: {body}");
    let (status, body) = admin
        .put(&path, json!({ "allowed_hosts": ["127.0.0.1", "8.8.8.8"] }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed_hosts"], json!(["127.0.0.1", "8.8.8.8"]));
    // The tenant reads the grant in its audit log.
    let (_, log) = api.get("/v1/audit-log").await;
    assert_eq!(log["items"][0]["actor"], "admin", "{log}");
    assert_eq!(
        log["items"][0]["action"], "PUT /v1/admin/channels/{id}/allowed-hosts",
        "{log}"
    );
    // The egress policy binds the admin too.
    let (status, body) = admin
        .put(&path, json!({ "allowed_hosts": ["169.254.169.254"] }))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("allowed_hosts[0]")),
        "{body}"
    );
    // The tenant's other edits keep the admin's grant; adding more is
    // still refused.
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({ "name": "renamed" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed_hosts"], json!(["127.0.0.1", "8.8.8.8"]));
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({ "allowed_hosts": ["127.0.0.1", "8.8.8.8", "8.8.4.4"] }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (403, Some("allowed_hosts[2]")),
        "{body}"
    );
    let (status, _) = admin
        .put(
            "/v1/admin/channels/999999/allowed-hosts",
            json!({ "allowed_hosts": null }),
        )
        .await;
    assert_eq!(status, 404);
}

//! The egress policy: a tenant cannot make the server call loopback,
//! private ranges or the metadata address, through a plugin's base URL or
//! allowed hosts, at creation or at send time; the operator's
//! `--allow-egress` lets the loopback simulator through.

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

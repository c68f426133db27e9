//! Per-tenant plugin allowlists (issue 17, section 4): the admin decides
//! which plugins a tenant may attach to channels. Without one, every
//! plugin (tenants from before keep working); with one, the tenant's
//! plugin listing shows only those, a channel on another plugin is refused
//! naming `plugin`, and a campaign no longer starts on a channel whose
//! plugin was taken off the list.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};

fn names(plugins: &Value) -> Vec<&str> {
    plugins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

async fn allowlist_url(api: &Api) -> String {
    let (_, me) = api.get("/v1/tenant").await;
    format!("/v1/admin/tenants/{}/plugins", me["id"])
}

async fn allowlists_limit_a_tenants_plugins(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let admin = herald.admin();
    let api = herald.new_tenant("acme").await;
    let neighbour = herald.new_tenant("neighbour").await;
    let url = allowlist_url(&api).await;

    // The default: every plugin.
    let (status, body) = admin.get(&url).await;
    assert_eq!((status, &body["allowed"]), (200, &Value::Null), "{body}");
    let (_, all) = api.get("/v1/plugins").await;
    assert!(names(&all).contains(&"twilio-sms"), "{all}");
    let twilio = api.sim_channel(&sim, "twilio-sms").await;
    let list = api
        .list_with(&crate::harness::numbers_ending("7301", 3, 220))
        .await;
    let draft = api.campaign(twilio, list, "Hello").await;

    // Only installed plugins can be listed.
    let (status, body) = admin
        .put(
            &url,
            json!({ "allowed": ["infobip-sms", "no-such-plugin"] }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "allowed[1]", "{body}");
    let (status, body) = admin
        .put(
            &url,
            json!({ "allowed": ["infobip-sms", "example-http-sms"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], json!(["example-http-sms", "infobip-sms"]));
    let (status, _) = api.put(&url, json!({ "allowed": null })).await;
    assert_eq!(status, 401, "the tenant cannot lift its own list");

    let (_, listed) = api.get("/v1/plugins").await;
    assert_eq!(
        names(&listed),
        ["example-http-sms", "infobip-sms"],
        "{listed}"
    );
    let (_, theirs) = neighbour.get("/v1/plugins").await;
    assert_eq!(
        names(&theirs),
        names(&all),
        "another tenant keeps every plugin"
    );
    // The console's plugin picker offers the same, and no form for others.
    let console = crate::console_client::Session::signed_in(&herald, &api.key).await;
    let picker = console.page("/channels/new").await;
    assert!(
        picker.contains("aria-label=\"Use infobip-sms\""),
        "{picker}"
    );
    assert!(!picker.contains("Use twilio-sms"), "{picker}");
    let form = console.page("/channels/new?plugin=twilio-sms").await;
    assert!(
        form.contains("Pick the provider plugin"),
        "the picker again: {form}"
    );

    // A channel on another plugin: 403 naming `plugin`, by creation or switch.
    let (status, body) = api
        .post(
            "/v1/channels",
            json!({
                "name": "sms", "plugin": "twilio-sms", "sender": "+15005550006",
                "config": { "account-sid": sim.config().twilio_account_sid, "base-url": sim.base_url() },
                "secrets": { "auth-token": sim.config().twilio_auth_token },
                "allowed_hosts": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["field"], "plugin", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("example-http-sms, infobip-sms"),
        "{body}"
    );
    let gateway = crate::support::channel(
        &api,
        "example-http-sms",
        "+15005550006",
        json!({ "base-url": format!("{}/generic", sim.base_url()) }),
        json!({ "api-token": sim.config().generic_api_token,
                "webhook-secret": sim.config().generic_webhook_secret }),
    )
    .await;
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{gateway}"),
            json!({ "plugin": "twilio-sms" }),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (403, &json!("plugin")),
        "{body}"
    );
    // The channel made before keeps its other settings editable.
    let (status, body) = api
        .patch(
            &format!("/v1/channels/{twilio}"),
            json!({ "name": "old sms" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // No campaign starts on it any more, and the refusal says why.
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{draft}/start"))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "channel_id", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("plugin twilio-sms is not among the plugins this tenant may use"),
        "{message}"
    );

    // Lifted (an absent list is every plugin): the draft starts and sends.
    let (status, body) = admin.put(&url, json!({})).await;
    assert_eq!((status, &body["allowed"]), (200, &Value::Null), "{body}");
    api.start_to_completion(draft, Duration::from_secs(30))
        .await;
    assert_eq!(sim.stats().accepted, 3);

    let (status, _) = admin.get("/v1/admin/tenants/999999/plugins").await;
    assert_eq!(status, 404);
    // The tenant reads the admin's decisions in its audit log.
    let (_, log) = api.get("/v1/audit-log").await;
    let changes = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("/plugins"))
        .count();
    assert!(changes >= 2, "{log}");
}
both_backends!(allowlists_limit_a_tenants_plugins);

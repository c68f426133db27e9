//! Anyone can post to `/webhooks/{channel}`: what a stranger's requests may
//! cost. Faults of the plugin there never quarantine it (which would stop
//! every tenant's campaigns); a body larger than the provider's format
//! needs never reaches it; a source whose webhooks keep being refused is
//! barred, while a provider's valid callbacks are never counted.

use std::time::Duration;

use futures::StreamExt;
use herald_sim::{SimConfig, Simulator};
use serde_json::Value;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

/// What `test-hostile`'s `handle-webhook` panics on (before it verifies).
const TRAPPING_BODY: &str = "MessageSid=SM1&MessageStatus=panic";

/// The active version of `plugin` as `GET /v1/admin/plugins` reports it.
async fn active_version(herald: &Herald, plugin: &str) -> (Value, Value) {
    let report = herald.admin().admin_plugin(plugin).await;
    let version = report["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["sha256"] == report["active_sha256"])
        .cloned()
        .unwrap_or_else(|| panic!("no active version: {report}"));
    (report, version)
}

/// Posts `body` to a channel's webhook; answers the status.
async fn post_webhook(http: &reqwest::Client, herald: &Herald, channel: i64, body: &str) -> u16 {
    http.post(format!("{}/webhooks/{channel}", herald.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("webhook request")
        .status()
        .as_u16()
}

/// 1,000 forged webhooks that trap the plugin, posted while two campaigns
/// send through it (one on the forged channel, one on another): neither
/// campaign stops, the plugin is never quarantined, and a fault of a real
/// send afterwards is judged on the sends alone.
async fn forged_faulting_webhooks_stop_no_campaign(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    // Quarantine after 5 faults in a minute: before, the first 5 forged
    // requests quarantined the plugin and stopped both campaigns. The
    // per-source bar is off so that every forged request reaches the
    // plugin (it has its own test below).
    let herald = Herald::start(
        backend,
        &[
            "--quarantine-after",
            "5",
            "--webhook-refusals-per-second",
            "0",
        ],
    )
    .await;
    let api = herald.new_tenant("acme").await;
    let forged = api.sim_channel(&sim, "test-hostile").await;
    let other = api.sim_channel(&sim, "test-hostile").await;
    // Slow senders, so both campaigns send while the forged requests land.
    api.set_rate(forged, 10).await;
    api.set_rate(other, 10).await;
    let on_forged = api
        .campaign(
            forged,
            api.list_with(&numbers_ending("3131", 40, 600)).await,
            "same channel",
        )
        .await;
    // One member whose send traps: a real fault, judged with the sends.
    let trap = numbers_ending("0666", 1, 650).remove(0);
    let mut numbers = numbers_ending("3232", 40, 660);
    numbers.push(trap.clone());
    let on_other = api
        .campaign(other, api.list_with(&numbers).await, "other channel")
        .await;
    api.post_empty(&format!("/v1/campaigns/{on_forged}/start"))
        .await;
    api.post_empty(&format!("/v1/campaigns/{on_other}/start"))
        .await;

    let http = reqwest::Client::new();
    let statuses: Vec<u16> = futures::stream::iter(0..1000)
        .map(|_| post_webhook(&http, &herald, forged, TRAPPING_BODY))
        .buffer_unordered(4)
        .collect()
        .await;
    // Each answer came after the fault was counted: the engine had its
    // chance to quarantine on every one of them.
    assert!(
        statuses.iter().all(|s| *s == 500),
        "every forged request reached the plugin and trapped: {:?}",
        statuses.iter().filter(|s| **s != 500).collect::<Vec<_>>()
    );
    let (report, version) = active_version(&herald, "test-hostile").await;
    assert!(report["quarantine_reason"].is_null(), "{report}");
    assert_eq!(version["webhook_stats"]["faults"], 1000, "{version}");

    for campaign in [on_forged, on_other] {
        let done = api
            .wait_status(campaign, "completed", Duration::from_secs(60))
            .await;
        assert!(done["status_cause"].is_null(), "{done}");
    }
    for m in api.all_members(on_forged).await {
        assert!(
            m["status"] == "sent" || m["status"] == "delivered",
            "a member of the forged channel's campaign: {m}"
        );
    }
    for m in api.all_members(on_other).await {
        if m["address"] == trap.as_str() {
            assert_eq!(m["status"], "failed", "{m}");
            assert!(
                m["error_message"].as_str().unwrap().contains("trapped"),
                "{m}"
            );
        } else {
            assert!(m["status"] == "sent" || m["status"] == "delivered", "{m}");
        }
    }
    assert_eq!(sim.stats().duplicates, 0);

    // Still active after the trapping send's faults: they are judged
    // against its ~40 sends, not against the 1,000 forged webhooks.
    let (report, version) = active_version(&herald, "test-hostile").await;
    assert!(report["quarantine_reason"].is_null(), "{report}");
    assert_eq!(
        version["stats"]["faults"], 3,
        "the trap's 3 attempts: {version}"
    );
    // The channel is strained and says so, in bounded labels.
    let (status, metrics) = herald.admin().get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("herald_webhook_faults_total{plugin=\"test-hostile\"} 1000"),
        "{metrics}"
    );
    assert!(
        metrics.contains("herald_webhook_strains_total{plugin=\"test-hostile\"} 1"),
        "{metrics}"
    );
}
both_backends!(forged_faulting_webhooks_stop_no_campaign);

/// A body larger than the channel's plugin takes is refused with 413 and
/// never reaches it, whether its length is declared or it streams in; a
/// plugin serving WhatsApp takes Meta's larger batches.
async fn an_oversized_webhook_body_never_reaches_the_plugin(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let hostile = api.sim_channel(&sim, "test-hostile").await;
    let url = format!("{}/webhooks/{hostile}", herald.base);
    // Had it reached the plugin, it would have trapped (500).
    let oversized = format!("{TRAPPING_BODY}&pad={}", "x".repeat(64 << 10));

    let declared = herald
        .http
        .post(&url)
        .body(oversized.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);
    let body: Value = declared.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large", "{body}");
    assert_eq!(body["error"]["field"], "body", "{body}");

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = oversized
        .as_bytes()
        .chunks(8 << 10)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let streamed = herald
        .http
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413, "a chunked body without a length");

    let (_, version) = active_version(&herald, "test-hostile").await;
    assert_eq!(version["webhook_stats"]["calls"], 0, "{version}");
    // At the limit, it does reach the plugin.
    let at_limit = format!("{TRAPPING_BODY}&pad=");
    let at_limit = format!("{at_limit}{}", "x".repeat((64 << 10) - at_limit.len()));
    assert_eq!(
        post_webhook(&herald.http, &herald, hostile, &at_limit).await,
        500
    );
    let (_, version) = active_version(&herald, "test-hostile").await;
    assert_eq!(version["webhook_stats"]["calls"], 1, "{version}");

    // Meta batches up to 1,000 updates in one WhatsApp notification: a
    // 1 MiB body reaches the plugin (which refuses it unsigned).
    let whatsapp = crate::support::whatsapp_channel(&api, &sim, &herald).await;
    let batch = format!(
        r#"{{"object":"whatsapp_business_account","pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    assert_eq!(
        post_webhook(&herald.http, &herald, whatsapp, &batch).await,
        401
    );
}
both_backends!(an_oversized_webhook_body_never_reaches_the_plugin);

/// A provider's valid callbacks, however many, are never counted; a source
/// whose webhooks keep being refused is barred with 429 and `Retry-After`
/// (other sources are not) and heard again once it has waited.
async fn a_source_of_refused_webhooks_is_barred(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(
        backend,
        &[
            "--webhook-refusal-burst",
            "20",
            "--webhook-refusals-per-second",
            "1",
        ],
    )
    .await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // 300 sends, so at least 600 valid callbacks (sent, delivered) from
    // the simulator's loopback address: 30 times the burst.
    let campaign = api
        .campaign(
            channel,
            api.list_with(&numbers_ending("4545", 300, 200)).await,
            "hello",
        )
        .await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;
    crate::support::eventually(
        "every member is delivered",
        Duration::from_secs(30),
        || async {
            api.all_members(campaign)
                .await
                .iter()
                .all(|m| m["status"] == "delivered")
        },
    )
    .await;
    assert_eq!(sim.stats().callbacks_failed, 0, "{:?}", sim.stats());

    // Unsigned callbacks from one address: refused, then barred.
    let forged = "MessageSid=SM1&MessageStatus=failed";
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(post_webhook(&herald.http, &herald, channel, forged).await);
    }
    let refused = statuses.iter().take_while(|s| **s == 401).count();
    assert!(
        (20..=22).contains(&refused),
        "a burst of 20 refusals, then barred: {statuses:?}"
    );
    assert!(
        statuses[refused..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    let barred = herald
        .http
        .post(format!("{}/webhooks/{channel}", herald.base))
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(barred.status(), 429);
    let wait: u64 = barred.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: Value = barred.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let (_, version) = active_version(&herald, "twilio-sms").await;
    let calls = version["webhook_stats"]["calls"].as_u64().unwrap();
    let refused_calls = calls - sim.stats().callbacks_sent;
    assert!(
        refused_calls <= 22,
        "barred requests never reached the plugin: {refused_calls} refused calls"
    );

    // Another address (127.0.0.2 is loopback too) is heard meanwhile.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    assert_eq!(
        post_webhook(&elsewhere, &herald, channel, forged).await,
        401
    );
    // And the barred one, once it waited.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        post_webhook(&herald.http, &herald, channel, forged).await,
        401
    );
}
both_backends!(a_source_of_refused_webhooks_is_barred);

//! A tenant, its channel on the simulator and a draft campaign to an
//! imported list: what every run of the benchmark starts from.

use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::{Value, json};

use crate::herald::Herald;
use crate::{ADMIN_KEY, DEADLINE, RATE_PER_SECOND};

/// A tenant with a channel on `plugin` pointing at the simulator: (its
/// API key, the channel's id).
pub async fn tenant_with_channel(
    herald: &Herald,
    sim: &Simulator,
    name: &str,
    plugin: &str,
) -> (String, Value) {
    let (status, tenant) = herald
        .call(
            ADMIN_KEY,
            reqwest::Method::POST,
            "/v1/tenants",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(status, 201, "{tenant}");
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let channel = channel(herald, sim, &key, plugin, RATE_PER_SECOND).await;
    (key, channel)
}

/// A channel of the tenant `key` on `plugin` pointing at the simulator,
/// sending at most `rate_per_second`: its id.
pub async fn channel(
    herald: &Herald,
    sim: &Simulator,
    key: &str,
    plugin: &str,
    rate_per_second: u32,
) -> Value {
    let (status, channel) = herald
        .call(
            key,
            reqwest::Method::POST,
            "/v1/channels",
            Some(json!({
                "name": format!("{plugin} via simulator at {rate_per_second}/s"),
                "plugin": plugin,
                "sender": "+15005550006",
                "config": { "account-sid": sim.config().twilio_account_sid, "base-url": sim.base_url() },
                "secrets": { "auth-token": sim.config().twilio_auth_token },
                "allowed_hosts": ["127.0.0.1"],
                "rate_per_second": rate_per_second,
            })),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    channel["id"].clone()
}

/// A draft campaign to `numbers` (imported as a list) on `channel`, with
/// `extra` campaign fields (follow-ups, say), and how long the import took.
pub async fn draft(
    herald: &Herald,
    key: &str,
    channel: &Value,
    numbers: impl Iterator<Item = String>,
    extra: Value,
) -> (i64, Duration) {
    let (status, list) = herald
        .call(
            key,
            reqwest::Method::POST,
            "/v1/lists",
            Some(json!({"name": "audience"})),
        )
        .await;
    assert_eq!(status, 201, "{list}");
    let list = list["id"].as_i64().unwrap();
    let mut csv = String::from("phone,first_name\n");
    for (i, number) in numbers.enumerate() {
        csv.push_str(&format!("{number},C{i}\n"));
    }
    let enrol_started = Instant::now();
    let response = herald
        .http
        .post(format!("{}/v1/lists/{list}/imports", herald.base))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let job: Value = response.json().await.unwrap();
    let job = job["id"].as_i64().unwrap();
    loop {
        let j = herald.get(key, &format!("/v1/imports/{job}")).await;
        match j["status"].as_str() {
            Some("completed") => break,
            Some("failed" | "cancelled") => panic!("import failed: {j}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        assert!(enrol_started.elapsed() < DEADLINE, "import too slow");
    }
    let imported = enrol_started.elapsed();
    let mut campaign = json!({
        "name": "bench", "channel_id": channel, "list_id": list,
        "body": "Hi {{first_name}}, your order shipped.",
    });
    if let (Some(campaign), Value::Object(extra)) = (campaign.as_object_mut(), extra) {
        campaign.extend(extra);
    }
    let (status, c) = herald
        .call(key, reqwest::Method::POST, "/v1/campaigns", Some(campaign))
        .await;
    assert_eq!(status, 201, "{c}");
    (c["id"].as_i64().unwrap(), imported)
}

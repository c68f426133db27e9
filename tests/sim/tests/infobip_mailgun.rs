//! Drives the Infobip SMS and Mailgun endpoints over HTTP the way their
//! plugins do: auth refusals, failure patterns, JSON delivery reports, the
//! lookups, and Mailgun's webhook signatures checked here.

mod support;

use herald_sim::Simulator;
use serde_json::{Value, json};
use support::{client, hmac_sha256_hex, ok_receiver, start, wait_for};

async fn infobip_send(sim: &Simulator, key: &str, to: &str, notify: &str) -> (u16, Value) {
    let body = json!({"messages": [{
        "destinations": [{"to": to, "messageId": format!("key-{to}")}],
        "from": "Herald", "text": "Hello",
        "notifyUrl": notify, "notifyContentType": "application/json", "callbackData": "cb-data",
    }]});
    let response = client()
        .post(format!("{}/sms/2/text/advanced", sim.base_url()))
        .header("Authorization", format!("App {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn infobip_send_report_and_logs() {
    let sim = start().await;
    let key = sim.config().infobip_api_key.clone();
    let (base, inbox) = ok_receiver().await;
    let notify = format!("{base}/dlr?herald_token=t0k");
    let (status, body) = infobip_send(&sim, &key, "41793026727", &notify).await;
    assert_eq!(status, 200, "{body}");
    let sent = &body["messages"][0];
    assert_eq!(sent["messageId"], "key-41793026727");
    assert_eq!(sent["status"]["groupName"], "PENDING");
    assert!(body["bulkId"].as_str().is_some());

    let (_, undelivered) = infobip_send(&sim, &key, "41793020002", &notify).await;
    assert_eq!(undelivered["messages"][0]["status"]["groupName"], "PENDING");
    let reports = wait_for(&inbox, 2).await;
    assert!(
        reports.iter().all(|r| r.url.ends_with("herald_token=t0k")),
        "notifyUrl kept as given"
    );
    let results: Vec<Value> = reports
        .iter()
        .map(|r| r.json()["results"][0].clone())
        .collect();
    let delivered = results
        .iter()
        .find(|r| r["messageId"] == "key-41793026727")
        .unwrap();
    assert_eq!(delivered["status"]["groupName"], "DELIVERED");
    assert_eq!(delivered["callbackData"], "cb-data");
    assert!(delivered["doneAt"].as_str().unwrap().ends_with("+0000"));
    let failed = results
        .iter()
        .find(|r| r["messageId"] == "key-41793020002")
        .unwrap();
    assert_eq!(failed["status"]["groupName"], "UNDELIVERABLE");
    assert_eq!(failed["error"]["id"], 27);

    let logs: Value = support::json_answer(
        client()
            .get(format!(
                "{}/sms/1/logs?messageId=key-41793026727",
                sim.base_url()
            ))
            .header("Authorization", format!("App {key}")),
    )
    .await;
    assert_eq!(logs["results"][0]["status"]["groupName"], "DELIVERED");

    let recorded = sim.messages_for("infobip");
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].to, "+41793026727");
    assert_eq!(
        recorded[0].client_reference.as_deref(),
        Some("key-41793026727")
    );
    assert_eq!(recorded[0].extra, ["cb-data"]);
    assert_eq!(
        recorded[0].status_callback.as_deref(),
        Some(notify.as_str())
    );
}

#[tokio::test]
async fn infobip_refusals() {
    let sim = start().await;
    let key = sim.config().infobip_api_key.clone();
    let (status, body) = infobip_send(&sim, "wrong", "41793026727", "http://127.0.0.1:1/x").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["requestError"]["serviceException"]["messageId"],
        "UNAUTHORIZED"
    );
    let (status, body) = infobip_send(&sim, &key, "41790000001", "http://127.0.0.1:1/x").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["messages"][0]["status"]["name"],
        "REJECTED_DESTINATION"
    );
    let (status, body) = infobip_send(&sim, &key, "41790000429", "http://127.0.0.1:1/x").await;
    assert_eq!(status, 429);
    assert_eq!(
        body["requestError"]["serviceException"]["messageId"],
        "TOO_MANY_REQUESTS"
    );
    assert_eq!(
        infobip_send(&sim, &key, "41790000429", "http://127.0.0.1:1/x")
            .await
            .0,
        200
    );
    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.rate_limited, stats.auth_failures),
        (1, 1, 1)
    );
    assert_eq!(stats.rejected, 2, "the 401 and the refused destination");
}

#[tokio::test]
async fn infobip_inbound_report() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    assert!(
        sim.infobip_inbound(
            &format!("{base}/mo"),
            "+41793026727",
            "+41793026700",
            "STOP now"
        )
        .await
    );
    let result = wait_for(&inbox, 1).await[0].json()["results"][0].clone();
    assert_eq!(
        (result["from"].as_str(), result["to"].as_str()),
        (Some("41793026727"), Some("41793026700"))
    );
    assert_eq!(
        (result["text"].as_str(), result["keyword"].as_str()),
        (Some("STOP now"), Some("STOP"))
    );
}

async fn mailgun_send(sim: &Simulator, key: &str, domain: &str, to: &str) -> (u16, String) {
    let response = client()
        .post(format!("{}/v3/{domain}/messages", sim.base_url()))
        .basic_auth("api", Some(key))
        .form(&[
            ("from", "Shop <news@mg.example.test>"),
            ("to", to),
            ("subject", "Spring sale"),
            ("text", "Hi"),
            ("html", "<p>Hi</p>"),
            ("h:X-Herald-Key", "m1/s1/0"),
            ("v:herald-key", "m1/s1/0"),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Checks a Mailgun webhook's signature and returns its event-data.
fn verified_event(sim: &Simulator, hook: &support::Captured) -> Value {
    let body = hook.json();
    let signature = &body["signature"];
    let data = format!(
        "{}{}",
        signature["timestamp"].as_str().unwrap(),
        signature["token"].as_str().unwrap()
    );
    let expected = hmac_sha256_hex(&sim.config().mailgun_webhook_signing_key, data.as_bytes());
    assert_eq!(signature["signature"], expected.as_str());
    body["event-data"].clone()
}

#[tokio::test]
async fn mailgun_send_webhooks_and_events() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    sim.set_webhook_url("mailgun", &format!("{base}/mg"));
    let config = sim.config().clone();
    let (status, body) = mailgun_send(
        &sim,
        &config.mailgun_api_key,
        &config.mailgun_domain,
        "ana@example.org",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["message"], "Queued. Thank you.");
    let id = answer["id"].as_str().unwrap();
    assert!(id.starts_with('<') && id.ends_with(&format!("@{}>", config.mailgun_domain)));
    mailgun_send(
        &sim,
        &config.mailgun_api_key,
        &config.mailgun_domain,
        "bounce@example.org",
    )
    .await;
    mailgun_send(
        &sim,
        &config.mailgun_api_key,
        &config.mailgun_domain,
        "defer@example.org",
    )
    .await;

    let events: Vec<Value> = wait_for(&inbox, 4)
        .await
        .iter()
        .map(|h| verified_event(&sim, h))
        .collect();
    let of = |to: &str| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e["recipient"] == to)
            .map(|e| {
                (
                    e["event"].as_str().unwrap().to_owned(),
                    e["severity"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        of("ana@example.org"),
        [("delivered".to_owned(), String::new())]
    );
    assert_eq!(
        of("bounce@example.org"),
        [("failed".to_owned(), "permanent".to_owned())]
    );
    assert_eq!(
        of("defer@example.org"),
        [
            ("failed".to_owned(), "temporary".to_owned()),
            ("delivered".to_owned(), String::new())
        ]
    );
    let bounce = events
        .iter()
        .find(|e| e["recipient"] == "bounce@example.org")
        .unwrap();
    assert_eq!(bounce["delivery-status"]["code"], 550);
    assert_eq!(bounce["user-variables"]["herald-key"], "m1/s1/0");
    assert_eq!(
        events[0]["message"]["headers"]["message-id"],
        id.trim_matches(['<', '>'])
    );

    let recorded = sim.messages_for("mailgun");
    assert_eq!(recorded[0].subject.as_deref(), Some("Spring sale"));
    assert_eq!(recorded[0].html.as_deref(), Some("<p>Hi</p>"));
    assert_eq!(recorded[0].client_reference.as_deref(), Some("m1/s1/0"));
    assert_eq!(recorded[0].extra, ["X-Herald-Key: m1/s1/0"]);

    let lookup: Value = support::json_answer(
        client()
            .get(format!(
                "{}/v3/{}/events?message-id={}",
                sim.base_url(),
                config.mailgun_domain,
                recorded[0].sid
            ))
            .basic_auth("api", Some(&config.mailgun_api_key)),
    )
    .await;
    let kinds: Vec<&str> = lookup["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delivered", "accepted"], "newest first");
}

#[tokio::test]
async fn mailgun_refusals() {
    let sim = start().await;
    let config = sim.config().clone();
    let (key, domain) = (
        config.mailgun_api_key.as_str(),
        config.mailgun_domain.as_str(),
    );
    assert_eq!(
        mailgun_send(&sim, "wrong", domain, "a@b.test").await,
        (401, "Forbidden".to_owned())
    );
    assert_eq!(
        mailgun_send(&sim, key, "other.test", "a@b.test").await.0,
        404
    );
    let (status, body) = mailgun_send(&sim, key, domain, "not-an-address").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("'to' parameter is not a valid address"),
        "{body}"
    );
    assert_eq!(
        mailgun_send(&sim, key, domain, "ratelimit@b.test").await.0,
        429
    );
    assert_eq!(
        mailgun_send(&sim, key, domain, "ratelimit@b.test").await.0,
        200
    );
    assert_eq!(
        mailgun_send(&sim, key, domain, "servererror@b.test")
            .await
            .0,
        500
    );
    let stats = sim.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.rate_limited,
            stats.server_errors,
            stats.auth_failures
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(stats.accepted_by_provider["mailgun"], 1);
}

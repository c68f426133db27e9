//! The example plugin's JSON gateway: sends with a `reference` (the
//! plugin's idempotency key), the lookup `GET /generic/messages?reference=`,
//! and the uncertain-send faults `0504` to `0507`.

mod support;

use std::time::{Duration, Instant};

use herald_sim::{Simulator, generic_signature};
use serde_json::{Value, json};
use support::{Inbox, client, ok_receiver, start, start_with};

/// A send exactly as `plugins/example-http-sms` builds it.
fn send_request(
    sim: &Simulator,
    http: &reqwest::Client,
    to: &str,
    reference: &str,
    callback: Option<&str>,
) -> reqwest::RequestBuilder {
    http.post(format!("{}/generic/messages", sim.base_url()))
        .bearer_auth(&sim.config().generic_api_token)
        .json(&json!({
            "to": to, "from": "Herald", "text": "hello",
            "reference": reference, "callback_url": callback,
        }))
}

async fn lookup(sim: &Simulator, reference: &str) -> Value {
    let response = client()
        .get(format!("{}/generic/messages", sim.base_url()))
        .bearer_auth(&sim.config().generic_api_token)
        .query(&[("reference", reference)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls the lookup until its only message has `status` (at most 5 s).
async fn wait_status(sim: &Simulator, reference: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = lookup(sim, reference).await;
        let done = found["messages"][0]["status"] == status;
        if done || Instant::now() > deadline {
            assert_eq!(found["messages"].as_array().unwrap().len(), 1, "{found}");
            return found["messages"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn receipts(inbox: &Inbox) -> Vec<Value> {
    inbox.lock().unwrap().iter().map(|r| r.json()).collect()
}

#[tokio::test]
async fn lookup_by_reference() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/receipts");
    let http = client();
    let response = send_request(&sim, &http, "+15551234567", "key-1", Some(&callback))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sim.messages()[0].client_reference.as_deref(), Some("key-1"));

    let found = wait_status(&sim, "key-1", "delivered").await;
    assert_eq!(
        found,
        json!({"id": id, "to": "+15551234567", "status": "delivered", "reference": "key-1", "error": null})
    );
    let receipt = &support::wait_for(&inbox, 1).await[0];
    assert_eq!(
        receipt.header("x-signature").unwrap(),
        generic_signature(&sim.config().generic_webhook_secret, &receipt.body)
    );
    assert_eq!(receipt.json()["id"], id.as_str());

    // Undeliverable: `failed` with the receipt's error, no callback needed.
    send_request(&sim, &http, "+15550000002", "key-2", None)
        .send()
        .await
        .unwrap();
    let failed = wait_status(&sim, "key-2", "failed").await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "undeliverable");

    // Two sends with one reference: both, oldest first.
    send_request(&sim, &http, "+15557654321", "key-1", None)
        .send()
        .await
        .unwrap();
    let both = lookup(&sim, "key-1").await;
    let ids: Vec<&str> = both["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], id);
    assert_eq!(both["messages"][1]["status"], "accepted");

    assert_eq!(lookup(&sim, "nope").await, json!({ "messages": [] }));
    let url = format!("{}/generic/messages?reference=key-1", sim.base_url());
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(sim.stats().auth_failures, 2);
    let missing = http
        .get(format!("{}/generic/messages", sim.base_url()))
        .bearer_auth(&sim.config().generic_api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn slow_answer_0504_times_out_while_the_message_is_sent() {
    let sim = start().await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let error = send_request(&sim, &impatient, "+15550000504", "slow-1", None)
        .send()
        .await
        .expect_err("the answer takes 10 s");
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        sim.wait_for(Duration::from_secs(5), |s| s.accepted == 1)
            .await
    );
    assert_eq!(
        wait_status(&sim, "slow-1", "delivered").await["status"],
        "delivered"
    );

    let patient = start_with(Duration::from_millis(200)).await;
    let started = Instant::now();
    let response = send_request(&patient, &client(), "+15550000504", "slow-2", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn reset_0505_gives_no_answer_but_the_message_is_there() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/receipts");
    for reference in ["reset-1", "reset-2"] {
        let error = send_request(&sim, &client(), "+15550000505", reference, Some(&callback))
            .send()
            .await
            .expect_err("the connection is closed");
        assert!(error.status().is_none() && !error.is_timeout(), "{error:?}");
        assert_eq!(
            wait_status(&sim, reference, "delivered").await["status"],
            "delivered"
        );
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.requests, stats.accepted, stats.server_errors),
        (2, 2, 0)
    );
    assert_eq!(support::wait_for(&inbox, 2).await.len(), 2);
}

#[tokio::test]
async fn server_error_0506_is_500_after_accepting() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/receipts");
    let response = send_request(&sim, &client(), "+15550000506", "err-1", Some(&callback))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "server_error");
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.server_errors), (1, 1));
    let found = wait_status(&sim, "err-1", "delivered").await;
    assert_eq!(found["status"], "delivered");
    let posted = support::wait_for(&inbox, 1).await;
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].json()["id"], found["id"]);
}

#[tokio::test]
async fn callbacks_dropped_0507_sends_no_receipt() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/receipts");
    let http = client();
    // The receiver works.
    send_request(&sim, &http, "+15551234567", "ok-1", Some(&callback))
        .send()
        .await
        .unwrap();
    assert_eq!(support::wait_for(&inbox, 1).await.len(), 1);

    let response = send_request(&sim, &http, "+15550000507", "quiet-1", Some(&callback))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        wait_status(&sim, "quiet-1", "delivered").await["status"],
        "delivered"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receipts(&inbox).len(), 1);
    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.callbacks_sent, stats.callbacks_failed),
        (2, 1, 0)
    );
}

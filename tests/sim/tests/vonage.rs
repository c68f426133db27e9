//! Drives the Vonage SMS API endpoint over HTTP the way its plugin does:
//! answers and refusals (inside a 200, as Vonage gives them), failure
//! patterns, and delivery receipts in each of Vonage's three webhook
//! methods, their signatures checked here.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_sim::{SimConfig, Simulator, VonageDlrMethod};
use serde_json::Value;
use support::{client, hmac_sha256_hex, ok_receiver, wait_for};

async fn start(method: VonageDlrMethod) -> Simulator {
    Simulator::start(SimConfig {
        callback_delay: Duration::from_millis(5),
        vonage_dlr_method: method,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A send as the plugin makes it: a form with the credentials.
async fn send(sim: &Simulator, secret: &str, to: &str, callback: &str) -> (u16, Value) {
    let form = [
        ("api_key", sim.config().vonage_api_key.as_str()),
        ("api_secret", secret),
        ("from", "15005550006"),
        ("to", to),
        ("text", "Olá"),
        ("type", "unicode"),
        ("client-ref", "7-1-1"),
        ("callback", callback),
    ];
    let response = client()
        .post(format!("{}/sms/json", sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn status_of(answer: &Value) -> &str {
    answer["messages"][0]["status"].as_str().unwrap()
}

#[tokio::test]
async fn sends_are_answered_in_vonage_shape_refusals_included() {
    let sim = start(VonageDlrMethod::default()).await;
    let secret = sim.config().vonage_api_secret.clone();
    let (status, ok) = send(&sim, &secret, "14155557000", "").await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["message-count"], "1");
    let message = &ok["messages"][0];
    assert_eq!(
        (message["status"].as_str(), message["to"].as_str()),
        (Some("0"), Some("14155557000"))
    );
    let id = message["message-id"].as_str().unwrap();
    assert!(
        id.len() == 16
            && id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );

    // Refusals are a 200 with the code and Vonage's words.
    let (status, bad) = send(&sim, "wrong", "14155557000", "").await;
    assert_eq!((status, status_of(&bad)), (200, "4"), "{bad}");
    assert_eq!(bad["messages"][0]["error-text"], "Bad Credentials");
    let (_, plus) = send(&sim, &secret, "+14155557000", "").await;
    assert_eq!(status_of(&plus), "3", "numbers go without +");
    let (_, invalid) = send(&sim, &secret, "14155550001", "").await;
    assert_eq!(invalid["messages"][0]["error-text"], "Invalid to param");
    let (_, throttled) = send(&sim, &secret, "14155550429", "").await;
    assert_eq!(status_of(&throttled), "1");
    let (_, internal) = send(&sim, &secret, "14155550500", "").await;
    assert_eq!(status_of(&internal), "5");
    for to in ["14155550429", "14155550500"] {
        assert_eq!(
            status_of(&send(&sim, &secret, to, "").await.1),
            "0",
            "only the first"
        );
    }
    // Taken, then answered 500: counted in both.
    let (status, _) = send(&sim, &secret, "14155550506", "").await;
    assert_eq!(status, 500);

    let stats = sim.stats();
    assert_eq!(stats.accepted, 4, "{stats:?}");
    assert_eq!(
        (stats.rate_limited, stats.server_errors),
        (1, 2),
        "{stats:?}"
    );
    assert_eq!((stats.auth_failures, stats.rejected), (1, 3), "{stats:?}");
    let recorded = &sim.messages_for("vonage")[0];
    assert_eq!(recorded.to, "+14155557000");
    assert_eq!(recorded.body, "Olá");
    assert_eq!(recorded.client_reference.as_deref(), Some("7-1-1"));
    assert_eq!(recorded.extra, ["type=unicode"]);
}

/// A webhook's parameters however they came, and whether their `sig` is
/// Vonage's HMAC-SHA256 of them, computed here.
fn verified(params: &BTreeMap<String, String>, secret: &str) -> bool {
    let data: String = params
        .iter()
        .filter(|(k, _)| *k != "sig")
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect();
    params.get("sig").map(String::as_str)
        == Some(
            hmac_sha256_hex(secret, data.as_bytes())
                .to_uppercase()
                .as_str(),
        )
}

#[tokio::test]
async fn receipts_are_signed_in_each_webhook_method() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for method in [
        VonageDlrMethod::Get,
        VonageDlrMethod::PostForm,
        VonageDlrMethod::PostJson,
    ] {
        let sim = start(method).await;
        let (secret, key) = (
            sim.config().vonage_api_secret.clone(),
            sim.config().vonage_api_key.clone(),
        );
        let (base, inbox) = ok_receiver().await;
        let callback = format!("{base}/webhooks/3");
        send(&sim, &secret, "14155557000", &callback).await;
        send(&sim, &secret, "14155550002", &callback).await;
        let got = wait_for(&inbox, 4).await;
        assert_eq!(got.len(), 4, "{method:?}: accepted and final, for each");
        let receipts: Vec<BTreeMap<String, String>> = got
            .iter()
            .map(|r| match method {
                VonageDlrMethod::Get => {
                    let query = r.url.split_once('?').unwrap().1;
                    serde_urlencoded::from_str(query).unwrap()
                }
                VonageDlrMethod::PostForm => r.form().into_iter().collect(),
                VonageDlrMethod::PostJson => serde_json::from_slice(&r.body).unwrap(),
            })
            .collect();
        let signing = sim.config().vonage_signature_secret.clone();
        for receipt in &receipts {
            assert!(verified(receipt, &signing), "{method:?}: {receipt:?}");
            assert!(!verified(receipt, "another-secret"));
            assert_eq!(receipt["api-key"], key);
            assert_eq!(receipt["client-ref"], "7-1-1");
            assert_eq!(receipt["to"], "15005550006");
            assert_eq!(receipt["scts"].len(), 10);
            assert_eq!(receipt["nonce"].len(), 36);
            let at: u64 = receipt["timestamp"].parse().unwrap();
            assert!(at.abs_diff(now) < 60, "{receipt:?}");
        }
        let finals: BTreeMap<&str, (&str, &str)> = receipts
            .iter()
            .filter(|r| r["status"] != "accepted")
            .map(|r| {
                (
                    r["msisdn"].as_str(),
                    (r["status"].as_str(), r["err-code"].as_str()),
                )
            })
            .collect();
        assert_eq!(finals["14155557000"], ("delivered", "0"), "{method:?}");
        assert_eq!(finals["14155550002"], ("failed", "2"), "{method:?}");
        let ids: Vec<String> = sim
            .messages_for("vonage")
            .iter()
            .map(|m| m.sid.clone())
            .collect();
        assert!(receipts.iter().all(|r| ids.contains(&r["messageId"])));
    }
}

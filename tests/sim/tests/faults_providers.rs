//! The uncertain-send faults on WhatsApp (`0504`-`0507`), Infobip
//! (`0504`-`0507`) and Mailgun (`slow...`, `reset...`, `error500...`,
//! `nowebhook...`): every one a real send, with its answer or its
//! webhooks gone wrong.

mod support;

use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::{Value, json};
use support::{Inbox, client, ok_receiver, start_with};

const PNID: &str = "109876543210";
const SLOW: Duration = Duration::from_millis(200);

/// One send request per provider, to `to` (a number, or a Mailgun address).
fn request(sim: &Simulator, provider: &str, to: &str, notify: &str) -> reqwest::RequestBuilder {
    let config = sim.config();
    let base = sim.base_url();
    match provider {
        "whatsapp" => client()
            .post(format!("{base}/v21.0/{PNID}/messages"))
            .bearer_auth(&config.whatsapp_access_token)
            .json(&json!({
                "messaging_product": "whatsapp", "to": to, "type": "text",
                "text": { "body": "hi" },
            })),
        "infobip" => client()
            .post(format!("{base}/sms/2/text/advanced"))
            .header("Authorization", format!("App {}", config.infobip_api_key))
            .json(&json!({"messages": [{
                "destinations": [{"to": to, "messageId": format!("key-{to}")}],
                "from": "Herald", "text": "Hello", "notifyUrl": notify,
            }]})),
        _ => client()
            .post(format!("{base}/v3/{}/messages", config.mailgun_domain))
            .basic_auth("api", Some(&config.mailgun_api_key))
            .form(&[
                ("from", "news@mg.example.test"),
                ("to", to),
                ("subject", "Hi"),
                ("text", "Hi"),
            ]),
    }
}

/// A simulator whose webhooks for all three providers go to one receiver.
async fn setup() -> (Simulator, String, Inbox) {
    let sim = start_with(SLOW).await;
    let (base, inbox) = ok_receiver().await;
    sim.set_webhook_url("whatsapp", &format!("{base}/wa"));
    sim.set_webhook_url("mailgun", &format!("{base}/mg"));
    (sim, format!("{base}/dlr"), inbox)
}

/// The provider's view of the message's latest status, where it has a
/// lookup (Infobip logs, Mailgun events); `None` for WhatsApp.
async fn latest_status(sim: &Simulator, provider: &str) -> Option<String> {
    let message = sim.messages_for(provider).pop()?;
    let (url, pointer) = match provider {
        "infobip" => (
            format!("{}/sms/1/logs?messageId={}", sim.base_url(), message.sid),
            "/results/0/status/groupName",
        ),
        "mailgun" => (
            format!(
                "{}/v3/{}/events?message-id={}",
                sim.base_url(),
                sim.config().mailgun_domain,
                message.sid
            ),
            "/items/0/event",
        ),
        _ => return None,
    };
    let config = sim.config();
    let request = match provider {
        "infobip" => client()
            .get(url)
            .header("Authorization", format!("App {}", config.infobip_api_key)),
        _ => client()
            .get(url)
            .basic_auth("api", Some(&config.mailgun_api_key)),
    };
    let body = support::json_answer(request).await;
    body.pointer(pointer)?.as_str().map(str::to_owned)
}

/// Waits (at most 5 s) until the lookup says delivered; true at once for
/// a provider without a lookup.
async fn delivered(sim: &Simulator, provider: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match latest_status(sim, provider).await.as_deref() {
            None if provider == "whatsapp" => return true,
            Some("DELIVERED" | "delivered") => return true,
            _ if Instant::now() > deadline => return false,
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// The faulty address of `provider` for a number's last four digits.
fn address(provider: &str, last4: &str) -> String {
    match (provider, last4) {
        ("mailgun", "0504") => "slow@example.org".into(),
        ("mailgun", "0505") => "reset@example.org".into(),
        ("mailgun", "0506") => "error500@example.org".into(),
        ("mailgun", "0507") => "nowebhook@example.org".into(),
        ("mailgun", _) => "ana@example.org".into(),
        ("infobip", _) => format!("4179302{last4}"),
        _ => format!("1555000{last4}"),
    }
}

const PROVIDERS: [&str; 3] = ["whatsapp", "infobip", "mailgun"];

#[tokio::test]
async fn slow_answer_is_the_normal_answer_late() {
    for provider in PROVIDERS {
        let (sim, notify, _) = setup().await;
        let started = Instant::now();
        let response = request(&sim, provider, &address(provider, "0504"), &notify)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{provider}");
        assert!(started.elapsed() >= SLOW, "{provider}");
        assert_eq!(sim.stats().accepted, 1, "{provider}");
        assert!(delivered(&sim, provider).await, "{provider}");
    }
}

#[tokio::test]
async fn reset_closes_the_connection_after_accepting() {
    for provider in PROVIDERS {
        let (sim, notify, _) = setup().await;
        let error = request(&sim, provider, &address(provider, "0505"), &notify)
            .send()
            .await
            .expect_err(provider);
        assert!(error.status().is_none() && !error.is_timeout(), "{error:?}");
        let stats = sim.stats();
        assert_eq!((stats.requests, stats.accepted), (1, 1), "{provider}");
        assert!(delivered(&sim, provider).await, "{provider}");
    }
}

#[tokio::test]
async fn server_error_after_accepting() {
    for provider in PROVIDERS {
        let (sim, notify, inbox) = setup().await;
        let response = request(&sim, provider, &address(provider, "0506"), &notify)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500, "{provider}");
        let body: Value = response.json().await.unwrap();
        match provider {
            "whatsapp" => assert_eq!(body["error"]["code"], 2),
            "infobip" => assert_eq!(
                body["requestError"]["serviceException"]["messageId"],
                "GENERAL_ERROR"
            ),
            _ => assert_eq!(body["message"], "Internal Server Error"),
        }
        let stats = sim.stats();
        assert_eq!((stats.accepted, stats.server_errors), (1, 1), "{provider}");
        assert!(delivered(&sim, provider).await, "{provider}");
        // Its webhooks still come (WhatsApp: sent, delivered, read).
        let expected = if provider == "whatsapp" { 3 } else { 1 };
        let got = support::wait_for(&inbox, expected).await.len();
        assert_eq!(got, expected, "{provider}");
    }
}

#[tokio::test]
async fn callbacks_dropped_sends_no_webhook() {
    for provider in PROVIDERS {
        let (sim, notify, inbox) = setup().await;
        // The receiver works for a normal recipient.
        let normal = request(&sim, provider, &address(provider, "4567"), &notify)
            .send()
            .await
            .unwrap();
        assert_eq!(normal.status(), 200, "{provider}");
        let expected = if provider == "whatsapp" { 3 } else { 1 };
        assert_eq!(
            support::wait_for(&inbox, expected).await.len(),
            expected,
            "{provider}"
        );

        let quiet = request(&sim, provider, &address(provider, "0507"), &notify)
            .send()
            .await
            .unwrap();
        assert_eq!(quiet.status(), 200, "{provider}");
        assert!(delivered(&sim, provider).await, "{provider}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(inbox.lock().unwrap().len(), expected, "{provider}");
        let stats = sim.stats();
        assert_eq!(stats.accepted, 2, "{provider}");
        assert_eq!(
            (stats.callbacks_sent, stats.callbacks_failed),
            (expected as u64, 0),
            "{provider}"
        );
    }
}

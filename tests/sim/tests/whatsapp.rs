//! Drives the WhatsApp Cloud API endpoints over HTTP, the way the
//! whatsapp-cloud plugin does, and checks the signed webhooks.

mod support;

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use support::{client, hmac_sha256_hex, ok_receiver, wait_for};

const PNID: &str = "109876543210";

async fn start(webhook: Option<String>) -> Simulator {
    Simulator::start(SimConfig {
        callback_delay: Duration::from_millis(5),
        whatsapp_webhook_url: webhook,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn template(to: &str, name: &str, params: &[&str]) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": { "code": "en_US" },
            "components": [{
                "type": "body",
                "parameters": params.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>(),
            }],
        },
        "biz_opaque_callback_data": "member-1/step-1/0",
    })
}

async fn send_with(sim: &Simulator, token: &str, body: &Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}/v21.0/{PNID}/messages", sim.base_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn send(sim: &Simulator, body: &Value) -> (u16, Value) {
    let token = sim.config().whatsapp_access_token.clone();
    send_with(sim, &token, body).await
}

/// Checks `X-Hub-Signature-256` and returns the single status entry.
fn status_of(sim: &Simulator, hook: &support::Captured) -> Value {
    let expected = hmac_sha256_hex(&sim.config().whatsapp_app_secret, &hook.body);
    assert_eq!(
        hook.header("x-hub-signature-256"),
        Some(format!("sha256={expected}").as_str())
    );
    let body = hook.json();
    assert_eq!(body["object"], "whatsapp_business_account");
    let value = &body["entry"][0]["changes"][0]["value"];
    assert_eq!(value["metadata"]["phone_number_id"], PNID);
    value["statuses"][0].clone()
}

#[tokio::test]
async fn template_send_is_recorded_and_reported_sent_delivered_read() {
    let (base, inbox) = ok_receiver().await;
    let sim = start(Some(format!("{base}/wa"))).await;
    let (status, body) = send(
        &sim,
        &template("15551234567", "order_update", &["Ana", "#42"]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["messages"][0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wamid."));
    assert_eq!(body["contacts"][0]["wa_id"], "15551234567");

    let hooks = wait_for(&inbox, 3).await;
    let statuses: Vec<Value> = hooks.iter().map(|h| status_of(&sim, h)).collect();
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    for s in &statuses {
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["recipient_id"], "15551234567");
        assert_eq!(s["biz_opaque_callback_data"], "member-1/step-1/0");
        assert!(s["timestamp"].as_str().unwrap().parse::<u64>().is_ok());
    }

    let sent = sim.messages_for("whatsapp");
    assert_eq!(sent.len(), 1);
    let template = sent[0].template.as_ref().unwrap();
    assert_eq!(template.name, "order_update");
    assert_eq!(template.language, "en_US");
    assert_eq!(template.body_parameters, ["Ana", "#42"]);
    assert_eq!(sent[0].to, "+15551234567");
    assert_eq!(
        sent[0].client_reference.as_deref(),
        Some("member-1/step-1/0")
    );
    assert_eq!(sim.sends_to("+15551234567"), 1);
    assert_eq!(sim.stats().accepted_by_provider["whatsapp"], 1);
    assert!(
        sim.wait_for(Duration::from_secs(2), |s| s.callbacks_sent == 3)
            .await
    );
}

#[tokio::test]
async fn unregistered_number_is_accepted_then_fails_with_131026() {
    let (base, inbox) = ok_receiver().await;
    let sim = start(None).await;
    // Per-number URL, set after start.
    sim.set_webhook_url(&format!("whatsapp:{PNID}"), &format!("{base}/wa"));
    let (status, _) = send(&sim, &template("+15550000001", "order_update", &["a", "b"])).await;
    assert_eq!(status, 200);
    let hooks = wait_for(&inbox, 1).await;
    let failed = status_of(&sim, &hooks[0]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["errors"][0]["code"], 131026);
    // 0003: re-engagement window closed.
    send(&sim, &template("+15550000003", "order_update", &["a", "b"])).await;
    let hooks = wait_for(&inbox, 2).await;
    assert_eq!(status_of(&sim, &hooks[1])["errors"][0]["code"], 131047);
}

#[tokio::test]
async fn refusals_use_graph_error_codes() {
    let sim = start(None).await;
    let (status, body) = send_with(
        &sim,
        "wrong",
        &template("15551234567", "order_update", &["a", "b"]),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(190)));
    assert_eq!(body["error"]["type"], "OAuthException");

    let (status, body) = send(
        &sim,
        &template("15551234567", "order_update", &["only one"]),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_i64()),
        (400, Some(132000))
    );
    let (status, body) = send(
        &sim,
        &template("15551234567", "new_feature", &["a", "b", "c"]),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_i64()),
        (404, Some(132001)),
        "pending template"
    );
    // spring_sale has an image header: a send without it is refused.
    let (_, body) = send(&sim, &template("15551234567", "spring_sale", &["a"])).await;
    assert_eq!(body["error"]["code"], 132012);

    let (status, body) = send(&sim, &template("15550000429", "order_update", &["a", "b"])).await;
    assert_eq!(
        (status, body["error"]["code"].as_i64()),
        (429, Some(130429))
    );
    let (status, _) = send(&sim, &template("15550000429", "order_update", &["a", "b"])).await;
    assert_eq!(status, 200, "rate limited once only");
    let (status, _) = send(&sim, &template("15550000500", "order_update", &["a", "b"])).await;
    assert_eq!(status, 500);

    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.rate_limited, stats.server_errors),
        (1, 1, 1)
    );
    assert_eq!(stats.auth_failures, 1);
}

#[tokio::test]
async fn media_header_is_recorded() {
    let sim = start(None).await;
    let mut body = template("15551234567", "spring_sale", &["Ana"]);
    body["template"]["components"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.test/sale.jpg"}}]}));
    let (status, answer) = send(&sim, &body).await;
    assert_eq!(status, 200, "{answer}");
    let sent = &sim.messages_for("whatsapp")[0];
    assert_eq!(
        sent.template.as_ref().unwrap().header_media,
        Some(("image".to_owned(), "https://cdn.test/sale.jpg".to_owned()))
    );
}

#[tokio::test]
async fn templates_are_listed_in_pages() {
    let sim = start(None).await;
    let config = sim.config().clone();
    let mut url = format!(
        "{}/v21.0/{}/message_templates?fields=name,language,category,status,components&limit=3",
        sim.base_url(),
        config.whatsapp_waba_id
    );
    let mut all = Vec::new();
    for _ in 0..5 {
        let page: Value = support::json_answer(
            client()
                .get(&url)
                .bearer_auth(&config.whatsapp_access_token),
        )
        .await;
        all.extend(page["data"].as_array().unwrap().clone());
        match page["paging"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(all.len(), config.whatsapp_templates.len());
    let order = all.iter().find(|t| t["name"] == "order_update").unwrap();
    assert_eq!(order["status"], "APPROVED");
    assert_eq!(
        order["components"][0]["text"],
        "Hi {{1}}, your order {{2}} has shipped."
    );
    assert!(all.iter().any(|t| t["status"] == "PENDING"));
    assert!(all.iter().any(|t| t["status"] == "REJECTED"));

    let refused = client().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn inbound_messages_are_signed_notifications() {
    let (base, inbox) = ok_receiver().await;
    let sim = start(Some(format!("{base}/wa"))).await;
    assert!(sim.whatsapp_inbound(PNID, "+15551234567", "STOP").await);
    let hook = &wait_for(&inbox, 1).await[0];
    let expected = hmac_sha256_hex(&sim.config().whatsapp_app_secret, &hook.body);
    assert_eq!(
        hook.header("x-hub-signature-256").unwrap(),
        format!("sha256={expected}")
    );
    let message = &hook.json()["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(
        (message["from"].as_str(), message["text"]["body"].as_str()),
        (Some("15551234567"), Some("STOP"))
    );
}

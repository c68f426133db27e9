//! whatsapp-cloud run natively with the SDK's test kit against a recorded
//! Graph API exchange and an `X-Hub-Signature-256`-signed notification.

use herald_plugin::testkit::{self, Webhook, fixture};
use herald_plugin::types::*;
use whatsapp_cloud::WhatsAppCloud;
use whatsapp_cloud::exports::herald::provider::provider::Guest;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn config() -> Config {
    testkit::config(&[
        ("phone-number-id", "PNID"),
        ("waba-id", "WABA"),
        ("base-url", "http://127.0.0.1:9000"),
    ])
}

#[test]
fn a_template_send_is_the_recorded_graph_request() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-accepted.json"));
    let message = OutboundMessage {
        idempotency_key: "c1-m2-s0-a1".into(),
        to: "+15551234567".into(),
        sender: "PNID".into(),
        content: Content::WhatsappTemplate(TemplateMessage {
            name: "order_update".into(),
            language: "en_US".into(),
            body_parameters: vec!["Ada".into()],
            header_media: None,
            header_parameters: Vec::new(),
        }),
        status_callback_url: "https://herald.example/webhooks/4".into(),
    };
    let receipt = WhatsAppCloud::send(config(), message).unwrap();
    assert_eq!(receipt.provider_message_id, "wamid.HBgL");
    let sent = &testkit::sent()[0];
    exchange.assert_sent(sent);
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["template"]["name"], "order_update");
    assert_eq!(body["to"], "15551234567", "Graph takes numbers without +");
}

#[test]
fn notifications_are_verified() {
    testkit::reset();
    let notification: Webhook = fixture(format!("{FIXTURES}/status-notification.json"));
    let outcome = WhatsAppCloud::handle_webhook(config(), notification.valid()).unwrap();
    let update = testkit::only_delivery(&outcome);
    assert_eq!(update.provider_message_id, "wamid.A");
    assert!(matches!(update.status, DeliveryStatus::Delivered));
    let handle = |request| WhatsAppCloud::handle_webhook(config(), request);
    testkit::assert_refused(
        handle,
        [notification.tampered(), notification.wrong_secret()],
        "X-Hub-Signature-256 does not match",
    );
}

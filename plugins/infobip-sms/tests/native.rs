//! infobip-sms run natively with the SDK's test kit against a recorded
//! Infobip exchange and delivery report. Infobip does not sign webhooks:
//! the channel's token in the report URL authenticates them.

use herald_plugin::testkit::{self, Webhook, fixture};
use herald_plugin::types::*;
use infobip_sms::InfobipSms;
use infobip_sms::exports::herald::provider::provider::Guest;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn config() -> Config {
    testkit::config(&[("base-url", "http://127.0.0.1:9000")])
}

#[test]
fn a_send_is_the_recorded_json_request_with_the_app_key() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-accepted.json"));
    let message = OutboundMessage {
        idempotency_key: "c1-m2-s0-a1".into(),
        to: "+15551234567".into(),
        sender: "+15005550006".into(),
        content: Content::Text(TextMessage {
            body: "Hello Ada".into(),
            media: Vec::new(),
        }),
        status_callback_url: "https://herald.example/webhooks/5".into(),
    };
    let receipt = InfobipSms::send(config(), message).unwrap();
    assert_eq!(receipt.provider_message_id, "c1-m2-s0-a1");
    exchange.assert_sent(&testkit::sent()[0]);
}

#[test]
fn delivery_reports_need_the_channels_token() {
    testkit::reset();
    let report: Webhook = fixture(format!("{FIXTURES}/delivery-report.json"));
    let outcome = InfobipSms::handle_webhook(config(), report.valid()).unwrap();
    let update = testkit::only_delivery(&outcome);
    assert_eq!(update.provider_message_id, "c1-m2-s0-a1");
    assert!(matches!(update.status, DeliveryStatus::Delivered));

    let mut tampered = report.valid();
    tampered.url = tampered.url.replace("5f2b9c0e", "5f2b9c0f");
    let handle = |request| InfobipSms::handle_webhook(config(), request);
    testkit::assert_refused(
        handle,
        [tampered, report.wrong_secret()],
        "webhook token does not match",
    );
}

//! The example plugin run natively with the SDK's test kit against
//! recorded exchanges with the generic gateway (`tests/sim`'s wire format).

use example_http_sms::Plugin;
use example_http_sms::exports::herald::provider::provider::Guest;
use herald_plugin::testkit::{self, Webhook, fixture};
use herald_plugin::types::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn config() -> Config {
    testkit::config(&[("base-url", "http://127.0.0.1:9000/generic/")])
}

fn message(to: &str) -> OutboundMessage {
    OutboundMessage {
        idempotency_key: "c1-m2-s0-a1".into(),
        to: to.into(),
        sender: "+15005550006".into(),
        content: Content::Text(TextMessage {
            body: "Hello Ada".into(),
            media: Vec::new(),
        }),
        status_callback_url: "https://herald.example/webhooks/7".into(),
    }
}

#[test]
fn a_send_is_the_recorded_json_request_and_its_answer_a_receipt() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-accepted.json"));
    let receipt = Plugin::send(config(), message("+15551234567")).unwrap();
    assert_eq!(receipt.provider_message_id, "gen-1f3a");
    exchange.assert_sent(&testkit::sent()[0]);
}

#[test]
fn an_invalid_number_is_refused_for_good() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-invalid-number.json"));
    let error = Plugin::send(config(), message("+15550000001")).unwrap_err();
    assert!(
        matches!(&error, SendError::InvalidRecipient(r) if r.code == "invalid_number"),
        "{error:?}"
    );
    exchange.assert_sent(&testkit::sent()[0]);
}

#[test]
fn an_unreadable_acceptance_is_uncertain() {
    testkit::reset();
    testkit::answer(testkit::response(200, &[], b"OK"));
    let error = Plugin::send(config(), message("+15551234567")).unwrap_err();
    assert!(matches!(error, SendError::Transient(_)), "{error:?}");
    assert_eq!(testkit::uncertain().len(), 1, "Herald must not resend it");
}

#[test]
fn receipts_are_verified() {
    testkit::reset();
    let receipt: Webhook = fixture(format!("{FIXTURES}/receipt.json"));
    let outcome = Plugin::handle_webhook(config(), receipt.valid()).unwrap();
    let update = testkit::only_delivery(&outcome);
    assert_eq!(update.provider_message_id, "gen-1f3a");
    assert!(matches!(update.status, DeliveryStatus::Delivered));
    assert_eq!(outcome.response.status, 204);
    let handle = |request| Plugin::handle_webhook(config(), request);
    testkit::assert_refused(
        handle,
        [receipt.tampered(), receipt.wrong_secret()],
        "X-Signature does not match",
    );
}

//! mailgun-email run natively with the SDK's test kit against a recorded
//! Mailgun exchange and signed event webhook (HMAC of timestamp + token).

use herald_plugin::testkit::{self, Webhook, fixture};
use herald_plugin::types::*;
use mailgun_email::MailgunEmail;
use mailgun_email::exports::herald::provider::provider::Guest;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// The fixture's signature timestamp, plus a minute.
const RECEIVED_MS: u64 = 1_700_000_060_000;

fn config() -> Config {
    testkit::config(&[
        ("domain", "mg.example.com"),
        ("base-url", "http://127.0.0.1:9000"),
    ])
}

#[test]
fn a_send_is_the_recorded_form_request_with_basic_auth() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-queued.json"));
    let message = OutboundMessage {
        idempotency_key: "c1-m2-s0-a1".into(),
        to: "ada@example.com".into(),
        sender: "news@mg.example.com".into(),
        content: Content::Email(EmailMessage {
            subject: "Hello".into(),
            text_body: "Hello Ada".into(),
            html_body: None,
        }),
        status_callback_url: "https://herald.example/webhooks/9".into(),
    };
    let receipt = MailgunEmail::send(config(), message).unwrap();
    assert_eq!(receipt.provider_message_id, "20231114.1@mg.example.com");
    let sent = &testkit::sent()[0];
    exchange.assert_sent(sent);
    let form = herald_plugin::webhook::form(&sent.body);
    let field = |name| herald_plugin::webhook::param(&form, name);
    assert_eq!(field("to"), Some("ada@example.com"));
    assert_eq!(field("subject"), Some("Hello"));
    assert_eq!(field("v:herald-key"), Some("c1-m2-s0-a1"));
}

#[test]
fn event_webhooks_are_verified() {
    testkit::reset();
    testkit::clock(RECEIVED_MS);
    let event: Webhook = fixture(format!("{FIXTURES}/delivered-event.json"));
    let outcome = MailgunEmail::handle_webhook(config(), event.valid()).unwrap();
    let update = testkit::only_delivery(&outcome);
    assert_eq!(update.provider_message_id, "20231114.1@mg.example.com");
    assert!(matches!(update.status, DeliveryStatus::Delivered));

    // Mailgun signs the timestamp and token: a forger who changes either
    // cannot sign again.
    let mut tampered = event.valid();
    let body = String::from_utf8(tampered.body).unwrap();
    tampered.body = body.replace("4f9e1c7d2b", "4f9e1c7d2c").into_bytes();
    let handle = |request| MailgunEmail::handle_webhook(config(), request);
    testkit::assert_refused(
        handle,
        [tampered, event.wrong_secret()],
        "Mailgun webhook signature does not match",
    );
}

#[test]
fn a_replayed_event_is_refused() {
    testkit::reset();
    testkit::clock(RECEIVED_MS + 24 * 3600 * 1000);
    let event: Webhook = fixture(format!("{FIXTURES}/delivered-event.json"));
    let refused = MailgunEmail::handle_webhook(config(), event.valid()).unwrap_err();
    assert!(matches!(refused, WebhookError::Unauthorized(m) if m.contains("too old")));
}

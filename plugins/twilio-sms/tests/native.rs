//! twilio-sms run natively with the SDK's test kit against recorded
//! exchanges with Twilio's Messages API and signed status callbacks.

use herald_plugin::testkit::{self, Webhook, fixture};
use herald_plugin::types::*;
use twilio_sms::TwilioSms;
use twilio_sms::exports::herald::provider::provider::Guest;
use twilio_sms::exports::herald::provider::sends::Guest as Sends;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn config() -> Config {
    testkit::config(&[
        ("account-sid", "AC00000000000000000000000000000001"),
        ("base-url", "http://127.0.0.1:9000"),
    ])
}

fn message() -> OutboundMessage {
    OutboundMessage {
        idempotency_key: "c1-m2-s0-a1".into(),
        to: "+15551234567".into(),
        sender: "+15005550006".into(),
        content: Content::Text(TextMessage {
            body: "Hello Ada".into(),
            media: vec![Media {
                url: "https://cdn.example/a.png".into(),
                content_type: "image/png".into(),
            }],
        }),
        status_callback_url: "https://herald.example/webhooks/3".into(),
    }
}

#[test]
fn a_send_is_the_recorded_form_request_with_basic_auth() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-queued.json"));
    let receipt = TwilioSms::send(config(), message()).unwrap();
    assert_eq!(
        receipt.provider_message_id,
        "SM0123456789abcdef0123456789abcdef"
    );
    assert!(matches!(receipt.status, DeliveryStatus::Accepted));
    exchange.assert_sent(&testkit::sent()[0]);
}

#[test]
fn a_rate_limit_waits_as_long_as_twilio_asks() {
    let exchange = testkit::replay(format!("{FIXTURES}/send-rate-limited.json"));
    let error = TwilioSms::send(config(), message()).unwrap_err();
    assert!(matches!(error, SendError::RateLimited(7000)), "{error:?}");
    exchange.assert_sent(&testkit::sent()[0]);
}

/// `send-all` answers each message as `send` would, in order: a message
/// it cannot send (not text) is refused without a request, the others'
/// requests are the recorded one and read like `send`'s answers.
#[test]
fn send_all_answers_each_message_as_send_would() {
    let queued = testkit::replay(format!("{FIXTURES}/send-queued.json"));
    let limited: testkit::Exchange = fixture(format!("{FIXTURES}/send-rate-limited.json"));
    limited.answer();
    let mut email = message();
    email.content = Content::Email(EmailMessage {
        subject: "Hi".into(),
        text_body: "Hello".into(),
        html_body: None,
    });
    let answers = TwilioSms::send_all(config(), vec![message(), email, message()]);
    assert_eq!(answers.len(), 3);
    let receipt = answers[0].as_ref().unwrap();
    assert_eq!(
        receipt.provider_message_id,
        "SM0123456789abcdef0123456789abcdef"
    );
    assert!(
        matches!(answers[1], Err(SendError::InvalidConfig(_))),
        "{:?}",
        answers[1]
    );
    assert!(
        matches!(answers[2], Err(SendError::RateLimited(7000))),
        "{:?}",
        answers[2]
    );
    let sent = testkit::sent();
    assert_eq!(sent.len(), 2, "no request for the email");
    queued.assert_sent(&sent[0]);
    limited.assert_sent(&sent[1]);
}

#[test]
fn status_callbacks_are_verified() {
    testkit::reset();
    let callback: Webhook = fixture(format!("{FIXTURES}/status-callback.json"));
    let outcome = TwilioSms::handle_webhook(config(), callback.valid()).unwrap();
    let update = testkit::only_delivery(&outcome);
    assert_eq!(
        update.provider_message_id,
        "SM0123456789abcdef0123456789abcdef"
    );
    assert!(matches!(update.status, DeliveryStatus::Delivered));
    let handle = |request| TwilioSms::handle_webhook(config(), request);
    testkit::assert_refused(
        handle,
        [callback.tampered(), callback.wrong_secret()],
        "X-Twilio-Signature does not match",
    );
}

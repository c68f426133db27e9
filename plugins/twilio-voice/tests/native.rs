//! twilio-voice run natively with the SDK's test kit against a recorded
//! Calls API exchange and a signed status callback.

use herald_plugin::testkit::{self, Webhook, fixture};
use herald_plugin::types::*;
use herald_plugin::webhook::{form, param};
use twilio_voice::TwilioVoice;
use twilio_voice::exports::herald::provider::provider::Guest;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn config() -> Config {
    testkit::config(&[
        ("account-sid", "AC00000000000000000000000000000001"),
        ("base-url", "http://127.0.0.1:9000"),
    ])
}

#[test]
fn a_call_is_the_recorded_form_request_with_its_callbacks() {
    let exchange = testkit::replay(format!("{FIXTURES}/call-queued.json"));
    let message = OutboundMessage {
        idempotency_key: "c1-m2-s0-a1".into(),
        to: "+15551234567".into(),
        sender: "+15005550006".into(),
        content: Content::Voice(VoiceCall {
            queue: "sales".into(),
            amd_enabled: false,
            amd_action: AmdAction::HangUp,
            voicemail_message: None,
        }),
        status_callback_url: "https://herald.example/webhooks/8".into(),
    };
    let receipt = TwilioVoice::send(config(), message).unwrap();
    assert_eq!(
        receipt.provider_message_id,
        "CA0123456789abcdef0123456789abcdef"
    );
    let sent = &testkit::sent()[0];
    exchange.assert_sent(sent);
    let pairs = form(&sent.body);
    assert_eq!(param(&pairs, "To"), Some("+15551234567"));
    assert_eq!(
        param(&pairs, "StatusCallback"),
        Some("https://herald.example/webhooks/8?event=status&queue=sales&amd=off")
    );
}

#[test]
fn status_callbacks_are_verified() {
    testkit::reset();
    let callback: Webhook = fixture(format!("{FIXTURES}/status-callback.json"));
    let outcome = TwilioVoice::handle_webhook(config(), callback.valid()).unwrap();
    let [Event::Call(update)] = outcome.events.as_slice() else {
        panic!("one call update expected");
    };
    assert_eq!(
        update.provider_message_id,
        "CA0123456789abcdef0123456789abcdef"
    );
    assert!(matches!(update.status, CallStatus::Completed));
    assert_eq!(update.duration_seconds, Some(42));
    let handle = |request| TwilioVoice::handle_webhook(config(), request);
    testkit::assert_refused(
        handle,
        [callback.tampered(), callback.wrong_secret()],
        "X-Twilio-Signature does not match",
    );
}

//! Meta WhatsApp Cloud: the signed notification webhook
//! (`parse_notification`, `X-Hub-Signature-256`), the subscription
//! handshake (`verification`), the template listing
//! (`parse_template_page`, `count_parameters`), the send answer
//! (`message_id`) and Graph refusals (`error_from`).
//!
//! Properties: nothing panics, bad input is an `Err`; a body signed with
//! the app secret verifies through `signature_hex` and a changed body does
//! not; an inbound sender is one `+` then the WhatsApp id; a status's
//! error code is Graph's number and its timestamp whole seconds; a
//! template's parameter count is `count_parameters` of its body and never
//! more than its `{{`; the handshake gives the query's token and
//! challenge; a refusal always has a code and a message.
#![no_main]

use herald_fuzz::{hmac_sha256, http_status, retry_after, split_first};
use libfuzzer_sys::fuzz_target;
use provider_wire::whatsapp::{self, Notification};
use herald_plugin::webhook::{constant_time_eq, hex};

const SECRET: &[u8] = b"app-secret";

/// The plugin's check of `X-Hub-Signature-256` over the raw body.
fn verifies(header: &str, body: &[u8]) -> bool {
    let Some(given) = whatsapp::signature_hex(header) else {
        return false;
    };
    constant_time_eq(hex(&hmac_sha256(SECRET, body)).as_bytes(), given.as_bytes())
}

fuzz_target!(|data: &[u8]| {
    let header = format!("sha256={}", hex(&hmac_sha256(SECRET, data)));
    assert!(verifies(&header, data));
    assert!(!verifies(&header, &[data, b" "].concat()));

    if let Ok(notifications) = whatsapp::parse_notification(data) {
        for n in notifications {
            match n {
                Notification::Inbound(m) => {
                    assert!(m.from.starts_with('+') && !m.from[1..].starts_with('+'));
                }
                Notification::Status(s) => {
                    if let Some(code) = &s.error_code {
                        assert!(code.parse::<i64>().is_ok(), "{code:?}");
                    }
                    if let Some(ms) = s.timestamp_ms {
                        assert_eq!(ms % 1000, 0);
                    }
                }
            }
        }
    }
    if let Ok((templates, _next)) = whatsapp::parse_template_page(data) {
        for t in templates {
            assert_eq!(
                t.body_parameter_count,
                whatsapp::count_parameters(&t.body_text)
            );
            assert!(t.body_parameter_count as usize <= t.body_text.matches("{{").count());
        }
    }
    let _ = whatsapp::message_id(data);
    let status = http_status(data);
    let e = whatsapp::error_from(status, retry_after(data), data);
    assert!(!e.code.is_empty() && !e.message.is_empty());
    let (url, _) = split_first(data, b'\n');
    if let Ok(url) = std::str::from_utf8(url) {
        if let Some((token, challenge)) = whatsapp::verification(url) {
            let pairs = twilio_wire::query_pairs(url);
            assert_eq!(
                twilio_wire::param(&pairs, "hub.verify_token"),
                Some(token.as_str())
            );
            assert_eq!(
                twilio_wire::param(&pairs, "hub.challenge"),
                Some(challenge.as_str())
            );
        }
        let count = whatsapp::count_parameters(url);
        assert!(count as usize <= url.matches("{{").count());
    }
});

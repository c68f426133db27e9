//! Mailgun: the signed event webhook (`parse_webhook`, the signature's
//! `signed_data` and `is_fresh`), the events API answers (`latest_status`,
//! `status_by_key`), the send answer (`message_id`) and refusals
//! (`error_from`).
//!
//! Properties: nothing panics, bad input is an `Err`; a webhook signed
//! with the key verifies and one with its timestamp or token changed does
//! not; error fields appear only on failures; message ids lose their angle
//! brackets; `status_by_key` only ever answers with an event of that key
//! and agrees with `latest_status` over a body whose events all carry it;
//! the class of a refusal follows the HTTP status.
#![no_main]

use herald_fuzz::{hmac_sha256, http_status, retry_after};
use libfuzzer_sys::fuzz_target;
use provider_wire::mailgun::{self, EventStatus, Signature};
use herald_plugin::webhook::{constant_time_eq, hex};
use provider_wire::{ErrorClass, Status};

const KEY: &[u8] = b"key-signing-0123456789";

fn check_event(e: &EventStatus) {
    let failed = e.status == Status::Failed;
    assert!(e.error_code.is_none() || failed, "{e:?}");
    assert!(e.error_message.is_none() || failed, "{e:?}");
    assert!(
        !e.message_id.starts_with('<') && !e.message_id.ends_with('>'),
        "{e:?}"
    );
}

/// The plugin's check: HMAC-SHA256(key, timestamp + token), hex, against
/// `signature`, in constant time.
fn verifies(s: &Signature) -> bool {
    let expected = hex(&hmac_sha256(KEY, s.signed_data().as_bytes()));
    constant_time_eq(expected.as_bytes(), s.signature.trim().as_bytes())
}

fuzz_target!(|data: &[u8]| {
    if let Ok((mut signature, event)) = mailgun::parse_webhook(data) {
        if let Some(e) = &event {
            check_event(e);
        }
        let _ = signature.is_fresh(1_700_000_000_000);
        let _ = signature.is_fresh(u64::MAX);
        signature.signature = hex(&hmac_sha256(KEY, signature.signed_data().as_bytes()));
        assert!(verifies(&signature));
        // A changed token (a replayed signature on other data) fails.
        signature.token.push('0');
        assert!(!verifies(&signature));
    }
    match mailgun::latest_status(data) {
        Ok(Some(e)) => check_event(&e),
        Ok(None) | Err(_) => {}
    }
    let body: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    let key = body
        .as_ref()
        .and_then(|b| b.pointer("/items/0/user-variables/herald-key"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("7-1-1");
    if let Ok(Some(e)) = mailgun::status_by_key(data, key) {
        check_event(&e);
        let items = body.as_ref().and_then(|b| b["items"].as_array());
        let mine = items.into_iter().flatten().any(|item| {
            item["user-variables"]["herald-key"].as_str() == Some(key)
                && item
                    .pointer("/message/headers/message-id")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|id| id.contains(e.message_id.as_str()))
        });
        assert!(
            mine,
            "status_by_key answered {e:?}, no event of key {key:?}"
        );
        let all_mine = items
            .into_iter()
            .flatten()
            .all(|item| item["user-variables"]["herald-key"].as_str() == Some(key));
        if all_mine {
            assert_eq!(mailgun::latest_status(data), Ok(Some(e)));
        }
    }
    if let Some(id) = mailgun::message_id(data) {
        assert!(!id.starts_with('<') && !id.ends_with('>'));
    }
    let status = http_status(data);
    let e = mailgun::error_from(status, retry_after(data), data);
    assert!(!e.message.is_empty());
    match status {
        401 | 403 => assert_eq!(e.class, ErrorClass::Auth),
        404 => assert_eq!(e.class, ErrorClass::InvalidConfig),
        429 => assert!(matches!(e.class, ErrorClass::RateLimited(_))),
        500.. => assert_eq!(e.class, ErrorClass::Transient),
        _ => assert!(matches!(
            e.class,
            ErrorClass::Rejected | ErrorClass::InvalidRecipient
        )),
    }
});

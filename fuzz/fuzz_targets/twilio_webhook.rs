//! Twilio: the form-encoded, signed webhooks of the SMS and voice plugins
//! (`form_decode`, `signature_base`, the `X-Twilio-Signature` check), what
//! they read (`status`, `describe_error`, `voice::Context::from_url`,
//! `call_status`, `answered_by`, the TwiML answer) and the message
//! lookup's page and dates (`lookup::search`, `parse_rfc2822`).
//!
//! Input: the URL Twilio called, a newline, the form body.
//!
//! Properties: nothing panics; the signature of (URL, parameters) verifies
//! whatever the parameters' order and after the body is re-encoded, and a
//! changed parameter or signature does not; decoding a re-encoded form
//! gives the same parameters; a voice context read from a URL survives
//! being written into a URL and read back; the TwiML escapes every value
//! (it is one `<Response>` document and unescapes to the text given);
//! `search` only finds a message inside the window.
#![no_main]

use base64::Engine;
use herald_fuzz::{hmac_sha1, split_first};
use libfuzzer_sys::fuzz_target;
use twilio_wire::lookup::{self, MessagePage, Search};
use twilio_wire::voice::{self, Action, Context};
use herald_plugin::webhook::constant_time_eq;
use twilio_wire::{form_decode, form_encode, param, signature_base};

const TOKEN: &[u8] = b"auth-token-0123456789abcdef";

/// The plugins' check: base64(HMAC-SHA1(auth token, signature base)).
fn signature(url: &str, params: &[(String, String)]) -> String {
    let mac = hmac_sha1(TOKEN, signature_base(url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac)
}

fn verifies(url: &str, body: &[u8], given: &str) -> bool {
    let expected = signature(url, &form_decode(body));
    constant_time_eq(expected.as_bytes(), given.as_bytes())
}

fn unescape(xml: &str) -> String {
    xml.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn check_twiml(action: Action, context: &Context) {
    let doc = voice::twiml(action, context);
    let body = doc
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#)
        .and_then(|d| d.strip_suffix("</Response>"))
        .expect("one Response document");
    let text = match action {
        Action::Enqueue => body
            .strip_prefix("<Enqueue>")
            .and_then(|b| b.strip_suffix("</Enqueue>")),
        Action::Hangup => (body == "<Hangup/>").then_some(""),
        Action::Voicemail => body
            .strip_prefix("<Say>")
            .and_then(|b| b.strip_suffix("</Say><Hangup/>")),
    }
    .expect("the action's verbs");
    assert!(
        !text.contains(['<', '>', '"', '\'']),
        "unescaped TwiML text {text:?}"
    );
    let given = match action {
        Action::Enqueue => context.queue.as_str(),
        Action::Hangup => "",
        Action::Voicemail => context.voicemail.as_deref().unwrap_or_default(),
    };
    assert_eq!(unescape(text), given);
}

fuzz_target!(|data: &[u8]| {
    let (url, body) = split_first(data, b'\n');
    let url = String::from_utf8_lossy(url);
    let params = form_decode(body);
    let sig = signature(&url, &params);
    assert!(verifies(&url, body, &sig));
    let mut reversed = params.clone();
    reversed.reverse();
    assert_eq!(
        signature(&url, &reversed),
        sig,
        "parameter order changed the signature"
    );
    let reencoded = form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(form_decode(reencoded.as_bytes()), params, "form round trip");
    assert!(verifies(&url, reencoded.as_bytes(), &sig));
    let mut forged = sig.clone().into_bytes();
    forged[0] ^= 1;
    assert!(!verifies(&url, body, &String::from_utf8_lossy(&forged)));
    let tampered = format!("{reencoded}&Body=x");
    assert!(!verifies(&url, tampered.as_bytes(), &sig));

    // The SMS webhook's fields.
    let _ = param(&params, "MessageStatus").map(twilio_wire::status);
    if let Some(code) = param(&params, "ErrorCode") {
        let text = twilio_wire::describe_error(code);
        assert!(text.starts_with(code) || text == format!("Twilio error {code}"));
    }
    // The voice webhooks': the context in the URL, the call's progress.
    if let Ok(context) = Context::from_url(&url) {
        let again = Context::from_url(&context.url("https://herald.test/hooks/v1"));
        assert_eq!(again.as_ref(), Ok(&context), "context round trip");
        let who = param(&params, "AnsweredBy").and_then(voice::answered_by);
        let _ = param(&params, "CallStatus").map(voice::call_status);
        check_twiml(voice::decide(context.amd, who), &context);
        check_twiml(Action::Voicemail, &context);
        check_twiml(Action::Enqueue, &context);
    }
    // The lookup: a page of messages and their RFC 2822 dates.
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = lookup::parse_rfc2822(text);
    }
    if let Ok(page) = serde_json::from_slice::<MessagePage>(body) {
        let now = 1_796_152_028;
        if let Search::Found(m) = lookup::search(&page, now, now + 15) {
            let t = m.created_secs().expect("found by its date");
            assert!((now - lookup::SLACK_SECS..=now + 15 + lookup::SLACK_SECS).contains(&t));
        }
    }
});

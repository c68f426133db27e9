//! Webhooks the check posts to a plugin: a forged one, a malformed one,
//! and, for each signing secret whose scheme the kit knows (Twilio's
//! `auth-token`, the generic `webhook-secret`, WhatsApp's `app-secret`,
//! Mailgun's `webhook-signing-key`), one signed as that provider signs its
//! callbacks. The check compares a
//! batch's answers with single calls' on them, so they are chosen to get
//! different answers (accepted, refused, malformed) in a known order.

use herald_sim::{generic_signature, twilio_signature};

use crate::plugins::wit;

/// Where the check pretends the webhooks arrived (a Twilio signature
/// covers the URL).
pub const URL: &str = "http://127.0.0.1:8080/webhooks/1";

/// A POST with a bad signature under every scheme the bundled plugins use:
/// as Mailgun posts it (JSON, the signature in the body) for a plugin
/// with Mailgun's signing key, else as a form with every signature header.
pub fn forged(secrets: &[(String, String)]) -> wit::WebhookRequest {
    if secret(secrets, MAILGUN_KEY).is_some() {
        return mailgun_event("00ff");
    }
    post(
        "application/x-www-form-urlencoded",
        vec![
            ("x-twilio-signature".into(), "Zm9yZ2Vk".into()),
            ("x-signature".into(), "00ff".into()),
            ("x-hub-signature-256".into(), "sha256=00ff".into()),
        ],
        b"MessageSid=SM00&MessageStatus=delivered".to_vec(),
    )
}

/// The check's requests, signed with `secrets` where the kit knows how:
/// signed ones first, then the forged one, then one with no body and no
/// headers at all.
pub fn samples(secrets: &[(String, String)]) -> Vec<wit::WebhookRequest> {
    let secret = |name: &str| secret(secrets, name);
    let mut requests = Vec::new();
    if let Some(token) = secret("auth-token") {
        requests.push(twilio_status(token, "SMcheck1", "delivered"));
        requests.push(twilio_status(token, "SMcheck2", "undelivered"));
    }
    if let Some(key) = secret("webhook-secret") {
        let body = br#"{"id":"check-1","status":"delivered","error":null}"#.to_vec();
        let signature = generic_signature(key, &body);
        requests.push(post(
            "application/json",
            vec![("x-signature".into(), signature)],
            body,
        ));
    }
    if let Some(key) = secret("app-secret") {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":[{"id":"wamid.check","status":"delivered","timestamp":"1700000000","recipient_id":"14155557000"}]}}]}]}"#.to_vec();
        let signature = format!("sha256={}", generic_signature(key, &body));
        requests.push(post(
            "application/json",
            vec![("x-hub-signature-256".into(), signature)],
            body,
        ));
    }
    if let Some(key) = secret(MAILGUN_KEY) {
        let signed = generic_signature(
            key,
            format!("{}{MAILGUN_TOKEN}", *MAILGUN_TIMESTAMP).as_bytes(),
        );
        requests.push(mailgun_event(&signed));
    }
    requests.push(forged(secrets));
    requests.push(wit::WebhookRequest {
        method: "POST".into(),
        url: URL.into(),
        headers: Vec::new(),
        body: Vec::new(),
    });
    requests
}

/// Mailgun's webhook signing key: the HMAC-SHA256 of timestamp and token
/// travels in the JSON body.
const MAILGUN_KEY: &str = "webhook-signing-key";
const MAILGUN_TOKEN: &str = "herald-plugin-check-token-0123456789";
/// Now, in seconds: a Mailgun plugin refuses stale timestamps (replays).
static MAILGUN_TIMESTAMP: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
});

fn secret<'a>(secrets: &'a [(String, String)], name: &str) -> Option<&'a str> {
    secrets
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A Mailgun "delivered" event webhook carrying `signature`.
fn mailgun_event(signature: &str) -> wit::WebhookRequest {
    let body = serde_json::json!({
        "signature": {
            "timestamp": MAILGUN_TIMESTAMP.to_string(),
            "token": MAILGUN_TOKEN,
            "signature": signature,
        },
        "event-data": {
            "id": "check-event-1",
            "event": "delivered",
            "timestamp": *MAILGUN_TIMESTAMP as f64,
            "recipient": "check@example.com",
            "message": { "headers": { "message-id": "check-1@example.com" } },
        },
    });
    post(
        "application/json",
        Vec::new(),
        body.to_string().into_bytes(),
    )
}

/// A Twilio message status callback, signed as Twilio signs it.
fn twilio_status(auth_token: &str, sid: &str, status: &str) -> wit::WebhookRequest {
    let params =
        [("MessageSid", sid), ("MessageStatus", status)].map(|(k, v)| (k.to_owned(), v.to_owned()));
    let signature = twilio_signature(auth_token, URL, &params);
    let body = format!("MessageSid={sid}&MessageStatus={status}");
    post(
        "application/x-www-form-urlencoded",
        vec![("x-twilio-signature".into(), signature)],
        body.into_bytes(),
    )
}

fn post(
    content_type: &str,
    mut headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> wit::WebhookRequest {
    headers.insert(0, ("content-type".into(), content_type.into()));
    wit::WebhookRequest {
        method: "POST".into(),
        url: URL.into(),
        headers,
        body,
    }
}

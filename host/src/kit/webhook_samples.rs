//! Webhooks the check posts to a plugin: a forged one, a malformed one,
//! and, for each signing secret whose scheme the kit knows (Twilio's
//! `auth-token`, the generic `webhook-secret`, WhatsApp's `app-secret`),
//! one signed as that provider signs its callbacks. The check compares a
//! batch's answers with single calls' on them, so they are chosen to get
//! different answers (accepted, refused, malformed) in a known order.

use herald_sim::{generic_signature, twilio_signature};

use crate::plugins::wit;

/// Where the check pretends the webhooks arrived (a Twilio signature
/// covers the URL).
pub const URL: &str = "http://127.0.0.1:8080/webhooks/1";

/// A POST with a bad signature under every scheme the bundled plugins use.
pub fn forged() -> wit::WebhookRequest {
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
    let secret = |name: &str| {
        secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
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
    requests.push(forged());
    requests.push(wit::WebhookRequest {
        method: "POST".into(),
        url: URL.into(),
        headers: Vec::new(),
        body: Vec::new(),
    });
    requests
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

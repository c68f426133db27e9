//! Mailgun: `POST /v3/{domain}/messages` (form, Basic `api:<key>`), the
//! events API for lookups, and event webhooks signed with
//! HMAC-SHA256(webhook signing key, timestamp + token), hex.
//!
//! Chosen over other email APIs because its webhook signature is a plain
//! HMAC the host's `hmac` import computes, and its custom variables
//! (`v:`) come back on every event.

use serde::Deserialize;
use serde_json::Value;

use crate::{ErrorClass, ProviderError, Status};

/// The custom variable (`v:herald-key`) and header (`h:X-Herald-Key`)
/// carrying Herald's idempotency key.
pub const KEY_VARIABLE: &str = "herald-key";
/// Webhooks older (or newer) than this are refused as replays.
pub const MAX_AGE_MS: u64 = 15 * 60 * 1000;

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

pub fn send_url(base: &str, domain: &str) -> String {
    format!("{}/v3/{domain}/messages", trim(base))
}

/// `GET /v3/{domain}/events?message-id=`: the message's events, newest first.
pub fn events_url(base: &str, domain: &str, message_id: &str) -> String {
    twilio_wire::with_query(
        &format!("{}/v3/{domain}/events", trim(base)),
        [("message-id", message_id), ("ascending", "no")],
    )
}

/// `GET /v3/{domain}/events?recipient=&begin=&end=`: every event to one
/// address within a window (epoch seconds), newest first: where a send
/// whose answer was lost is looked for by its key (Mailgun's documented
/// filters do not include custom variables, but every event carries them).
pub fn recipient_events_url(
    base: &str,
    domain: &str,
    recipient: &str,
    begin_secs: u64,
    end_secs: u64,
) -> String {
    twilio_wire::with_query(
        &format!("{}/v3/{domain}/events", trim(base)),
        [
            ("recipient", recipient),
            ("begin", &begin_secs.to_string()),
            ("end", &end_secs.to_string()),
            ("ascending", "no"),
            ("limit", "300"),
        ],
    )
}

/// The latest status of the message whose events carry Herald's `key`
/// (`user-variables.herald-key`), from an events API answer.
pub fn status_by_key(body: &[u8], key: &str) -> Result<Option<EventStatus>, String> {
    let mut answer: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    // `get_mut`, not `answer["items"]`: indexing a non-object for writing
    // panics (an answer that is a JSON string or array).
    let items = answer.get_mut("items").map(Value::take).unwrap_or_default();
    let mine: Vec<Value> = items
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e.pointer(&format!("/user-variables/{KEY_VARIABLE}"))
                .and_then(Value::as_str)
                == Some(key)
        })
        .cloned()
        .collect();
    let filtered = serde_json::json!({ "items": mine }).to_string();
    latest_status(filtered.as_bytes())
}

/// An email to send.
pub struct Email<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    pub key: &'a str,
}

/// The form parameters of a send. Mailgun has no idempotency key: Herald's
/// key goes in a header of the email and in a custom variable, which every
/// webhook echoes in `user-variables`.
pub fn send_form(email: &Email) -> String {
    let mut pairs = vec![
        ("from", email.from),
        ("to", email.to),
        ("subject", email.subject),
        ("text", email.text),
    ];
    if let Some(html) = email.html {
        pairs.push(("html", html));
    }
    pairs.push(("h:X-Herald-Key", email.key));
    let variable = format!("v:{KEY_VARIABLE}");
    pairs.push((variable.as_str(), email.key));
    twilio_wire::form_encode(pairs)
}

/// The message id of a send answer, without angle brackets (the form
/// webhooks use): `{"id":"<2024...@mg.example.com>","message":"Queued. Thank you."}`.
pub fn message_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Queued {
        id: String,
    }
    let queued: Queued = serde_json::from_slice(body).ok()?;
    Some(strip_brackets(&queued.id).to_owned())
}

fn strip_brackets(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

/// A refusal: Mailgun answers `{"message": "..."}` (401 is a bare `Forbidden`).
pub fn error_from(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> ProviderError {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let message = if text.is_empty() {
        format!("Mailgun answered HTTP {http_status}")
    } else {
        text
    };
    let lower = message.to_ascii_lowercase();
    let class = match http_status {
        401 | 403 => ErrorClass::Auth,
        // Unknown sending domain.
        404 => ErrorClass::InvalidConfig,
        429 => ErrorClass::RateLimited(crate::retry_after_ms(retry_after, 1_000)),
        500.. => ErrorClass::Transient,
        400 if lower.contains("'to'") || lower.contains("to parameter") => {
            ErrorClass::InvalidRecipient
        }
        _ => ErrorClass::Rejected,
    };
    ProviderError {
        class,
        code: http_status.to_string(),
        message,
    }
}

/// The webhook's `signature` object.
#[derive(Deserialize, Debug)]
pub struct Signature {
    pub timestamp: String,
    pub token: String,
    pub signature: String,
}

impl Signature {
    /// What is signed: timestamp then token.
    pub fn signed_data(&self) -> String {
        format!("{}{}", self.timestamp, self.token)
    }

    /// Within [`MAX_AGE_MS`] of `now_ms`.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        self.timestamp
            .parse::<u64>()
            .is_ok_and(|secs| secs.saturating_mul(1000).abs_diff(now_ms) <= MAX_AGE_MS)
    }
}

#[derive(Deserialize)]
struct Webhook {
    signature: Signature,
    #[serde(rename = "event-data")]
    event_data: Value,
}

/// A status change from an event, `None` for events that change nothing
/// (a temporary failure Mailgun retries, clicks, unsubscribes...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventStatus {
    pub message_id: String,
    pub status: Status,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub timestamp_ms: Option<u64>,
}

/// Splits a webhook body into its signature and event.
pub fn parse_webhook(body: &[u8]) -> Result<(Signature, Option<EventStatus>), String> {
    let webhook: Webhook = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let status = event_status(&webhook.event_data)?;
    Ok((webhook.signature, status))
}

/// Maps one event (webhook `event-data`, or an events API item).
pub fn event_status(event: &Value) -> Result<Option<EventStatus>, String> {
    let message_id = event
        .pointer("/message/headers/message-id")
        .and_then(Value::as_str)
        .ok_or("event without message.headers.message-id")?;
    let permanent = event["severity"].as_str() != Some("temporary");
    let status = match event["event"].as_str().unwrap_or_default() {
        "accepted" => Status::Accepted,
        "delivered" => Status::Delivered,
        "opened" => Status::Read,
        "failed" if permanent => Status::Failed,
        "rejected" => Status::Failed,
        _ => return Ok(None),
    };
    let delivery = &event["delivery-status"];
    let failed = status == Status::Failed;
    let code = match &delivery["code"] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => event["reason"].as_str().map(str::to_owned),
    };
    let text = ["message", "description"]
        .iter()
        .find_map(|k| delivery[*k].as_str().filter(|s| !s.is_empty()))
        .or_else(|| event["reason"].as_str())
        .map(str::to_owned);
    Ok(Some(EventStatus {
        message_id: strip_brackets(message_id).to_owned(),
        status,
        error_code: code.filter(|_| failed),
        error_message: text.filter(|_| failed),
        // Mailgun timestamps are float seconds.
        timestamp_ms: event["timestamp"].as_f64().map(|t| (t * 1000.0) as u64),
    }))
}

/// The latest status from an events API answer (`{"items":[...]}`).
pub fn latest_status(body: &[u8]) -> Result<Option<EventStatus>, String> {
    let answer: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut latest: Option<EventStatus> = None;
    for item in answer["items"].as_array().into_iter().flatten() {
        if let Some(status) = event_status(item)?
            && latest
                .as_ref()
                .is_none_or(|l| status.timestamp_ms >= l.timestamp_ms)
        {
            latest = Some(status);
        }
    }
    Ok(latest)
}

#[cfg(test)]
#[path = "mailgun_tests.rs"]
mod tests;

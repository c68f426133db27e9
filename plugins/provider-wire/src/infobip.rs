//! Infobip SMS API: `POST /sms/2/text/advanced`, the message logs lookup,
//! delivery reports and inbound (MO) messages.
//!
//! Infobip does not sign its webhooks. The plugin puts a token in the path
//! of the `notifyUrl` it sends (`…/webhooks/{channel}/token/{token}`, filled
//! in by the host from the `webhook-token` secret) and compares it with
//! `secret-equals` on every webhook. The path rather than a header because
//! Infobip lets a client choose the URL but not the headers of a delivery
//! report; the path rather than the query string because query strings land
//! in every proxy's access log, while Herald's own logs redact the segment.
//! For inbound messages the admin configures the same URL at Infobip. The
//! query form ([`TOKEN_PARAM`]) is still read, for reports of messages sent
//! by earlier versions and forwarding URLs set up with it.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ErrorClass, ProviderError, Status};

/// The path segment before the webhook token.
pub const TOKEN_SEGMENT: &str = "token";

/// The query parameter that carried the webhook token before it moved into
/// the path.
pub const TOKEN_PARAM: &str = "herald_token";

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

pub fn send_url(base: &str) -> String {
    format!("{}/sms/2/text/advanced", trim(base))
}

/// `GET /sms/1/logs?messageId=`: a sent message's current status (kept 48 h).
/// Preferred over `/sms/1/reports`, which serves each report once and only
/// for messages sent without a `notifyUrl`.
pub fn logs_url(base: &str, message_id: &str) -> String {
    twilio_wire::with_query(
        &format!("{}/sms/1/logs", trim(base)),
        [("messageId", message_id)],
    )
}

/// The `notifyUrl`: the status callback URL with the token placeholder as
/// its last path segment, left unencoded so the host recognises and fills
/// it in (the token must be URL-safe, e.g. hex).
pub fn notify_url(callback: &str) -> String {
    let (path, query) = match callback.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (callback, None),
    };
    let mut url = format!(
        "{}/{TOKEN_SEGMENT}/{{{{secret.webhook-token}}}}",
        path.trim_end_matches('/')
    );
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// The webhook token from the URL Infobip called: the segment after
/// `/token/` at the end of the path, else the legacy query parameter.
pub fn token(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.rsplit('/');
    if let (Some(token), Some(TOKEN_SEGMENT)) = (segments.next(), segments.next())
        && !token.is_empty()
    {
        return Some(token.to_owned());
    }
    let pairs = twilio_wire::query_pairs(url);
    twilio_wire::param(&pairs, TOKEN_PARAM).map(str::to_owned)
}

/// The send body. Infobip takes the client's `messageId` per destination, so
/// Herald's idempotency key becomes the provider id, and rides again in
/// `callbackData` (echoed on every report).
pub fn send_body(to: &str, from: &str, text: &str, key: &str, notify_url: &str) -> Value {
    json!({
        "messages": [{
            "destinations": [{ "to": to.trim_start_matches('+'), "messageId": key }],
            "from": from,
            "text": text,
            "notifyUrl": notify_url,
            "notifyContentType": "application/json",
            "callbackData": key,
        }]
    })
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireStatus {
    #[serde(default)]
    pub group_id: u32,
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub id: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SentMessage {
    message_id: String,
    #[serde(default)]
    status: WireStatus,
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

/// Recipient refusals: missing or invalid destination (51, 52), missing
/// prefix (8). Funds: REJECTED_NOT_ENOUGH_CREDITS (12).
const RECIPIENT_STATUS: &[&str] = &[
    "MISSING_TO",
    "REJECTED_DESTINATION",
    "REJECTED_INVALID_DESTINATION",
    "REJECTED_PREFIX_MISSING",
];

/// A 2xx send answer: the message id and its first status, or the refusal
/// of a REJECTED (or otherwise final) status.
pub fn parse_send(body: &[u8]) -> Result<(String, Status), Result<ProviderError, String>> {
    let answer: SendAnswer = serde_json::from_slice(body).map_err(|e| Err(e.to_string()))?;
    let sent = answer
        .messages
        .into_iter()
        .next()
        .ok_or_else(|| Err("no messages in the answer".to_owned()))?;
    let status = sent.status;
    match status.group_name.as_str() {
        "PENDING" | "ACCEPTED" => Ok((sent.message_id, Status::Accepted)),
        "DELIVERED" => Ok((sent.message_id, Status::Delivered)),
        _ => {
            let class = if RECIPIENT_STATUS.contains(&status.name.as_str()) {
                ErrorClass::InvalidRecipient
            } else if status.name == "REJECTED_NOT_ENOUGH_CREDITS" {
                ErrorClass::InsufficientFunds
            } else {
                ErrorClass::Rejected
            };
            Err(Ok(ProviderError {
                class,
                code: status.id.to_string(),
                message: format!("{}: {}", status.name, status.description),
            }))
        }
    }
}

/// A non-2xx answer: `{"requestError":{"serviceException":{"messageId","text"}}}`.
pub fn error_from(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> ProviderError {
    let error: Value = serde_json::from_slice(body).unwrap_or_default();
    let exception = &error["requestError"]["serviceException"];
    let code = exception["messageId"]
        .as_str()
        .map_or_else(|| http_status.to_string(), str::to_owned);
    let message = exception["text"].as_str().map_or_else(
        || format!("Infobip answered HTTP {http_status}"),
        str::to_owned,
    );
    let class = match http_status {
        401 | 403 => ErrorClass::Auth,
        429 => ErrorClass::RateLimited(crate::retry_after_ms(retry_after, 1_000)),
        500.. => ErrorClass::Transient,
        _ => ErrorClass::Rejected,
    };
    ProviderError {
        class,
        code,
        message,
    }
}

/// A delivery report (or a message log entry: same shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub message_id: String,
    pub status: Status,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub timestamp_ms: Option<u64>,
}

/// An inbound (MO) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Notification {
    Report(Report),
    Inbound(Inbound),
}

fn plus(number: &str) -> String {
    if number.starts_with('+') || !number.bytes().all(|b| b.is_ascii_digit()) {
        number.to_owned()
    } else {
        format!("+{number}")
    }
}

fn report(result: &Value) -> Option<Report> {
    let status: WireStatus = serde_json::from_value(result["status"].clone()).ok()?;
    let normalised = match status.group_name.as_str() {
        "ACCEPTED" => Status::Accepted,
        // An intermediate report: handed on towards the operator.
        "PENDING" => Status::Sent,
        "DELIVERED" => Status::Delivered,
        "UNDELIVERABLE" | "EXPIRED" | "REJECTED" => Status::Failed,
        _ => return None,
    };
    // `error.id` 0 is "NO_ERROR"; a failure's cause is the error, else the status.
    let error = &result["error"];
    let (code, text) = match error["id"].as_u64().filter(|id| *id != 0) {
        Some(id) => (id.to_string(), error["name"].as_str().unwrap_or_default()),
        None => (status.id.to_string(), status.name.as_str()),
    };
    let failed = normalised == Status::Failed;
    Some(Report {
        message_id: result["messageId"].as_str()?.to_owned(),
        status: normalised,
        error_code: failed.then_some(code),
        error_message: failed.then(|| text.to_owned()),
        timestamp_ms: result["doneAt"].as_str().and_then(iso8601_ms),
    })
}

/// Parses a webhook body: `{"results":[...]}` of delivery reports (with a
/// `status`) or inbound messages (with `from` and `text`).
pub fn parse_notification(body: &[u8]) -> Result<Vec<Notification>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let results = body["results"].as_array().ok_or("no results array")?;
    results
        .iter()
        .map(|result| {
            if result.get("status").is_some() {
                return report(result)
                    .map(Notification::Report)
                    .ok_or_else(|| format!("unreadable delivery report: {result}"));
            }
            let field = |name: &str| result[name].as_str().unwrap_or_default().to_owned();
            let message_id = field("messageId");
            if message_id.is_empty() || result.get("from").is_none() {
                return Err(format!("neither a report nor a message: {result}"));
            }
            Ok(Notification::Inbound(Inbound {
                message_id,
                from: plus(&field("from")),
                to: plus(&field("to")),
                text: field("text"),
            }))
        })
        .collect()
}

/// The latest status of a message from a `/sms/1/logs` answer.
pub fn parse_logs(body: &[u8]) -> Result<Option<Report>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(body["results"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(report))
}

/// `2019-11-09T16:00:00.000+0000` (Infobip's format; also `Z` or `+01:00`)
/// to milliseconds since the Unix epoch.
pub fn iso8601_ms(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let clock_end = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(clock_end);
    let mut c = clock.splitn(3, ':');
    let (hour, minute) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let seconds: f64 = c.next().unwrap_or("0").parse().ok()?;
    let offset_minutes = match zone.chars().next() {
        None | Some('Z') => 0,
        Some(sign) => {
            let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
            let (h, m) = (
                digits.get(..2)?.parse::<i64>().ok()?,
                digits.get(2..4).unwrap_or("0").parse::<i64>().ok()?,
            );
            if sign == '-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
    };
    // Out of range fields are no date (and would overflow the arithmetic).
    let in_range = (0..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0.0..61.0).contains(&seconds)
        && offset_minutes.abs() < 100 * 60;
    if !in_range {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 - offset_minutes * 60;
    u64::try_from(secs * 1000 + (seconds * 1000.0).round() as i64).ok()
}

#[cfg(test)]
#[path = "infobip_tests.rs"]
mod tests;

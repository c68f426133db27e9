//! Twilio's wire format, free of any WIT types so it is unit-tested (and
//! benchmarked) natively:
//! form encoding, the signature base string, status and error mapping.

use serde::Deserialize;

pub mod lookup;
pub mod voice;

/// The Messages resource path for an account.
pub fn messages_url(base: &str, account_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
        base.trim_end_matches('/')
    )
}

/// One message resource, for status lookups.
pub fn message_url(base: &str, account_sid: &str, message_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}.json",
        base.trim_end_matches('/')
    )
}

pub fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// `url` with `pairs` appended to its query string (after `?` or `&`), so a
/// plugin can carry data through a provider and get it back on a webhook.
pub fn with_query<'a>(url: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let extra = form_encode(pairs);
    if extra.is_empty() {
        return url.to_owned();
    }
    let separator = match url.find('?') {
        None => "?",
        Some(i) if i + 1 == url.len() || url.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{url}{separator}{extra}")
}

/// The decoded query parameters of `url` (empty without a query string).
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_decode(query.as_bytes())
}

/// The first value of `name` in decoded pairs.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What Twilio signs: the full URL, then each POST parameter's name and value
/// concatenated, parameters sorted by name.
pub fn signature_base(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut base = url.to_owned();
    for (k, v) in sorted {
        base.push_str(k);
        base.push_str(v);
    }
    base
}

/// A Twilio message status, normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

pub fn status(twilio: &str) -> Option<Status> {
    Some(match twilio {
        "queued" | "accepted" | "sending" | "scheduled" => Status::Accepted,
        "sent" => Status::Sent,
        "delivered" => Status::Delivered,
        "read" => Status::Read,
        "undelivered" | "failed" | "canceled" => Status::Failed,
        _ => return None,
    })
}

/// Twilio's answer to a create-message request.
#[derive(Deserialize)]
pub struct MessageResource {
    pub sid: String,
    pub status: Option<String>,
    pub error_code: Option<u32>,
    pub error_message: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "...", "status": 400}`.
#[derive(Deserialize, Default)]
pub struct ErrorBody {
    pub code: Option<u32>,
    pub message: Option<String>,
}

/// How Herald should treat a Twilio error.
#[derive(Debug, PartialEq, Eq)]
pub enum ErrorClass {
    InvalidRecipient,
    Rejected,
    RateLimited,
    Transient,
    Auth,
    InsufficientFunds,
}

/// Recipient errors: invalid 'To' (21211), not a mobile number (21614),
/// unreachable from this sender (21612), region not enabled (21408),
/// recipient unsubscribed with STOP (21610).
/// For calls: 13223/13224 (invalid 'To' phone number format / number).
const RECIPIENT_CODES: &[u32] = &[21211, 21614, 21612, 21408, 21610, 13223, 13224];

pub fn classify_error(http_status: u16, code: Option<u32>) -> ErrorClass {
    match (http_status, code) {
        (429, _) | (_, Some(20429)) => ErrorClass::RateLimited,
        (401, _) | (_, Some(20003)) => ErrorClass::Auth,
        // 20005: account not active (suspended, e.g. for an unpaid balance);
        // 30034-style funding errors arrive as delivery failures, not here.
        (_, Some(20005)) => ErrorClass::InsufficientFunds,
        (_, Some(c)) if RECIPIENT_CODES.contains(&c) => ErrorClass::InvalidRecipient,
        (s, _) if s >= 500 => ErrorClass::Transient,
        _ => ErrorClass::Rejected,
    }
}

/// Twilio's own words for the error codes its status callbacks carry (the
/// callback sends `ErrorCode` alone), from twilio.com/docs/api/errors: the
/// member's error reads `30003: Unreachable destination handset`.
const ERROR_DESCRIPTIONS: &[(u32, &str)] = &[
    (21211, "Invalid 'To' Phone Number"),
    (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    ),
    (21610, "Attempt to send to unsubscribed recipient"),
    (
        21612,
        "The 'To' phone number is not currently reachable via SMS",
    ),
    (21614, "'To' number is not a valid mobile number"),
    (30001, "Queue overflow"),
    (30002, "Account suspended"),
    (30003, "Unreachable destination handset"),
    (30004, "Message blocked"),
    (30005, "Unknown destination handset"),
    (30006, "Landline or unreachable carrier"),
    (30007, "Message filtered"),
    (30008, "Unknown error"),
    (30009, "Missing segment"),
    (30010, "Message price exceeds max price"),
    (
        30011,
        "MMS not supported by the receiving phone number in this region",
    ),
    (30022, "US A2P 10DLC - Rate Limits Exceeded"),
    (30023, "US A2P 10DLC - Daily Message Cap Reached"),
    (30024, "Numeric Sender ID Not Provisioned on Carrier"),
    (30032, "Toll-Free Number Has Not Been Verified"),
    (30034, "US A2P 10DLC - Message from an Unregistered Number"),
];

/// `CODE: description` for a callback's `ErrorCode` (`Twilio error CODE`
/// for a code the table does not know).
pub fn describe_error(code: &str) -> String {
    let known = code
        .parse::<u32>()
        .ok()
        .and_then(|c| ERROR_DESCRIPTIONS.iter().find(|(k, _)| *k == c));
    match known {
        Some((_, text)) => format!("{code}: {text}"),
        None => format!("Twilio error {code}"),
    }
}

/// `Retry-After` in seconds (Twilio sends whole seconds), as milliseconds.
pub fn retry_after_ms(value: Option<&str>) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn callback_error_codes_read_as_twilio_words() {
        assert_eq!(
            describe_error("30003"),
            "30003: Unreachable destination handset"
        );
        assert_eq!(describe_error("39999"), "Twilio error 39999");
    }

    #[test]
    fn signature_base_sorts_params_after_the_url() {
        let params = pairs(&[("To", "+1"), ("Body", "hi"), ("From", "+2")]);
        assert_eq!(
            signature_base("https://x.test/hook?a=1", &params),
            "https://x.test/hook?a=1BodyhiFrom+2To+1"
        );
    }

    #[test]
    fn form_round_trip_keeps_plus_and_unicode() {
        let body = form_encode([("To", "+14155550100"), ("Body", "Olá & 🎉")]);
        assert_eq!(
            form_decode(body.as_bytes()),
            pairs(&[("To", "+14155550100"), ("Body", "Olá & 🎉")])
        );
    }

    #[test]
    fn statuses_map() {
        assert_eq!(status("queued"), Some(Status::Accepted));
        assert_eq!(status("undelivered"), Some(Status::Failed));
        assert_eq!(status("delivered"), Some(Status::Delivered));
        assert_eq!(status("bogus"), None);
    }

    #[test]
    fn errors_classify() {
        assert_eq!(
            classify_error(400, Some(21211)),
            ErrorClass::InvalidRecipient
        );
        assert_eq!(
            classify_error(400, Some(21610)),
            ErrorClass::InvalidRecipient
        );
        assert_eq!(classify_error(429, Some(20429)), ErrorClass::RateLimited);
        assert_eq!(classify_error(401, Some(20003)), ErrorClass::Auth);
        assert_eq!(classify_error(500, Some(20500)), ErrorClass::Transient);
        assert_eq!(classify_error(400, Some(21602)), ErrorClass::Rejected);
    }

    #[test]
    fn retry_after_defaults_to_a_second() {
        assert_eq!(retry_after_ms(Some("3")), 3000);
        assert_eq!(retry_after_ms(None), 1000);
        assert_eq!(retry_after_ms(Some("soon")), 1000);
    }

    #[test]
    fn query_helpers_round_trip() {
        assert_eq!(
            with_query("https://h.test/cb", [("event", "answer"), ("q", "a b")]),
            "https://h.test/cb?event=answer&q=a+b"
        );
        let url = with_query("https://h.test/cb?ch=1", [("vm", "Hi & bye")]);
        assert_eq!(url, "https://h.test/cb?ch=1&vm=Hi+%26+bye");
        let pairs = query_pairs(&url);
        assert_eq!(param(&pairs, "vm"), Some("Hi & bye"));
        assert_eq!(param(&pairs, "ch"), Some("1"));
        assert!(query_pairs("https://h.test/cb").is_empty());
        assert_eq!(
            with_query("https://h.test/cb?", [("a", "1")]),
            "https://h.test/cb?a=1"
        );
    }
}

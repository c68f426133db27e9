//! Provider answers to `send-error`: transport failures, HTTP statuses,
//! provider codes, and the uncertain case (the provider may have the
//! message; see `uncertainty.mark-uncertain`).

use serde::de::DeserializeOwned;

use crate::types::{
    DeliveryStatus, Header, HttpError, HttpResponse, Rejection, SendError, SendReceipt,
};

/// How Herald should treat a provider's refusal; each plugin maps its
/// provider's codes to this and [`send_error`] makes the WIT case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    InvalidRecipient,
    Rejected,
    /// Retry after this many milliseconds.
    RateLimited(u32),
    Transient,
    Auth,
    InsufficientFunds,
    InvalidConfig,
    /// The provider may have taken the message: never resent, asked
    /// `lookup.find-sent` or an operator instead.
    Uncertain,
}

/// The typed send error for a classified refusal; `Uncertain` tells the
/// host before it returns `transient`, as the contract asks.
pub fn send_error(class: Class, code: impl Into<String>, message: impl Into<String>) -> SendError {
    let message = message.into();
    if class == Class::Uncertain {
        crate::host::mark_uncertain(&message);
    }
    unmarked_send_error(class, code, message)
}

/// [`send_error`] without telling the host of an uncertain send: for
/// plugins built against a contract before 1.2, which has no `uncertainty`
/// (calling it would import it).
pub fn unmarked_send_error(
    class: Class,
    code: impl Into<String>,
    message: impl Into<String>,
) -> SendError {
    let rejection = Rejection {
        code: code.into(),
        message: message.into(),
    };
    match class {
        Class::InvalidRecipient => SendError::InvalidRecipient(rejection),
        Class::Rejected => SendError::Rejected(rejection),
        Class::RateLimited(ms) => SendError::RateLimited(ms),
        Class::Transient | Class::Uncertain => {
            SendError::Transient(format!("{}: {}", rejection.code, rejection.message))
        }
        Class::Auth => SendError::Auth(rejection.message),
        Class::InsufficientFunds => SendError::InsufficientFunds(rejection.message),
        Class::InvalidConfig => SendError::InvalidConfig(rejection.message),
    }
}

/// A provider's refusal, classified, with its own code and text; wire
/// crates return it free of host calls so they test natively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub class: Class,
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn into_send_error(self) -> SendError {
        send_error(self.class, self.code, self.message)
    }
}

/// What an HTTP status alone says, for providers without finer codes:
/// 401/403 credentials, 402 funds, 429 rate (after `Retry-After`, else 1 s),
/// 5xx transient, any other 4xx a refusal of this message.
pub fn by_status(response: &HttpResponse) -> Class {
    match response.status {
        401 | 403 => Class::Auth,
        402 => Class::InsufficientFunds,
        429 => Class::RateLimited(retry_after_ms(&response.headers, 1000)),
        500.. => Class::Transient,
        _ => Class::Rejected,
    }
}

/// A failure to get any answer: transient, unless the request itself is
/// unusable (host not allowed, unknown secret).
pub fn transport(provider: &str, error: HttpError) -> SendError {
    match error {
        HttpError::Timeout => SendError::Transient(format!("{provider} did not answer in time")),
        HttpError::Connection(m) => {
            SendError::Transient(format!("connection to {provider} failed: {m}"))
        }
        HttpError::NotAllowed(m) | HttpError::InvalidRequest(m) => SendError::InvalidConfig(m),
    }
}

pub fn is_success(response: &HttpResponse) -> bool {
    (200..300).contains(&response.status)
}

/// A success answer's JSON body. An unreadable one is uncertain: the
/// provider accepted something, Herald cannot tell what.
pub fn accepted<T: DeserializeOwned>(
    provider: &str,
    response: &HttpResponse,
) -> Result<T, SendError> {
    serde_json::from_slice(&response.body).map_err(|e| unreadable(provider, e))
}

/// A send's success answer Herald cannot read: uncertain (see [`accepted`]).
pub fn unreadable(provider: &str, what: impl std::fmt::Display) -> SendError {
    let reason = format!("unreadable {provider} answer: {what}");
    send_error(Class::Uncertain, "unreadable", reason)
}

/// The JSON body of a successful answer where nothing was sent (lookups,
/// status, templates): any other status, or an unreadable body, is plainly
/// transient.
pub fn read<T: DeserializeOwned>(provider: &str, response: &HttpResponse) -> Result<T, SendError> {
    if !is_success(response) {
        let status = response.status;
        return Err(SendError::Transient(format!(
            "{provider} answered HTTP {status}"
        )));
    }
    serde_json::from_slice(&response.body).map_err(|e| unreadable_lookup(provider, e))
}

/// An answer Herald cannot read where nothing was sent: transient.
pub fn unreadable_lookup(provider: &str, what: impl std::fmt::Display) -> SendError {
    SendError::Transient(format!("unreadable {provider} answer: {what}"))
}

/// A send the provider took, under its id.
pub fn receipt(provider_message_id: String, status: DeliveryStatus) -> SendReceipt {
    SendReceipt {
        provider_message_id,
        status,
    }
}

/// The `code` and `message` of a JSON refusal (`{"code": ..., "message":
/// ...}`, either a string or a number), else the HTTP status and nothing.
pub fn refusal(response: &HttpResponse) -> (String, String) {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let text = |name: &str| match &body[name] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let code = text("code").unwrap_or_else(|| response.status.to_string());
    (code, text("message").unwrap_or_default())
}

/// A header's value, by case-insensitive name.
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `Retry-After` in whole seconds as milliseconds, or `default_ms`.
pub fn retry_after_ms(headers: &[Header], default_ms: u32) -> u32 {
    header(headers, "retry-after")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(default_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    fn response(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        testkit::response(status, headers, b"")
    }

    #[test]
    fn statuses_map_to_cases() {
        assert_eq!(by_status(&response(401, &[])), Class::Auth);
        assert_eq!(by_status(&response(402, &[])), Class::InsufficientFunds);
        assert_eq!(
            by_status(&response(429, &[("Retry-After", "3")])),
            Class::RateLimited(3000)
        );
        assert_eq!(by_status(&response(429, &[])), Class::RateLimited(1000));
        assert_eq!(by_status(&response(503, &[])), Class::Transient);
        assert_eq!(by_status(&response(400, &[])), Class::Rejected);
    }

    #[test]
    fn uncertain_tells_the_host_and_is_transient() {
        testkit::reset();
        let e = send_error(Class::Uncertain, "409", "duplicate reference");
        assert!(matches!(e, SendError::Transient(_)));
        assert_eq!(
            testkit::uncertain(),
            vec!["duplicate reference".to_string()]
        );
        let e = send_error(Class::InvalidRecipient, "21211", "bad number");
        assert!(matches!(e, SendError::InvalidRecipient(r) if r.code == "21211"));
        assert_eq!(
            testkit::uncertain().len(),
            1,
            "only the uncertain case marks"
        );
    }

    #[test]
    fn an_unreadable_success_is_uncertain() {
        testkit::reset();
        let r = testkit::response(200, &[], b"<html>");
        let e = accepted::<serde_json::Value>("Acme", &r).unwrap_err();
        assert!(matches!(e, SendError::Transient(m) if m.contains("unreadable Acme answer")));
        assert_eq!(testkit::uncertain().len(), 1);
    }

    #[test]
    fn refusals_read_code_and_message() {
        let r = testkit::response(400, &[], br#"{"code":21211,"message":"bad"}"#);
        assert_eq!(refusal(&r), ("21211".into(), "bad".into()));
        let r = testkit::response(502, &[], b"<html>");
        assert_eq!(refusal(&r), ("502".into(), String::new()));
        let e = read::<serde_json::Value>("Acme", &r).unwrap_err();
        assert!(matches!(e, SendError::Transient(m) if m == "Acme answered HTTP 502"));
    }

    #[test]
    fn transport_errors() {
        assert!(matches!(
            transport("Acme", HttpError::Timeout),
            SendError::Transient(_)
        ));
        assert!(matches!(
            transport("Acme", HttpError::NotAllowed("host".into())),
            SendError::InvalidConfig(_)
        ));
    }
}

//! Glue every provider plugin needs between the WIT types and its wire crate:
//! config lookups, the manifest's field builder, the HTTP call with its
//! transport errors, and webhook answers.
//!
//! Not a crate: WIT types are generated per component, so each plugin
//! includes this file (`#[path = "../../shim/common.rs"] mod common;`) and it
//! refers only to `crate::herald::provider::*`, which every `generate!`d
//! crate has. Not every plugin uses every helper.
#![allow(dead_code)]

use crate::herald::provider::host::{hmac, http_send};
use crate::herald::provider::types::{
    Config, ConfigField, DeliveryStatus, Header, HmacAlgorithm, HttpError, HttpRequest,
    HttpResponse, Rejection, SendError, WebhookError, WebhookResponse,
};

pub fn field(
    name: &str,
    label: &str,
    description: &str,
    required: bool,
    secret: bool,
) -> ConfigField {
    ConfigField {
        name: name.into(),
        label: label.into(),
        description: description.into(),
        required,
        secret,
    }
}

/// The `base-url` field every plugin accepts, so tests can point it at the
/// simulator.
pub fn base_url_field(default: &str) -> ConfigField {
    field(
        "base-url",
        "API base URL",
        &format!("Defaults to {default}; point it at a simulator for tests"),
        false,
        false,
    )
}

pub fn get<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// A required non-secret field, for `send` and friends.
pub fn require<'a>(config: &'a Config, name: &str) -> Result<&'a str, SendError> {
    get(config, name).ok_or_else(|| SendError::InvalidConfig(format!("{name}: required")))
}

/// The configured base URL, or the provider's.
pub fn base_url<'a>(config: &'a Config, default: &'a str) -> &'a str {
    get(config, "base-url").unwrap_or(default)
}

/// `validate-config` checks shared by every plugin: required fields present,
/// `base-url` an http(s) URL.
pub fn validate_common(config: &Config, required: &[&str]) -> Result<(), String> {
    for name in required {
        if get(config, name).is_none() {
            return Err(format!("{name}: required"));
        }
    }
    if let Some(base) = get(config, "base-url")
        && !(base.starts_with("https://") || base.starts_with("http://"))
    {
        return Err("base-url: must be an http(s) URL".into());
    }
    Ok(())
}

pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sends through the host; a failure to get any answer is transient unless
/// the request itself is unusable (host not allowed, unknown secret).
pub fn send_http(provider: &str, request: &HttpRequest) -> Result<HttpResponse, SendError> {
    http_send(request).map_err(|e| match e {
        HttpError::Timeout => SendError::Transient(format!("{provider} did not answer in time")),
        HttpError::Connection(m) => {
            SendError::Transient(format!("connection to {provider} failed: {m}"))
        }
        HttpError::NotAllowed(m) | HttpError::InvalidRequest(m) => SendError::InvalidConfig(m),
    })
}

pub fn is_success(response: &HttpResponse) -> bool {
    (200..300).contains(&response.status)
}

/// The typed send error for a wire crate's classified refusal.
pub fn send_error(error: provider_wire::ProviderError) -> SendError {
    use provider_wire::ErrorClass;
    let rejection = Rejection {
        code: error.code,
        message: error.message,
    };
    match error.class {
        ErrorClass::InvalidRecipient => SendError::InvalidRecipient(rejection),
        ErrorClass::Rejected => SendError::Rejected(rejection),
        ErrorClass::RateLimited(ms) => SendError::RateLimited(ms),
        ErrorClass::Transient => {
            SendError::Transient(format!("{}: {}", rejection.code, rejection.message))
        }
        ErrorClass::Auth => SendError::Auth(rejection.message),
        ErrorClass::InsufficientFunds => SendError::InsufficientFunds(rejection.message),
        ErrorClass::InvalidConfig => SendError::InvalidConfig(rejection.message),
    }
}

/// An unreadable success answer: the message may have been sent, so this is
/// transient (the host reconciles through `fetch-status` or decides).
pub fn unreadable(provider: &str, what: impl std::fmt::Display) -> SendError {
    SendError::Transient(format!("unreadable {provider} answer: {what}"))
}

pub fn json_request(method: &str, url: String, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        url,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Accept".into(), "application/json".into()),
        ],
        body,
        auth: crate::herald::provider::types::HttpAuth::None,
        timeout_ms: None,
    }
}

/// A webhook answer with a body.
pub fn respond(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> WebhookResponse {
    WebhookResponse {
        status,
        headers: vec![("Content-Type".into(), content_type.into())],
        body: body.into(),
    }
}

/// `204 No Content`: what most providers want back from a status callback.
pub fn no_content() -> WebhookResponse {
    WebhookResponse {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// Lowercase hex HMAC of `data` with the channel secret `secret`, computed
/// by the host (the key never enters the plugin).
pub fn hmac_hex(
    algorithm: HmacAlgorithm,
    secret: &str,
    data: &[u8],
) -> Result<String, WebhookError> {
    let mac = hmac(algorithm, secret, data).map_err(WebhookError::Unauthorized)?;
    Ok(provider_wire::hex(&mac))
}

/// Compares a signature in constant time; `what` names it in the refusal.
pub fn check_signature(expected: &str, given: &str, what: &str) -> Result<(), WebhookError> {
    if provider_wire::constant_time_eq(expected.as_bytes(), given.trim().as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized(format!("{what} does not match")))
    }
}

/// The WIT delivery status of a normalised wire status.
pub fn delivery_status(status: provider_wire::Status) -> DeliveryStatus {
    use provider_wire::Status;
    match status {
        Status::Accepted => DeliveryStatus::Accepted,
        Status::Sent => DeliveryStatus::Sent,
        Status::Delivered => DeliveryStatus::Delivered,
        Status::Read => DeliveryStatus::Read,
        Status::Failed => DeliveryStatus::Failed,
    }
}

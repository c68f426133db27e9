//! The wire formats of the non-Twilio providers Herald ships plugins for,
//! free of WIT types so they are unit-tested natively. Each plugin's
//! component crate is a thin shim over one module here:
//!
//! - [`whatsapp`]: Meta WhatsApp Cloud API (Graph API) template sends,
//!   template listing, webhook verification and parsing.
//! - [`infobip`]: Infobip SMS API (`/sms/2/text/advanced`), delivery reports
//!   and inbound (MO) messages.
//! - [`mailgun`]: Mailgun's Messages API and signed event webhooks.

pub mod infobip;
pub mod mailgun;
pub mod whatsapp;

/// How Herald should treat a provider's refusal, and the refusal itself:
/// the SDK's types, so a plugin turns them into a `send-error` directly.
pub use herald_plugin::answer::{Class as ErrorClass, Refusal as ProviderError};
use herald_plugin::types::DeliveryStatus;

/// The WIT delivery status of a normalised wire status.
pub fn delivery_status(status: Status) -> DeliveryStatus {
    match status {
        Status::Accepted => DeliveryStatus::Accepted,
        Status::Sent => DeliveryStatus::Sent,
        Status::Delivered => DeliveryStatus::Delivered,
        Status::Read => DeliveryStatus::Read,
        Status::Failed => DeliveryStatus::Failed,
    }
}

/// Maps a Twilio error answer (`{"code","message",...}`) for plugins that
/// share this crate's error type (twilio-voice).
pub fn twilio_error(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> ProviderError {
    use twilio_wire::ErrorClass as Twilio;
    let error: twilio_wire::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let class = match twilio_wire::classify_error(http_status, error.code) {
        Twilio::InvalidRecipient => ErrorClass::InvalidRecipient,
        Twilio::Rejected => ErrorClass::Rejected,
        Twilio::RateLimited => ErrorClass::RateLimited(twilio_wire::retry_after_ms(retry_after)),
        Twilio::Transient => ErrorClass::Transient,
        Twilio::Auth => ErrorClass::Auth,
        Twilio::InsufficientFunds => ErrorClass::InsufficientFunds,
    };
    ProviderError {
        class,
        code: error
            .code
            .map_or_else(|| http_status.to_string(), |c| c.to_string()),
        message: error
            .message
            .unwrap_or_else(|| format!("Twilio answered HTTP {http_status}")),
    }
}

/// A delivery status, normalised (the WIT `delivery-status`); the same type
/// as Twilio's so the plugin shims share one mapping.
pub use twilio_wire::Status;

/// `Retry-After` in whole seconds as milliseconds, or `default_ms`.
pub fn retry_after_ms(value: Option<&str>, default_ms: u32) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(default_ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn twilio_errors_map() {
        let e = super::twilio_error(400, None, br#"{"code":13224,"message":"Invalid number"}"#);
        assert_eq!(
            (e.class, e.code.as_str()),
            (super::ErrorClass::InvalidRecipient, "13224")
        );
        let e = super::twilio_error(429, Some("3"), b"");
        assert_eq!(e.class, super::ErrorClass::RateLimited(3000));
        assert_eq!(
            super::twilio_error(503, None, b"").class,
            super::ErrorClass::Transient
        );
    }

    #[test]
    fn retry_after() {
        assert_eq!(super::retry_after_ms(Some("2"), 500), 2000);
        assert_eq!(super::retry_after_ms(None, 500), 500);
    }
}

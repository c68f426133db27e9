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

pub use twilio_wire::constant_time_eq;

/// How Herald should treat a provider's refusal. Each module maps its
/// provider's codes to this; the plugin shims turn it into a `send-error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    InvalidRecipient,
    Rejected,
    /// Retry after this many milliseconds.
    RateLimited(u32),
    Transient,
    Auth,
    InsufficientFunds,
    InvalidConfig,
}

/// A provider refusal: how to treat it, and the provider's code and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderError {
    pub class: ErrorClass,
    pub code: String,
    pub message: String,
}

/// Lowercase hex, as HMAC signatures travel in `X-Hub-Signature-256` and
/// Mailgun's webhook `signature`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    fn hex_is_lowercase_and_padded() {
        assert_eq!(super::hex(&[0, 15, 171]), "000fab");
    }

    #[test]
    fn retry_after() {
        assert_eq!(super::retry_after_ms(Some("2"), 500), 2000);
        assert_eq!(super::retry_after_ms(None, 500), 500);
    }
}

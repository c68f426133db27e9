//! Signing forwarded replies. The tenant's endpoint verifies
//! `X-Herald-Signature: t=<unix seconds>,v1=<hex>` where the hex is
//! HMAC-SHA256 over `"<t>.<body>"` keyed with the tenant's webhook secret.
//! The timestamp inside the signed data lets a receiver refuse replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-herald-signature";

/// The header value for `body` sent at `unix_secs`.
pub fn sign(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_secs},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks a header value (constant time), as a receiver would.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

/// A contact address as providers report it, in the form members store:
/// `whatsapp:+1415...` and Meta's bare `1415...` become `+1415...`; emails
/// are compared case-insensitively.
pub fn normalise_address(address: &str) -> String {
    let a = address.trim();
    let a = a.strip_prefix("whatsapp:").unwrap_or(a);
    if a.contains('@') {
        return a.to_ascii_lowercase();
    }
    if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
        return format!("+{a}");
    }
    a.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_detects_tampering() {
        let h = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify("s3cret", &h, b"{\"a\":1}"));
        assert!(!verify("s3cret", &h, b"{\"a\":2}"));
        assert!(!verify("other", &h, b"{\"a\":1}"));
    }

    #[test]
    fn addresses_normalise() {
        assert_eq!(normalise_address("whatsapp:+14155550100"), "+14155550100");
        assert_eq!(normalise_address("14155550100"), "+14155550100");
        assert_eq!(normalise_address("Ana@Example.com"), "ana@example.com");
    }
}

//! Inbound webhooks: signature checks, form and JSON bodies, answers.
//!
//! A signature is checked by the host (`verify-hmac`, contract 1.3): the
//! plugin decodes the provider's hex or base64 into bytes and the host
//! computes the HMAC with the channel's secret and compares in constant
//! time, so neither the key nor the right signature enters the plugin and a
//! forger learns nothing from timing. `matches` keeps the plugin-side
//! comparison (constant-time, `subtle`) for plugins built against an older
//! contract, which compute the HMAC with their own `hmac` import.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::types::{
    Config, Event, HmacAlgorithm, WebhookError, WebhookOutcome, WebhookRequest, WebhookResponse,
};

/// How a provider writes its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Lowercase hex (Meta's `sha256=...` after its prefix, Mailgun, Infobip).
    Hex,
    /// Standard base64 (Twilio).
    Base64,
}

/// `webhooks.handle-webhooks` (contract 1.4) from a plugin's own webhook
/// handling: each request's answer, in order, as `handle(config, request)`
/// gives it.
///
/// ```ignore
/// impl exports::herald::provider::webhooks::Guest for MyProvider {
///     fn handle_webhooks(config: Config, requests: Vec<WebhookRequest>)
///         -> Vec<Result<WebhookOutcome, WebhookError>> {
///         webhook::each(&config, requests, |c, r| Self::handle_webhook(c.clone(), r))
///     }
/// }
/// ```
pub fn each(
    config: &Config,
    requests: Vec<WebhookRequest>,
    mut handle: impl FnMut(&Config, WebhookRequest) -> Result<WebhookOutcome, WebhookError>,
) -> Vec<Result<WebhookOutcome, WebhookError>> {
    requests
        .into_iter()
        .map(|request| handle(config, request))
        .collect()
}

/// A request header's value, by case-insensitive name.
pub fn header<'a>(request: &'a WebhookRequest, name: &str) -> Option<&'a str> {
    crate::answer::header(&request.headers, name)
}

/// A provider's webhook signature: an HMAC under a channel secret, as it
/// travels (`name` is the header or field, named in refusals).
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    pub algorithm: HmacAlgorithm,
    pub secret: &'static str,
    pub encoding: Encoding,
    pub name: &'static str,
}

impl Signature {
    /// Checks `given` against the HMAC of `data`.
    pub fn verify(&self, data: &[u8], given: Option<&str>) -> Result<(), WebhookError> {
        let missing = || WebhookError::Unauthorized(format!("missing {}", self.name));
        let given = given.ok_or_else(missing)?;
        let mismatch = || WebhookError::Unauthorized(format!("{} does not match", self.name));
        let expected = self.decode(given.trim()).ok_or_else(mismatch)?;
        if crate::host::verify_hmac(self.algorithm, self.secret, data, &expected) {
            Ok(())
        } else {
            Err(mismatch())
        }
    }

    /// The signature's bytes, or `None` when it is not in the provider's
    /// encoding (then it cannot match).
    fn decode(&self, given: &str) -> Option<Vec<u8>> {
        match self.encoding {
            Encoding::Hex => hex::decode(given).ok(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode(given).ok(),
        }
    }

    /// Checks `given` against `mac`, an HMAC the plugin had the host
    /// compute (for plugins built against an older contract, whose `hmac`
    /// import is their own).
    pub fn matches(&self, mac: &[u8], given: Option<&str>) -> Result<(), WebhookError> {
        let missing = || WebhookError::Unauthorized(format!("missing {}", self.name));
        let given = given.ok_or_else(missing)?;
        let expected = match self.encoding {
            Encoding::Hex => hex(mac),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
        };
        if constant_time_eq(expected.as_bytes(), given.trim().as_bytes()) {
            Ok(())
        } else {
            let name = self.name;
            Err(WebhookError::Unauthorized(format!("{name} does not match")))
        }
    }

    /// Checks the header `name` of `request` against the HMAC of its body.
    pub fn verify_body(&self, request: &WebhookRequest) -> Result<(), WebhookError> {
        self.verify(&request.body, header(request, self.name))
    }
}

/// Equality whose time depends only on the lengths (which are public).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A form body's (or query string's) pairs, decoded, in order.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `name` in decoded pairs.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A JSON body, or `bad-request` naming what is wrong.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::BadRequest(format!("body: {e}")))
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

/// One delivery update, answered with `204`.
pub fn delivery(update: crate::types::DeliveryUpdate) -> WebhookOutcome {
    accepted(vec![Event::Delivery(update)])
}

/// Events answered with `204`.
pub fn accepted(events: Vec<Event>) -> WebhookOutcome {
    WebhookOutcome {
        events,
        response: no_content(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    #[test]
    fn signatures_verify_and_refuse() {
        testkit::reset();
        testkit::secrets(&[("webhook-secret", "s3cret")]);
        let good = testkit::sign_hex(HmacAlgorithm::Sha256, "s3cret", b"body");
        let scheme = Signature {
            algorithm: HmacAlgorithm::Sha256,
            secret: "webhook-secret",
            encoding: Encoding::Hex,
            name: "X-Signature",
        };
        let check = |data: &[u8], given: Option<&str>| scheme.verify(data, given);
        assert!(check(b"body", Some(&good)).is_ok());
        assert!(
            matches!(check(b"bodY", Some(&good)), Err(WebhookError::Unauthorized(m)) if m == "X-Signature does not match")
        );
        assert!(
            matches!(check(b"body", None), Err(WebhookError::Unauthorized(m)) if m == "missing X-Signature")
        );
        let wrong = testkit::sign_hex(HmacAlgorithm::Sha256, "other", b"body");
        assert!(check(b"body", Some(&wrong)).is_err());
        assert!(
            check(b"body", Some("not hex at all")).is_err(),
            "a signature in the wrong encoding cannot match"
        );
        assert!(
            check(b"body", Some(&good.to_uppercase())).is_ok(),
            "hex is hex in either case"
        );
    }

    #[test]
    fn base64_signatures() {
        testkit::reset();
        testkit::secrets(&[("auth-token", "t")]);
        let good = testkit::sign_base64(HmacAlgorithm::Sha1, "t", b"data");
        let scheme = Signature {
            algorithm: HmacAlgorithm::Sha1,
            secret: "auth-token",
            encoding: Encoding::Base64,
            name: "sig",
        };
        let check = |given: &str| scheme.verify(b"data", Some(given));
        let request = testkit::webhook("POST", "u", &[("SIG", &good)], b"data");
        assert!(
            scheme.verify_body(&request).is_ok(),
            "header names are case-insensitive"
        );
        assert!(check(&good).is_ok());
        assert!(check(&good[1..]).is_err());
    }

    #[test]
    fn bodies_parse() {
        let pairs = form(b"A=1&B=x+y&A=2");
        assert_eq!(param(&pairs, "B"), Some("x y"));
        assert_eq!(param(&pairs, "A"), Some("1"));
        let e = json::<serde_json::Value>(b"{").unwrap_err();
        assert!(matches!(e, WebhookError::BadRequest(m) if m.starts_with("body: ")));
        assert!(constant_time_eq(b"ab", b"ab") && !constant_time_eq(b"ab", b"abc"));
    }
}

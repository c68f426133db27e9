//! Runs a plugin's functions natively (`cargo test`) with a stand-in host:
//! the channel's secrets for `hmac`, recorded provider answers for
//! `http-send` (each request the plugin made is kept for assertions), and
//! the reasons given to `mark-uncertain`. State is per thread, so tests run
//! in parallel; call [`reset`] first.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::types::{
    Config, DeliveryUpdate, Event, Header, HttpError, HttpRequest, HttpResponse, WebhookError,
    WebhookOutcome, WebhookRequest,
};

#[derive(Default)]
struct Host {
    secrets: Vec<(String, String)>,
    answers: VecDeque<Result<HttpResponse, HttpError>>,
    sent: Vec<HttpRequest>,
    uncertain: Vec<String>,
    clock_ms: Option<u64>,
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::default();
}

/// Forgets the secrets, answers, requests and uncertainty of earlier calls.
pub fn reset() {
    HOST.with(|h| *h.borrow_mut() = Host::default());
}

/// The channel's secrets, by name, as the host would hold them.
pub fn secrets(pairs: &[(&str, &str)]) {
    HOST.with(|h| {
        h.borrow_mut().secrets = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    });
}

/// The provider's next answer to `http-send`.
pub fn answer(response: HttpResponse) {
    HOST.with(|h| h.borrow_mut().answers.push_back(Ok(response)));
}

/// The next `http-send` fails without an answer.
pub fn fail(error: HttpError) {
    HOST.with(|h| h.borrow_mut().answers.push_back(Err(error)));
}

/// Stops the host's clock at `ms` since the epoch, so recorded webhooks
/// with timestamps (Mailgun) are fresh.
pub fn clock(ms: u64) {
    HOST.with(|h| h.borrow_mut().clock_ms = Some(ms));
}

/// The requests the plugin made, in order.
pub fn sent() -> Vec<HttpRequest> {
    HOST.with(|h| h.borrow().sent.clone())
}

/// The reasons the plugin gave `mark-uncertain`.
pub fn uncertain() -> Vec<String> {
    HOST.with(|h| h.borrow().uncertain.clone())
}

pub fn config(pairs: &[(&str, &str)]) -> Config {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn response(status: u16, header_pairs: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers(header_pairs),
        body: body.to_vec(),
    }
}

pub fn webhook(
    method: &str,
    url: &str,
    header_pairs: &[(&str, &str)],
    body: &[u8],
) -> WebhookRequest {
    WebhookRequest {
        method: method.into(),
        url: url.into(),
        headers: headers(header_pairs),
        body: body.to_vec(),
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{sign_base64, sign_hex};

/// A body as fixtures record it: JSON (compared structurally), a form
/// (compared as decoded pairs, in order) or plain text.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    Json(serde_json::Value),
    Form(String),
    Text(String),
}

impl Body {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Json(v) => v.to_string().into_bytes(),
            Body::Form(s) | Body::Text(s) => s.clone().into_bytes(),
        }
    }

    /// Whether `bytes` say the same as this body.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self {
            Body::Json(v) => {
                serde_json::from_slice::<serde_json::Value>(bytes).ok() == Some(v.clone())
            }
            Body::Form(s) => crate::webhook::form(s.as_bytes()) == crate::webhook::form(bytes),
            Body::Text(s) => s.as_bytes() == bytes,
        }
    }
}

/// One recorded call to a provider: what the plugin must send (`auth` as
/// `bearer TOKEN` or `basic USER PASSWORD`, with secret placeholders; the
/// listed headers at least) and what the provider answered.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: Option<Body>,
    pub status: u16,
    #[serde(default)]
    pub answer_headers: Vec<(String, String)>,
    pub answer: Body,
}

impl Exchange {
    /// Queues the recorded answer for the plugin's next `http-send`.
    pub fn answer(&self) {
        answer(HttpResponse {
            status: self.status,
            headers: self.answer_headers.clone(),
            body: self.answer.bytes(),
        });
    }

    /// Panics, naming the difference, unless `sent` is the recorded request.
    pub fn assert_sent(&self, sent: &HttpRequest) {
        assert_eq!(sent.method, self.method, "method");
        assert_eq!(sent.url, self.url, "url");
        let auth = match &sent.auth {
            crate::types::HttpAuth::None => None,
            crate::types::HttpAuth::Bearer(t) => Some(format!("bearer {t}")),
            crate::types::HttpAuth::Basic((u, p)) => Some(format!("basic {u} {p}")),
        };
        assert_eq!(auth, self.auth, "auth");
        for (name, value) in &self.headers {
            let got = crate::answer::header(&sent.headers, name);
            assert_eq!(got, Some(value.as_str()), "header {name}");
        }
        if let Some(body) = &self.body {
            let text = String::from_utf8_lossy(&sent.body);
            assert!(body.matches(&sent.body), "body {text} is not {body:?}");
        }
    }
}

/// A recorded webhook call, signed by the provider with `secrets`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Webhook {
    pub secrets: Vec<(String, String)>,
    #[serde(default = "post")]
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

fn post() -> String {
    "POST".into()
}

impl Webhook {
    /// Sets the channel's secrets to the provider's, returns the request.
    pub fn valid(&self) -> WebhookRequest {
        let pairs: Vec<(&str, &str)> = self
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        secrets(&pairs);
        WebhookRequest {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.bytes(),
        }
    }

    /// The same request with one byte of its body changed by a forger.
    pub fn tampered(&self) -> WebhookRequest {
        let mut request = self.valid();
        let last = request.body.len() - 1;
        request.body[last] ^= 0x01;
        request
    }

    /// The request as it arrives at a channel whose secrets differ from the
    /// signer's.
    pub fn wrong_secret(&self) -> WebhookRequest {
        let request = self.valid();
        let other: Vec<(String, String)> = self
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), format!("{v}-not")))
            .collect();
        let pairs: Vec<(&str, &str)> = other
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        secrets(&pairs);
        request
    }
}

/// The one delivery update of a webhook's outcome; panics otherwise.
pub fn only_delivery(outcome: &WebhookOutcome) -> &DeliveryUpdate {
    match outcome.events.as_slice() {
        [Event::Delivery(update)] => update,
        events => panic!("one delivery update expected, got {events:?}"),
    }
}

/// Panics unless each forged request is refused as `unauthorized` with
/// `reason`.
pub fn assert_refused(
    handle: impl Fn(WebhookRequest) -> Result<WebhookOutcome, WebhookError>,
    forged: impl IntoIterator<Item = WebhookRequest>,
    reason: &str,
) {
    for request in forged {
        match handle(request) {
            Err(WebhookError::Unauthorized(m)) if m == reason => {}
            other => panic!("expected unauthorized({reason:?}), got {other:?}"),
        }
    }
}

/// A fresh host whose provider will answer as recorded in the exchange
/// at `path`; the exchange, to check what the plugin sent.
pub fn replay(path: impl AsRef<std::path::Path>) -> Exchange {
    reset();
    let exchange: Exchange = fixture(path);
    exchange.answer();
    exchange
}

/// Reads a fixture file (JSON) of an [`Exchange`] or [`Webhook`].
pub fn fixture<T: serde::de::DeserializeOwned>(path: impl AsRef<std::path::Path>) -> T {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};

    use super::HOST;
    use crate::types::{HmacAlgorithm, HttpError, HttpRequest, HttpResponse};

    pub fn http_send(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        HOST.with(|h| {
            let mut host = h.borrow_mut();
            host.sent.push(request.clone());
            host.answers.pop_front().unwrap_or_else(|| {
                panic!(
                    "test kit: no recorded answer for {} {}",
                    request.method, request.url
                )
            })
        })
    }

    fn secret(name: &str) -> Option<String> {
        HOST.with(|h| {
            h.borrow()
                .secrets
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    pub fn secret_equals(name: &str, candidate: &str) -> bool {
        secret(name)
            .is_some_and(|s| crate::webhook::constant_time_eq(s.as_bytes(), candidate.as_bytes()))
    }

    pub fn hmac(algorithm: HmacAlgorithm, name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        let key = secret(name).ok_or_else(|| format!("no secret named {name}"))?;
        Ok(mac(algorithm, key.as_bytes(), data))
    }

    pub fn verify_hmac(algorithm: HmacAlgorithm, name: &str, data: &[u8], expected: &[u8]) -> bool {
        secret(name).is_some_and(|key| {
            crate::webhook::constant_time_eq(&mac(algorithm, key.as_bytes(), data), expected)
        })
    }

    pub fn now() -> u64 {
        let stopped = HOST.with(|h| h.borrow().clock_ms);
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        stopped.unwrap_or_else(|| since.map_or(0, |d| d.as_millis() as u64))
    }

    pub fn mark_uncertain(reason: &str) {
        HOST.with(|h| h.borrow_mut().uncertain.push(reason.to_owned()));
    }

    fn mac(algorithm: HmacAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
        match algorithm {
            HmacAlgorithm::Sha1 => {
                let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            HmacAlgorithm::Sha256 => {
                let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// What a provider holding `key` would sign `data` with, in hex.
    pub fn sign_hex(algorithm: HmacAlgorithm, key: &str, data: &[u8]) -> String {
        crate::webhook::hex(&mac(algorithm, key.as_bytes(), data))
    }

    /// The same in base64 (Twilio).
    pub fn sign_base64(algorithm: HmacAlgorithm, key: &str, data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(mac(algorithm, key.as_bytes(), data))
    }
}

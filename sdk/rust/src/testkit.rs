//! Runs a plugin's functions natively (`cargo test`) with a stand-in host:
//! the channel's secrets for `hmac`, recorded provider answers for
//! `http-send` (each request the plugin made is kept for assertions), and
//! the reasons given to `mark-uncertain`. State is per thread, so tests run
//! in parallel; call [`reset`] first.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::types::{Config, Header, HttpError, HttpRequest, HttpResponse, WebhookRequest};

#[derive(Default)]
struct Host {
    secrets: Vec<(String, String)>,
    answers: VecDeque<Result<HttpResponse, HttpError>>,
    sent: Vec<HttpRequest>,
    uncertain: Vec<String>,
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

    pub fn hmac(algorithm: HmacAlgorithm, name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        let key = HOST.with(|h| {
            h.borrow()
                .secrets
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        });
        let key = key.ok_or_else(|| format!("no secret named {name}"))?;
        Ok(mac(algorithm, key.as_bytes(), data))
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

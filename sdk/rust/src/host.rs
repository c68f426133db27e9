//! The host's imports as plugins call them. In a component they are the
//! real imports; natively (`cargo test`) they answer from the [`testkit`]
//! (crate::testkit), so request building, answer mapping and webhook checks
//! run without a host.

use crate::types::{HmacAlgorithm, HttpError, HttpRequest, HttpResponse, SendError};

#[cfg(target_arch = "wasm32")]
pub fn http_send(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
    crate::imports::http_send(request)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn http_send(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
    crate::testkit::native::http_send(request)
}

/// HMAC of `data` keyed with the channel secret `secret_name`, computed by
/// the host (the key never enters the plugin).
#[cfg(target_arch = "wasm32")]
pub fn hmac(algorithm: HmacAlgorithm, secret_name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    crate::imports::hmac(algorithm, secret_name, data)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn hmac(algorithm: HmacAlgorithm, secret_name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    crate::testkit::native::hmac(algorithm, secret_name, data)
}

/// Whether `expected` (a provider's signature, decoded to bytes) is the
/// HMAC of `data` under the channel secret `secret_name`. Since contract
/// 1.3 the host computes and compares (constant-time): the plugin learns
/// only yes or no.
#[cfg(target_arch = "wasm32")]
pub fn verify_hmac(
    algorithm: HmacAlgorithm,
    secret_name: &str,
    data: &[u8],
    expected: &[u8],
) -> bool {
    crate::signatures::verify_hmac(algorithm, secret_name, data, expected)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn verify_hmac(
    algorithm: HmacAlgorithm,
    secret_name: &str,
    data: &[u8],
    expected: &[u8],
) -> bool {
    crate::testkit::native::verify_hmac(algorithm, secret_name, data, expected)
}

/// Whether `candidate` equals the channel secret `secret_name`, compared by
/// the host (for providers that put a shared token in the URL).
#[cfg(target_arch = "wasm32")]
pub fn secret_equals(secret_name: &str, candidate: &str) -> bool {
    crate::imports::secret_equals(secret_name, candidate)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn secret_equals(secret_name: &str, candidate: &str) -> bool {
    crate::testkit::native::secret_equals(secret_name, candidate)
}

/// The host's clock, milliseconds since the Unix epoch (webhook freshness).
#[cfg(target_arch = "wasm32")]
pub fn now() -> u64 {
    crate::imports::now()
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now() -> u64 {
    crate::testkit::native::now()
}

#[cfg(target_arch = "wasm32")]
pub fn mark_uncertain(reason: &str) {
    crate::uncertainty::mark_uncertain(reason)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn mark_uncertain(reason: &str) {
    crate::testkit::native::mark_uncertain(reason)
}

/// Sends each request for the message at its tag at once (1.5
/// `batch-http.http-send-all`): one answer per request, in order. Natively
/// the test kit answers them one after the other.
#[cfg(target_arch = "wasm32")]
pub fn http_send_all(
    requests: &[crate::batch_http::MessageRequest],
) -> Vec<Result<HttpResponse, HttpError>> {
    crate::batch_http::http_send_all(requests)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn http_send_all(
    requests: &[crate::batch_http::MessageRequest],
) -> Vec<Result<HttpResponse, HttpError>> {
    requests
        .iter()
        .map(|r| crate::testkit::native::http_send(&r.request))
        .collect()
}

/// `mark-uncertain` for one message of the `send-all` under way (1.5).
#[cfg(target_arch = "wasm32")]
pub fn mark_uncertain_message(message: u32, reason: &str) {
    crate::batch_http::mark_uncertain_message(message, reason)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn mark_uncertain_message(message: u32, reason: &str) {
    crate::testkit::native::mark_uncertain(&format!("message {message}: {reason}"))
}

/// Sends `request`, a failure to get any answer mapped to `send-error`.
pub fn send(provider: &str, request: &HttpRequest) -> Result<HttpResponse, SendError> {
    http_send(request).map_err(|e| crate::answer::transport(provider, e))
}

//! One `http-send` exchange as the host makes it for a plugin: sent from
//! the right runtime, its answer read up to a cap, and how it ended for
//! the provider recorded in the wire logs of the messages it was made for
//! (see `wire`).

use std::time::Instant;

use super::bindings::herald::provider::types::{HttpError, HttpResponse};
use super::wire::{Exchange, WireLog, begin_for};

/// Largest response body handed back to a plugin by `http-send`.
pub(super) const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The least each response of an `http-send-all` may hold: a batch's
/// answers share [`MAX_RESPONSE_BYTES`] between them, but never below
/// this, so 64 answers hold at most 16 MiB (the default instance memory
/// cap they must fit into anyway) and a provider's error page still fits.
const MIN_BATCH_RESPONSE_BYTES: usize = 256 << 10;

/// The largest body each of `requests` answers may have, sent together.
pub(super) fn response_cap(requests: usize) -> usize {
    (MAX_RESPONSE_BYTES / requests.max(1)).max(MIN_BATCH_RESPONSE_BYTES)
}

/// Sends a built request for the messages whose `logs` are given,
/// recording in them how the exchange ended for the provider; from `home`
/// when the call runs off the server's runtime (see
/// `HostState::sending_from`). Takes the call's parts, not its host state,
/// which cannot be shared across threads while the request is awaited.
pub(super) async fn exchange(
    home: Option<&tokio::runtime::Handle>,
    logs: &[WireLog],
    builder: reqwest::RequestBuilder,
    cap: usize,
) -> Result<HttpResponse, HttpError> {
    let exchange = begin_for(logs);
    let (result, how) = match home {
        None => send_and_read(builder, cap).await,
        Some(home) => super::heavy_lane::run_on(home, send_and_read(builder, cap))
            .await
            .unwrap_or_else(|e| {
                let lost = HttpError::Connection(format!("the request's task ended: {e}"));
                (Err(lost), Exchange::Lost)
            }),
    };
    exchange.finish(how);
    result
}

/// The log line of one finished `http-send` exchange of `plugin`'s.
pub(super) fn log_exchange(
    plugin: &str,
    method: &str,
    target: &str,
    started: Instant,
    result: &Result<HttpResponse, HttpError>,
) {
    match result {
        Ok(resp) => tracing::debug!(plugin, %method, url = %target,
            status = resp.status, elapsed_ms = started.elapsed().as_millis() as u64, "plugin http-send"),
        Err(e) => tracing::warn!(plugin, %method, url = %target,
            error = ?e, elapsed_ms = started.elapsed().as_millis() as u64, "plugin http-send failed"),
    }
}

/// The answer, and how the exchange ended for the provider (see `wire`).
async fn send_and_read(
    builder: reqwest::RequestBuilder,
    cap: usize,
) -> (Result<HttpResponse, HttpError>, Exchange) {
    let mut resp = match builder.send().await {
        Ok(resp) => resp,
        // No connection: the request cannot have been written.
        Err(e) if e.is_connect() => return (Err(classify(e)), Exchange::Unreached),
        Err(e) => return (Err(classify(e)), Exchange::Lost),
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    let too_big =
                        HttpError::Connection(format!("response body larger than {cap} bytes"));
                    return (Err(too_big), Exchange::Answered(status));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            // The answer was cut short: what it said is not known.
            Err(e) => return (Err(classify(e)), Exchange::Lost),
        }
    }
    let answer = HttpResponse {
        status,
        headers,
        body,
    };
    (Ok(answer), Exchange::Answered(status))
}

fn classify(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else {
        HttpError::Connection(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch's answers share `http-send`'s cap, each keeping at least
    /// enough for an error page: 64 of them hold at most 16 MiB.
    #[test]
    fn a_batchs_answers_share_the_response_cap() {
        assert_eq!(response_cap(1), MAX_RESPONSE_BYTES);
        assert_eq!(response_cap(8), 512 << 10);
        assert_eq!(response_cap(64), 256 << 10);
        assert_eq!(response_cap(64) * 64, 16 << 20);
    }
}

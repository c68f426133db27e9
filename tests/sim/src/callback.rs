//! Webhooks from the simulator to the receiver under test, for the
//! providers added after Twilio Messaging: loopback only, one retry, and
//! counted in [`crate::Stats`] like Twilio's status callbacks.

use std::time::Duration;

use crate::Shared;
use crate::twilio::is_loopback;

/// A request the simulator makes to the receiver: a POST with a body, or
/// a GET whose parameters are in the URL (Vonage's default).
pub(crate) struct Outgoing {
    pub(crate) method: reqwest::Method,
    pub(crate) url: String,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Outgoing {
    pub(crate) fn json(url: &str, body: &serde_json::Value) -> Outgoing {
        Outgoing {
            method: reqwest::Method::POST,
            url: url.to_owned(),
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn form(url: &str, params: &[(String, String)]) -> Outgoing {
        Outgoing {
            method: reqwest::Method::POST,
            url: url.to_owned(),
            content_type: "application/x-www-form-urlencoded",
            headers: Vec::new(),
            body: serde_urlencoded::to_string(params)
                .unwrap_or_default()
                .into_bytes(),
        }
    }

    /// A GET of `url` with `params` appended to its query string.
    pub(crate) fn get(url: &str, params: &[(String, String)]) -> Outgoing {
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        let separator = if url.contains('?') { '&' } else { '?' };
        Outgoing {
            method: reqwest::Method::GET,
            url: format!("{url}{separator}{query}"),
            content_type: "",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Outgoing {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// The receiver's answer: status and body.
pub(crate) type Answer = (u16, Vec<u8>);

/// One attempt. Refuses anything not on the loopback interface.
pub(crate) async fn request(shared: &Shared, out: &Outgoing) -> Result<Answer, String> {
    if !is_loopback(&out.url) {
        tracing::warn!(
            url = out.url,
            "webhook refused: the simulator only calls loopback addresses"
        );
        return Err(format!("{} is not a loopback URL", out.url));
    }
    let mut request = shared.http.request(out.method.clone(), &out.url);
    if out.method != reqwest::Method::GET {
        request = request
            .header("content-type", out.content_type)
            .body(out.body.clone());
    }
    for (name, value) in &out.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, body.to_vec()))
}

/// One attempt plus one retry after 200 ms, counted (unless a reset
/// happened since `epoch`); true on a 2xx.
pub(crate) async fn deliver(shared: &Shared, epoch: u64, out: &Outgoing) -> bool {
    let mut delivered = false;
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match request(shared, out).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                delivered = true;
                break;
            }
            Ok((status, _)) => tracing::debug!(url = out.url, status, attempt, "webhook refused"),
            Err(error) if !is_loopback(&out.url) => {
                tracing::debug!(url = out.url, error, "webhook not sent");
                break;
            }
            Err(error) => tracing::debug!(url = out.url, error, attempt, "webhook failed"),
        }
    }
    shared.count_callback(epoch, delivered);
    delivered
}

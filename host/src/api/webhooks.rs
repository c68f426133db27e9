//! Provider webhooks: `/webhooks/{channel}` (and `/webhooks/{channel}/token/
//! {token}`, for providers that cannot sign and carry a token in the URL
//! instead) hands the raw request to the channel's plugin (which verifies
//! it) and answers what the plugin says.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use crate::plugins::wit;
use crate::store::Id;

/// The channel from either route; the token stays in the URL the plugin
/// reads.
#[derive(Deserialize)]
pub struct WebhookPath {
    channel: Id,
}

pub async fn receive(
    State(state): State<AppState>,
    Path(WebhookPath { channel }): Path<WebhookPath>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Signatures cover the URL the provider called, i.e. our public URL.
    let url = format!(
        "{}{}",
        state.public_url.trim_end_matches('/'),
        uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/")
    );
    let request = wit::WebhookRequest {
        method: method.to_string(),
        url,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let reply = state.engine.handle_webhook(channel, request).await;
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap_or_else(|_| {
        Response::builder()
            .status(500)
            .body(Body::empty())
            .expect("static response")
    })
}

/// `path` as access logs may show it: a webhook token in the path (the
/// segment after `/token/`) is a credential and is replaced.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/webhooks/") {
        Some(rest) if rest.contains("/token/") => {
            let channel = rest.split('/').next().unwrap_or_default();
            format!("/webhooks/{channel}/token/[redacted]").into()
        }
        _ => path.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn webhook_tokens_never_reach_the_access_log() {
        assert_eq!(
            loggable_path("/webhooks/7/token/5f2a9c"),
            "/webhooks/7/token/[redacted]"
        );
        assert_eq!(
            loggable_path("/webhooks/7/token/a/b"),
            "/webhooks/7/token/[redacted]"
        );
        assert_eq!(loggable_path("/webhooks/7"), "/webhooks/7");
        assert_eq!(loggable_path("/v1/campaigns/3"), "/v1/campaigns/3");
    }
}

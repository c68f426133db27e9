//! Provider webhooks: `/webhooks/{channel}` (and `/webhooks/{channel}/token/
//! {token}`, for providers that cannot sign and carry a token in the URL
//! instead) hands the raw request to the channel's plugin (which verifies
//! it) and answers what the plugin says. Before that, a source barred for
//! its refused webhooks gets 429 (`webhook_sources`), and a body over what
//! the channel's plugin takes gets 413: neither reaches the plugin.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::upload::{declared_length, drain};
use super::webhook_sources::Source;
use crate::engine::{VERSION_PARAM, WebhookReply, webhook_result};
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(WebhookPath { channel }): Path<WebhookPath>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let source = Source::of(peer.ip());
    if let Err(barred) = state.webhook_sources.admit(source) {
        return barred.into_response();
    }
    let reply = match answer(&state, channel, method, uri, headers, body).await {
        Ok(reply) => reply,
        Err(unread) => {
            state.webhook_sources.refused(source);
            return unread.into_response();
        }
    };
    if reply.refused {
        state.webhook_sources.refused(source);
    }
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

/// The channel's answer; `Err` for a body over what its plugin takes.
async fn answer(
    state: &AppState,
    channel: Id,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<WebhookReply, ApiError> {
    // Callbacks of a canary's sends name its version (see `engine`).
    let version = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == VERSION_PARAM)
        .map(|(_, sha)| sha.into_owned());
    let target = match state
        .engine
        .webhook_target(channel, version.as_deref())
        .await
    {
        Ok(target) => target,
        Err(reply) => return Ok(reply),
    };
    let body = read_capped(body, &headers, target.max_body).await?;
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
        body,
    };
    Ok(state.engine.handle_webhook(target, request).await)
}

/// The body, if at most `max` bytes: a larger one is refused at its
/// declared length or at the first byte too many, before it is all held.
async fn read_capped(body: Body, headers: &HeaderMap, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        webhook_result("too_large");
        ApiError::TooLarge {
            field: "body",
            message: format!("a webhook body to this channel is at most {max} bytes"),
        }
    };
    let mut stream = body.into_data_stream();
    if declared_length(headers).is_some_and(|n| n > max as u64) {
        drain(stream).await;
        return Err(too_large());
    }
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            field: Some("body".into()),
            message: format!("reading the body failed: {e}"),
        })?;
        if read.len() + chunk.len() > max {
            drain(stream).await;
            return Err(too_large());
        }
        read.extend_from_slice(&chunk);
    }
    Ok(read)
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

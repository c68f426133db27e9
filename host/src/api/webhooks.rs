//! Provider webhooks: `/webhooks/{channel}` hands the raw request to the
//! channel's plugin (which verifies it) and answers what the plugin says.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use super::AppState;
use crate::plugins::wit;
use crate::store::Id;

pub async fn receive(
    State(state): State<AppState>,
    Path(channel): Path<Id>,
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

//! `/_sim/*`: the simulator's own HTTP endpoints, so a test (or a person
//! running `herald serve --demo`) can read the counters without the library.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::{ReceivedMessage, Shared, Stats};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/messages", get(messages))
        .route("/_sim/reset", post(reset))
        .route("/_sim/webhooks", post(set_webhook))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    Json(shared.lock().stats.clone())
}

#[derive(Deserialize)]
struct MessagesQuery {
    provider: Option<String>,
}

/// Every accepted message, or one provider's with `?provider=whatsapp`.
async fn messages(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<MessagesQuery>,
) -> Json<Vec<ReceivedMessage>> {
    let state = shared.lock();
    Json(match query.provider {
        Some(provider) => state.messages_for(&provider),
        None => state.messages.clone(),
    })
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Webhook {
    /// `whatsapp`, `whatsapp:{phone-number-id}` or `mailgun`.
    provider: String,
    url: String,
}

/// Same as [`crate::Simulator::set_webhook_url`].
async fn set_webhook(State(shared): State<Arc<Shared>>, Json(hook): Json<Webhook>) -> StatusCode {
    shared.set_webhook_url(&hook.provider, &hook.url);
    StatusCode::NO_CONTENT
}

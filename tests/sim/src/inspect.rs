//! `/_sim/*`: the simulator's own HTTP endpoints, so a test (or a person
//! running `herald serve --demo`) can read the counters without the library.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::{ReceivedMessage, Shared, Stats};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/messages", get(messages))
        .route("/_sim/reset", post(reset))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    Json(shared.lock().stats.clone())
}

async fn messages(State(shared): State<Arc<Shared>>) -> Json<Vec<ReceivedMessage>> {
    Json(shared.lock().messages.clone())
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

use std::sync::Arc;

use axum::Router;

use crate::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

use std::sync::Arc;

use axum::Router;

use crate::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

pub(crate) async fn inbound(_: &Shared, _: &str, _: &str, _: &str, _: &str) -> bool {
    false
}

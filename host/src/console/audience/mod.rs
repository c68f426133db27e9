//! The audience screens (issue 15): the tenant's lists, a list's contacts
//! (search, edit, delete, export), deleting a list, and the CSV upload with
//! its column mapping, dry-run report, commit and progress. Every change
//! goes through the same functions as the API's handlers.

mod contact;
mod import;
mod import_job;
mod lists;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::api::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audience", get(lists::index))
        .route("/audience/lists", post(lists::create))
        .route("/audience/lists/{id}", get(lists::show))
        .route("/audience/lists/{id}/delete", post(lists::delete))
        .route("/audience/lists/{id}/export.csv", get(lists::export))
        .route(
            "/audience/lists/{id}/contacts/{contact}/remove",
            post(contact::remove_from_list),
        )
        .route(
            "/audience/contacts/{id}",
            get(contact::edit).post(contact::save),
        )
        .route("/audience/contacts/{id}/delete", post(contact::delete))
        // The file streams to disk under the import limit, not the default
        // 2 MB of an in-memory form.
        .route(
            "/audience/lists/{id}/import",
            get(import::form)
                .post(import::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/audience/lists/{id}/import/{token}",
            get(import::mapping).post(import::check),
        )
        .route("/audience/imports/{id}", get(import_job::show))
        .route("/audience/imports/{id}/commit", post(import_job::commit))
        .route(
            "/audience/imports/{id}/rejections.csv",
            get(import_job::rejections_csv),
        )
}

/// "1 campaign", "3 contacts": a count with its noun.
fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

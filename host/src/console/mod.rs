//! The console: the screens of the seeds, served by `herald serve` at `/`,
//! rendered on the server from the same store and lifecycle calls as the
//! API (one toolchain, one binary, no page state to keep in step with the
//! server; a few lines of script only refresh the grid's progress). Signed
//! in by a session cookie (`session`), never by a key kept in the page.

mod audience;
mod audit_trail;
mod campaign_form;
mod campaigns;
mod channel_form;
mod channels;
mod form_fields;
mod form_view;
mod forms;
mod layout;
mod login;
mod login_link;
mod member;
mod performance;
mod plugin_upload;
mod plugins;
mod review_queue;
mod session;
mod settings;

pub use login_link::issue as sign_in_link;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/campaigns") }))
        .route("/login", get(login::show).post(login::sign_in))
        .route("/logout", post(login::sign_out))
        .route("/campaigns", get(campaigns::grid))
        .route("/campaigns/live", get(campaigns::live))
        .route("/campaigns/{id}", get(campaigns::detail))
        .route("/campaigns/{id}/act", post(campaigns::act))
        .route("/campaigns/{id}/members/{member}", get(member::show))
        .merge(campaign_form::routes())
        .merge(plugins::routes())
        .merge(channels::routes().merge(login_link::routes()))
        .merge(audience::routes())
        .merge(settings::routes())
}

/// A page that only says why there is nothing to show.
fn message(
    status: StatusCode,
    title: &str,
    body: maud::Markup,
    signed: Option<&session::Signed>,
) -> Response {
    let html = match signed {
        Some(signed) => layout::page(title, signed, body),
        None => layout::shell(title, maud::html! { main { (body) } }),
    };
    (status, Html(html.into_string())).into_response()
}

/// No such page for this tenant (another tenant's campaign, list or
/// contact is the same).
fn not_found(signed: &session::Signed) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        maud::html! { h1 { "Not found" } p { "There is nothing here: it does not exist, or it is not yours. " a href="/" { "Back to the start" } } },
        Some(signed),
    )
}

/// A form post without its session's CSRF token.
fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Refused",
        maud::html! { h1 { "Refused" } p { "This form is out of date or did not come from Herald. Go back, reload the page and try again." } },
        None,
    )
}

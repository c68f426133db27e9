//! The admin's view of the installed plugins (the first of the admin
//! screens: upload, activate and roll back stay in the API for now).

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page;
use super::session::Signed;
use crate::api::AppState;

pub async fn list(State(state): State<AppState>, signed: Signed) -> Response {
    if signed.tenant().is_some() {
        return Redirect::to("/campaigns").into_response();
    }
    let mut plugins = state.registry.all();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    let body = html! {
        h1 { "Plugins" }
        table #plugins {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Active version" } th scope="col" { "sha256" } } }
            tbody {
                @for p in &plugins {
                    tr { td { (p.name()) } td { (p.version()) } td.muted { code { (&p.sha256[..12]) } } }
                }
            }
        }
    };
    Html(page("Plugins", &signed, body).into_string()).into_response()
}

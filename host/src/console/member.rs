//! One member's page: where its journey stands and everything that
//! happened to it (seed 004's contact detail, within its campaign).

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use super::campaigns::local;
use super::layout::page;
use super::session::Signed;
use crate::api::AppState;
use crate::store::{Id, StoreError};

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path((campaign, member)): Path<(Id, Id)>,
) -> Response {
    let Some(tenant) = signed.tenant() else {
        return super::not_found(&signed);
    };
    let journey = match state.store.journey(tenant.id, campaign, member).await {
        Ok(j) => j,
        Err(StoreError::NotFound) => return super::not_found(&signed),
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let body = html! {
        p { a href={ "/campaigns/" (campaign) } { "← The campaign" } }
        h1 { (journey.address) }
        div.card {
            p { "Status: " strong #member-status { (journey.status.as_str()) } " · step " (journey.current_step) }
            @if let Some(next) = &journey.next {
                p.muted { "Next outreach: " (next.step) " at " (local(next.at, tenant)) }
            }
        }
        h2 { "History" }
        @if journey.history.is_empty() {
            div.empty { p { "Nothing has happened to this member yet." } }
        } @else {
            table #history {
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Detail" } } }
                tbody {
                    @for e in &journey.history {
                        tr { td { (local(e.at, tenant)) } td.kind { (e.kind) } td { (e.detail) } }
                    }
                }
            }
        }
    };
    Html(page(&journey.address, &signed, body).into_string()).into_response()
}

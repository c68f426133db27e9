//! The do-not-contact list on the settings page: add an address, import a
//! CSV of them, remove one; listed by address in keyset pages. Adding,
//! importing and removing are the API's own functions.

use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::super::campaigns::local;
use super::super::forms::{
    Problem, banner, csrf_of, described, field_error, problem, some_text, value,
};
use super::super::session::Signed;
use super::{Section, View, render};
use crate::api::dnc::AddDnc;
use crate::api::{ApiError, AppState};
use crate::store::Tenant;

/// Addresses a page shows.
const PAGE: i64 = 50;
/// The largest CSV the form takes: the API's request body limit.
pub const MAX_FILE_BYTES: usize = 16 << 20;

pub async fn section(
    state: &AppState,
    signed: &Signed,
    tenant: &Tenant,
    view: &View,
) -> Result<Markup, ApiError> {
    let after = view.paging.dnc_after.trim();
    let mut entries = state.store.dnc_page(tenant.id, after, PAGE + 1).await?;
    let next = if entries.len() as i64 > PAGE {
        entries.truncate(PAGE as usize);
        entries.last().map(|e| e.address.clone())
    } else {
        None
    };
    let adding = view.problem(Section::Dnc);
    let importing = view.problem(Section::DncImport);
    let typed = |name: &str| {
        view.typed(Section::Dnc)
            .and_then(|t| value(t, name).cloned())
            .unwrap_or_default()
    };
    Ok(html! {
        section #dnc {
            h2 { "Do not contact" }
            p.muted { "Nobody on this list is sent anything, by any campaign. Replies such as STOP add people here on their own." }
            div.split {
                form.card.stack #dnc-form method="post" action="/settings/dnc" {
                    h3 { "Add one" }
                    input type="hidden" name="csrf" value=(signed.csrf);
                    (banner(adding, &["address"]))
                    label for="dnc-address" { "Phone (E.164) or email" }
                    input #dnc-address type="text" name="address" value=(typed("address")) required
                        placeholder="+14155550100" aria-describedby=[described(adding, "address")];
                    (field_error(adding, "address"))
                    label for="dnc-note" { "Note (optional)" }
                    input #dnc-note type="text" name="note" value=(typed("note"));
                    p { button type="submit" { "Add to the list" } }
                }
                form.card.stack #dnc-import-form method="post" action="/settings/dnc/import" enctype="multipart/form-data" {
                    h3 { "Import a CSV" }
                    input type="hidden" name="csrf" value=(signed.csrf);
                    (banner(importing, &["file"]))
                    label for="dnc-file" { "CSV file with a phone or email column" }
                    input #dnc-file type="file" name="file" accept=".csv,text/csv" required
                        aria-describedby=[described(importing, "file")];
                    (field_error(importing, "file"))
                    p { button type="submit" { "Import" } }
                }
            }
            @if entries.is_empty() {
                div.empty { @if after.is_empty() { p { "The list is empty. Add an address or import a CSV above." } } @else { p { "No more addresses." } } }
            } @else {
                table #dnc-list {
                    thead { tr {
                        th scope="col" { "Address" } th.hide-narrow scope="col" { "Source" }
                        th.hide-narrow scope="col" { "Added" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for e in &entries {
                            tr data-address=(e.address) {
                                td.address { (e.address) @if let Some(n) = &e.note { " " span.muted { "· " (n) } } }
                                td.hide-narrow { (e.source) }
                                td.hide-narrow { (local(e.created_at, tenant)) }
                                td {
                                    form.inline method="post" action="/settings/dnc/remove"
                                        onsubmit="return confirm('Remove this address? It can be sent to again.')" {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        input type="hidden" name="address" value=(e.address);
                                        button.link.danger-text type="submit" aria-label={ "Remove " (e.address) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Do-not-contact pages" {
                @if !after.is_empty() { a href="/settings#dnc" { "← First page" } }
                @if let Some(last) = next {
                    a href={ "/settings?" (url::form_urlencoded::Serializer::new(String::new()).append_pair("dnc_after", &last).finish()) "#dnc" } { "Next " (PAGE) " →" }
                }
            }
        }
    })
}

pub async fn add(
    State(state): State<AppState>,
    signed: Signed,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&f)) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let req = AddDnc {
        addresses: some_text(value(&f, "address")).into_iter().collect(),
        note: some_text(value(&f, "note")),
    };
    match crate::api::dnc::add_addresses(&state, tenant.id, req).await {
        Ok(_) => Redirect::to("/settings?saved=dnc#dnc").into_response(),
        Err(e) => match problem(e) {
            Ok(p) => {
                let p = p
                    .renamed("addresses[0]", "address")
                    .renamed("addresses", "address");
                let view = View {
                    problem: Some((Section::Dnc, p)),
                    typed: Some(f),
                    ..View::default()
                };
                render(&state, &signed, view).await
            }
            Err(e) => e.into_response(),
        },
    }
}

pub async fn remove(
    State(state): State<AppState>,
    signed: Signed,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&f)) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let address = value(&f, "address").cloned().unwrap_or_default();
    match crate::api::dnc::remove_address(&state, tenant.id, &address).await {
        Ok(()) => Redirect::to("/settings?saved=dnc-removed#dnc").into_response(),
        Err(e) => match problem(e) {
            Ok(p) => {
                let view = View {
                    problem: Some((Section::Dnc, p.renamed("address", "remove"))),
                    ..View::default()
                };
                render(&state, &signed, view).await
            }
            Err(e) => e.into_response(),
        },
    }
}

/// Reads the form (CSRF token first, then the file, held in memory as the
/// API's import holds its body) and lists the file's addresses.
pub async fn import(state: AppState, signed: Signed, mut form: Multipart) -> Response {
    let mut csrf_ok = false;
    let mut file = None;
    let refuse = |p: Problem| View {
        problem: Some((Section::DncImport, p)),
        ..View::default()
    };
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("csrf") => csrf_ok = signed.csrf_ok(&field.text().await.unwrap_or_default()),
                Some("file") if csrf_ok => match field.bytes().await {
                    Ok(b) => file = Some(b),
                    Err(e) => {
                        let p = Problem {
                            status: StatusCode::PAYLOAD_TOO_LARGE,
                            field: Some("file".into()),
                            message: format!(
                                "the file could not be read (at most {} MB): {e}",
                                MAX_FILE_BYTES >> 20
                            ),
                        };
                        return render(&state, &signed, refuse(p)).await;
                    }
                },
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                let p = Problem::field("file", format!("the upload was interrupted: {e}"));
                return render(&state, &signed, refuse(p)).await;
            }
        }
    }
    if !csrf_ok {
        return super::super::forbidden();
    }
    let tenant = match signed.tenant_page() {
        Ok(t) => t.clone(),
        Err(r) => return *r,
    };
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return render(
            &state,
            &signed,
            refuse(Problem::field("file", "choose a CSV file")),
        )
        .await;
    };
    match crate::api::dnc::import_csv(&state, &tenant, None, &file).await {
        Ok(done) => {
            let notice = html! {
                @let skipped = done.rejected.len();
                "Imported: " (done.added) @if done.added == 1 { " new address listed" } @else { " new addresses listed" }
                @if skipped > 0 {
                    "; " (skipped) @if skipped == 1 { " row skipped:" } @else { " rows skipped:" }
                    ul #dnc-rejected { @for (row, why) in done.rejected.iter().take(100) { li { "row " (row) ": " (why) } } }
                }
            };
            let view = View {
                notice: Some(notice),
                ..View::default()
            };
            render(&state, &signed, view).await
        }
        Err(e) => match problem(e) {
            Ok(p) => render(&state, &signed, refuse(p)).await,
            Err(e) => e.into_response(),
        },
    }
}

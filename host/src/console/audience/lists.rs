//! The tenant's lists (name, size, created, the campaigns using each), a
//! new list, a list's page (its contacts searched and paged by keyset, its
//! export and upload), and deleting a list no campaign uses.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::campaigns::local;
use super::super::forms::{Problem, banner, described, field_error, problem};
use super::super::layout::page;
use super::super::session::{CsrfOnly, Signed};
use super::count;
use crate::api::AppState;
use crate::store::{ContactList, Id, ImportJob, StoreError, Tenant};

/// Contacts on a list's page.
const CONTACTS_PAGE: i64 = 50;

pub async fn index(State(state): State<AppState>, signed: Signed) -> Response {
    lists_page(&state, &signed, None, "").await
}

async fn lists_page(
    state: &AppState,
    signed: &Signed,
    problem: Option<&Problem>,
    typed: &str,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let loaded = async {
        Ok::<_, StoreError>((
            state.store.lists(tenant.id).await?,
            state.store.list_campaign_counts(tenant.id).await?,
        ))
    };
    let (lists, used) = match loaded.await {
        Ok(l) => l,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let body = html! {
        h1 { "Audience" }
        p.muted { "Your contact lists. Open one to see its contacts, upload a CSV into it or export it." }
        @if lists.is_empty() {
            div.empty {
                p { strong { "No lists yet." } }
                p { "Create a list below, then upload a CSV of contacts into it." }
            }
        } @else {
            table #lists {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Contacts" }
                    th.hide-narrow scope="col" { "Created" } th scope="col" { "In use by" }
                } }
                tbody {
                    @for l in &lists {
                        @let campaigns = used.get(&l.id).copied().unwrap_or(0);
                        tr data-list=(l.id) {
                            td { a href={ "/audience/lists/" (l.id) } { (l.name) } }
                            td.size { (l.contacts) }
                            td.hide-narrow { (local(l.created_at, tenant)) }
                            td.use {
                                @if campaigns == 0 { span.muted { "No campaign" } }
                                @else { (count(campaigns, "campaign", "campaigns")) }
                            }
                        }
                    }
                }
            }
        }
        form.card.stack #new-list method="post" action="/audience/lists" {
            h2 { "New list" }
            input type="hidden" name="csrf" value=(signed.csrf);
            label for="list-name" { "Name" }
            input #list-name type="text" name="name" value=(typed) required
                aria-describedby=[described(problem, "name")];
            (field_error(problem, "name"))
            (banner(problem, &["name"]))
            p { button type="submit" { "Create list" } }
        }
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (status, Html(page("Audience", signed, body).into_string())).into_response()
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(f): Form<CreateForm>,
) -> Response {
    let tenant = match signed.tenant_post(&f.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match crate::api::lists::create_list(&state, tenant.id, &f.name).await {
        Ok(list) => Redirect::to(&format!("/audience/lists/{}", list.id)).into_response(),
        Err(e) => match problem(e) {
            Ok(p) => lists_page(&state, &signed, Some(&p), &f.name).await,
            Err(e) => e.into_response(),
        },
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// Search text: a name, phone or email, or part of one.
    #[serde(default)]
    q: String,
    /// The last contact id of the previous page.
    after: Option<Id>,
}

impl ListQuery {
    fn link(&self, list: Id, after: Option<Id>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.trim().is_empty() {
            q.append_pair("q", self.q.trim());
        }
        if let Some(a) = after {
            q.append_pair("after", &a.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            format!("/audience/lists/{list}")
        } else {
            format!("/audience/lists/{list}?{q}")
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&state, &signed, id, &q, None).await
}

/// A list's page; `problem` is a refusal to show above it (such as a
/// delete refused because campaigns use the list).
pub(super) async fn list_page(
    state: &AppState,
    signed: &Signed,
    id: Id,
    q: &ListQuery,
    problem: Option<&Problem>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let loaded = async {
        let list = state.store.list(tenant.id, id).await?;
        let used = state.store.list_campaign_counts(tenant.id).await?;
        // Keyset pages: as quick deep into a large list as on its first page.
        let contacts = state
            .store
            .search_list_contacts(tenant.id, id, &q.q, q.after.unwrap_or(0), CONTACTS_PAGE + 1)
            .await?;
        // The list's latest uploads, to get back to a check or an import.
        let imports: Vec<ImportJob> = state
            .store
            .import_jobs(tenant.id, None, 50)
            .await?
            .into_iter()
            .filter(|j| j.list_id == id)
            .take(5)
            .collect();
        Ok::<_, StoreError>((list, used.get(&id).copied().unwrap_or(0), contacts, imports))
    };
    let (list, campaigns, mut contacts, imports) = match loaded.await {
        Ok(l) => l,
        Err(StoreError::NotFound) => return super::super::not_found(signed),
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let next = if contacts.len() as i64 > CONTACTS_PAGE {
        contacts.truncate(CONTACTS_PAGE as usize);
        contacts.last().map(|c| c.id)
    } else {
        None
    };
    let body = html! {
        p { a href="/audience" { "← Audience" } }
        h1 { (list.name) }
        p.muted {
            (count(list.contacts, "contact", "contacts")) " · created " (local(list.created_at, tenant)) " · "
            @if campaigns == 0 { "no campaign uses it" } @else { "used by " (count(campaigns, "campaign", "campaigns")) }
        }
        (banner(problem, &[]))
        div.actions {
            a.button href={ "/audience/lists/" (list.id) "/import" } { "Upload a CSV" }
            a.button.secondary href={ "/audience/lists/" (list.id) "/export.csv" } download { "Export CSV" }
            (delete_form(signed, &list))
        }
        form.filters method="get" action={ "/audience/lists/" (list.id) } role="search" {
            label { "Search contacts"
                input #contact-search type="search" name="q" value=(q.q) placeholder="Name, phone or email";
            }
            button type="submit" { "Search" }
            @if !q.q.trim().is_empty() { a href={ "/audience/lists/" (list.id) } { "Clear" } }
        }
        (contacts_table(signed, &list, &contacts, q))
        nav.pager aria-label="Contact pages" {
            @if q.after.is_some() { a href=(q.link(list.id, None)) { "← First page" } }
            @if let Some(last) = next { a href=(q.link(list.id, Some(last))) { "Next " (CONTACTS_PAGE) " →" } }
        }
        @if !imports.is_empty() { (recent_imports(tenant, &imports)) }
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (status, Html(page(&list.name, signed, body).into_string())).into_response()
}

fn recent_imports(tenant: &Tenant, imports: &[ImportJob]) -> Markup {
    html! {
        h2 { "Recent uploads" }
        table #imports {
            thead { tr {
                th scope="col" { "When" } th.hide-narrow scope="col" { "File" } th scope="col" { "Step" }
                th scope="col" { "Status" } th.hide-narrow scope="col" { "Accepted" } th.hide-narrow scope="col" { "Rejected" }
            } }
            tbody {
                @for j in imports {
                    @let c = &j.counts;
                    tr {
                        td { a href={ "/audience/imports/" (j.id) } { (local(j.created_at, tenant)) } }
                        td.hide-narrow { (j.filename.clone().unwrap_or_default()) }
                        td { @if j.dry_run { "Check" } @else { "Import" } }
                        td { (j.status.as_str()) }
                        td.hide-narrow.num { (c.imported + c.updated + c.unchanged) }
                        td.hide-narrow.num { (c.rejected + c.duplicates) }
                    }
                }
            }
        }
    }
}

fn delete_form(signed: &Signed, list: &ContactList) -> Markup {
    html! {
        form.inline method="post" action={ "/audience/lists/" (list.id) "/delete" }
            onsubmit="return confirm('Delete this list? Its contacts stay in your other lists.')" {
            input type="hidden" name="csrf" value=(signed.csrf);
            button.danger type="submit" { "Delete list" }
        }
    }
}

fn contacts_table(
    signed: &Signed,
    list: &ContactList,
    contacts: &[crate::store::Contact],
    q: &ListQuery,
) -> Markup {
    html! {
        @if contacts.is_empty() {
            div.empty {
                @if !q.q.trim().is_empty() {
                    p { "No contact matches “" (q.q.trim()) "”." }
                    a href={ "/audience/lists/" (list.id) } { "Show every contact" }
                } @else if q.after.is_some() {
                    p { "No more contacts." }
                } @else {
                    p { strong { "This list is empty." } }
                    p { a href={ "/audience/lists/" (list.id) "/import" } { "Upload a CSV" } " to add contacts, or add them with " code { "POST /v1/lists/" (list.id) "/contacts" } "." }
                }
            }
        } @else {
            table #contacts {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Phone" } th.hide-narrow scope="col" { "Email" }
                    th.hide-narrow scope="col" { "Timezone" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for c in contacts {
                        @let name = [c.first_name.as_deref(), c.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
                        tr data-contact=(c.id) {
                            td.name { @if name.is_empty() { span.muted { "—" } } @else { (name) } }
                            td.phone { (c.phone.clone().unwrap_or_default()) }
                            td.email.hide-narrow { (c.email.clone().unwrap_or_default()) }
                            td.hide-narrow { (c.timezone.clone().unwrap_or_default()) }
                            td.row-actions {
                                a href={ "/audience/contacts/" (c.id) "?list=" (list.id) } aria-label={ "Edit " (c.phone.clone().or(c.email.clone()).unwrap_or_default()) } { "Edit" }
                                " "
                                form.inline method="post" action={ "/audience/contacts/" (c.id) "/delete" }
                                    onsubmit="return confirm('Delete this contact from every list?')" {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    input type="hidden" name="list" value=(list.id);
                                    button.link.danger-text type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let tenant = match signed.tenant_post(&f.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match state.store.delete_list(tenant.id, id).await {
        Ok(()) => {
            tracing::info!(tenant = tenant.id, list = id, "console: list deleted");
            Redirect::to("/audience").into_response()
        }
        Err(StoreError::NotFound) => super::super::not_found(&signed),
        Err(e) => match problem(e.into()) {
            // Refused (campaigns use it): its page, with the reason.
            Ok(p) => list_page(&state, &signed, id, &ListQuery::default(), Some(&p)).await,
            Err(e) => e.into_response(),
        },
    }
}

/// The list as CSV, by the API's export.
pub async fn export(State(state): State<AppState>, signed: Signed, Path(id): Path<Id>) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match crate::api::exports::list_csv_response(&state, tenant.id, id).await {
        Ok(r) => r,
        Err(crate::api::ApiError::NotFound(_)) => super::super::not_found(&signed),
        Err(e) => e.into_response(),
    }
}

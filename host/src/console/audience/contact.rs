//! Editing one contact (validated as the API validates it), deleting it,
//! or, when it has campaign history and must be kept, taking it out of a
//! list.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::super::forms::{
    Problem, banner, csrf_of, described, field_error, problem, some_text, value,
};
use super::super::layout::page;
use super::super::session::{CsrfOnly, Signed};
use crate::api::AppState;
use crate::api::lists::ContactInput;
use crate::store::{Contact, Id, StoreError};

/// The standard fields of the form: name, label, what goes in it.
const FIELDS: [(&str, &str, &str); 5] = [
    ("phone", "Phone", "E.164, e.g. +14155550100"),
    ("email", "Email", ""),
    ("first_name", "First name", ""),
    ("last_name", "Last name", ""),
    ("timezone", "Timezone", "IANA, e.g. Europe/Berlin"),
];

/// Custom fields are posted as `field:NAME`.
const CUSTOM: &str = "field:";

#[derive(Deserialize)]
pub struct Back {
    /// The list the user came from (where saving returns).
    list: Option<Id>,
}

fn back_to(list: Option<Id>) -> String {
    match list {
        Some(l) => format!("/audience/lists/{l}"),
        None => "/audience".into(),
    }
}

fn standard(c: &Contact, name: &str) -> String {
    match name {
        "phone" => c.phone.clone(),
        "email" => c.email.clone(),
        "first_name" => c.first_name.clone(),
        "last_name" => c.last_name.clone(),
        _ => c.timezone.clone(),
    }
    .unwrap_or_default()
}

pub async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Query(back): Query<Back>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match state.store.contact(tenant.id, id).await {
        Ok(c) => form(&signed, &c, back.list, None),
        Err(StoreError::NotFound) => super::super::not_found(&signed),
        Err(e) => crate::api::ApiError::from(e).into_response(),
    }
}

/// The edit form, showing `shown`'s values (what was typed, after a
/// refusal) and the problem beside its field.
fn form(signed: &Signed, shown: &Contact, list: Option<Id>, problem: Option<&Problem>) -> Response {
    let title = shown
        .phone
        .clone()
        .or(shown.email.clone())
        .unwrap_or_else(|| format!("Contact {}", shown.id));
    let custom: Vec<String> = shown.fields.keys().map(|k| format!("fields.{k}")).collect();
    let mut known: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    known.extend(custom.iter().map(String::as_str));
    let body = html! {
        p { a href=(back_to(list)) { "← Back to the list" } }
        h1 { "Edit " (title) }
        (banner(problem, &known))
        form.card.stack #contact-form method="post" action={ "/audience/contacts/" (shown.id) } {
            input type="hidden" name="csrf" value=(signed.csrf);
            @if let Some(l) = list { input type="hidden" name="list" value=(l); }
            @for (name, label, hint) in FIELDS {
                label for={ "c-" (name) } { (label) }
                input id={ "c-" (name) } type=(if name == "email" { "email" } else { "text" }) name=(name)
                    value=(standard(shown, name)) placeholder=(hint)
                    aria-describedby=[described(problem, name)];
                (field_error(problem, name))
            }
            @if !shown.fields.is_empty() {
                h2 { "Custom fields" }
                @for (key, v) in &shown.fields {
                    @let field = format!("fields.{key}");
                    label for={ "f-" (key) } { (key) }
                    input id={ "f-" (key) } type="text" name={ (CUSTOM) (key) } value=(v)
                        aria-describedby=[described(problem, &field)];
                    (field_error(problem, &field))
                }
            }
            p.muted { "A contact needs a phone or an email. Changes apply in every list it is in." }
            div.actions {
                button type="submit" { "Save contact" }
                a href=(back_to(list)) { "Cancel" }
            }
        }
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (status, Html(page(&title, signed, body).into_string())).into_response()
}

pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&f)) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let list = value(&f, "list").and_then(|l| l.parse::<Id>().ok());
    let text = |name: &str| some_text(value(&f, name));
    let fields: BTreeMap<String, String> = f
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(CUSTOM)?.to_owned(), v.trim().to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let input = ContactInput {
        phone: text("phone"),
        email: text("email"),
        first_name: text("first_name"),
        last_name: text("last_name"),
        timezone: text("timezone"),
        fields: fields.clone(),
    };
    match crate::api::lists::save_contact(&state, tenant.id, id, input).await {
        Ok(_) => {
            tracing::info!(tenant = tenant.id, contact = id, "console: contact saved");
            Redirect::to(&back_to(list)).into_response()
        }
        Err(crate::api::ApiError::NotFound(_)) => super::super::not_found(&signed),
        Err(e) => match problem(e) {
            Ok(p) => {
                // Shown again as typed, with the reason beside its field.
                let typed = Contact {
                    id,
                    phone: text("phone"),
                    email: text("email"),
                    first_name: text("first_name"),
                    last_name: text("last_name"),
                    timezone: text("timezone"),
                    fields,
                };
                form(&signed, &typed, list, Some(&p))
            }
            Err(e) => e.into_response(),
        },
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    list: Option<Id>,
}

pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(f): Form<DeleteForm>,
) -> Response {
    let tenant = match signed.tenant_post(&f.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match state.store.delete_contact(tenant.id, id).await {
        Ok(()) => {
            tracing::info!(tenant = tenant.id, contact = id, "console: contact deleted");
            Redirect::to(&back_to(f.list)).into_response()
        }
        Err(StoreError::NotFound) => super::super::not_found(&signed),
        // Kept for its campaign history: offer to take it out of the list.
        Err(StoreError::Conflict(why)) => {
            let body = html! {
                p { a href=(back_to(f.list)) { "← Back to the list" } }
                h1 { "This contact is kept" }
                div.notice.notice-error role="alert" { (why) }
                @if let Some(list) = f.list {
                    form.card method="post" action={ "/audience/lists/" (list) "/contacts/" (id) "/remove" } {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        p { "Take it out of this list instead: its campaign history stays whole." }
                        button.danger type="submit" { "Remove from this list" }
                    }
                }
            };
            (
                StatusCode::CONFLICT,
                Html(page("Contact kept", &signed, body).into_string()),
            )
                .into_response()
        }
        Err(e) => crate::api::ApiError::from(e).into_response(),
    }
}

pub async fn remove_from_list(
    State(state): State<AppState>,
    signed: Signed,
    Path((list, contact)): Path<(Id, Id)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let tenant = match signed.tenant_post(&f.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match state.store.remove_from_list(tenant.id, list, contact).await {
        Ok(()) => Redirect::to(&format!("/audience/lists/{list}")).into_response(),
        Err(StoreError::NotFound) => super::super::not_found(&signed),
        Err(e) => crate::api::ApiError::from(e).into_response(),
    }
}

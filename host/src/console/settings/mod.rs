//! The tenant's settings page (issue 15): sending rules (timezone, quiet
//! hours, default country, duplicate window, one campaign per contact),
//! the reply webhook and its secret, the do-not-contact list, and credits.
//! Each form posts to its own route and goes through the function the
//! API's handler calls, so the page and the API refuse the same values
//! with the same messages, shown here beside their field.

mod credits;
mod dnc;
mod webhook;

use axum::Form;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, extract::Multipart};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{Problem, banner, csrf_of, described, field_error, problem, some_text, value};
use super::layout::page;
use super::session::Signed;
use crate::api::AppState;
use crate::api::tenants::TenantSettings;
use crate::domain::send_window::Hours;
use crate::store::{Id, Tenant};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(show).post(save))
        .route("/settings/webhook", post(webhook::save))
        .route("/settings/dnc", post(dnc::add))
        .route("/settings/dnc/remove", post(dnc::remove))
        .route(
            "/settings/dnc/import",
            // As large a file as the API's do-not-contact import takes.
            post(dnc_import).layer(DefaultBodyLimit::max(dnc::MAX_FILE_BYTES + (64 << 10))),
        )
}

/// The form a problem belongs to (fields of two forms may share a name).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Sending,
    Webhook,
    Dnc,
    DncImport,
}

/// What the page shows besides the stored settings.
#[derive(Default)]
pub struct View {
    problem: Option<(Section, Problem)>,
    /// The sending form as typed, after a refusal.
    typed: Option<Vec<(String, String)>>,
    /// A line saying what just happened.
    notice: Option<Markup>,
    /// A webhook secret just issued: shown this once.
    new_secret: Option<String>,
    paging: Paging,
}

impl View {
    /// A form as typed, when it is the one refused.
    fn typed(&self, section: Section) -> Option<&Vec<(String, String)>> {
        self.problem(section)?;
        self.typed.as_ref()
    }

    fn problem(&self, section: Section) -> Option<&Problem> {
        self.problem
            .as_ref()
            .filter(|(s, _)| *s == section)
            .map(|(_, p)| p)
    }
}

#[derive(Deserialize, Default)]
pub struct Paging {
    /// The last do-not-contact address of the previous page.
    #[serde(default)]
    dnc_after: String,
    /// The oldest ledger row of the previous page.
    ledger_before: Option<Id>,
    /// Set after a save: says so.
    #[serde(default)]
    saved: String,
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(p): Query<Paging>,
) -> Response {
    let notice = match p.saved.as_str() {
        "settings" => Some(html! { "Settings saved." }),
        "webhook" => Some(html! { "Reply webhook saved." }),
        "dnc" => Some(html! { "Added to the do-not-contact list." }),
        "dnc-removed" => Some(html! { "Removed from the do-not-contact list." }),
        _ => None,
    };
    render(
        &state,
        &signed,
        View {
            notice,
            paging: p,
            ..View::default()
        },
    )
    .await
}

/// The whole page; the status is the problem's, if there is one.
pub async fn render(state: &AppState, signed: &Signed, view: View) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let sections = async {
        Ok::<_, crate::api::ApiError>((
            webhook::section(state, signed, &view).await?,
            dnc::section(state, signed, tenant, &view).await?,
            credits::section(state, tenant, &view.paging).await?,
        ))
    };
    let (webhook, dnc, credits) = match sections.await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let body = html! {
        h1 { "Settings" }
        @if let Some(n) = &view.notice { div.notice.notice-ok role="status" { (n) } }
        nav.toc aria-label="Sections" {
            a href="#sending" { "Sending" } a href="#webhook" { "Reply webhook" }
            a href="#dnc" { "Do not contact" } a href="#credits" { "Credits" }
        }
        (sending(signed, tenant, &view))
        (webhook)
        (dnc)
        (credits)
    };
    let status = view
        .problem
        .as_ref()
        .map_or(StatusCode::OK, |(_, p)| p.status);
    (status, Html(page("Settings", signed, body).into_string())).into_response()
}

/// The form's value: as typed after a refusal, else as stored.
fn shown(view: &View, name: &str, stored: String) -> String {
    match view.typed(Section::Sending) {
        Some(typed) => value(typed, name).cloned().unwrap_or_default(),
        None => stored,
    }
}

fn sending(signed: &Signed, tenant: &Tenant, view: &View) -> Markup {
    let problem = view.problem(Section::Sending);
    let fields = [
        "timezone",
        "default_region",
        "quiet_hours",
        "duplicate_window_hours",
        "one_campaign_per_contact",
    ];
    let one = match view.typed(Section::Sending) {
        Some(t) => value(t, "one_campaign_per_contact").is_some(),
        None => tenant.one_campaign_per_contact,
    };
    html! {
        section #sending {
            h2 { "Sending" }
            form.card.stack #settings-form method="post" action="/settings" {
                input type="hidden" name="csrf" value=(signed.csrf);
                (banner(problem, &fields))
                label for="timezone" { "Timezone" }
                input #timezone type="text" name="timezone" value=(shown(view, "timezone", tenant.timezone.clone()))
                    placeholder="Europe/Berlin" aria-describedby=[described(problem, "timezone")];
                span.hint { "IANA name. Schedules are entered in it; a contact without its own zone is reached in it." }
                (field_error(problem, "timezone"))
                fieldset {
                    legend { "Quiet hours: send only between" }
                    div.inline-fields {
                        label for="quiet_start" { "From" }
                        input #quiet_start type="time" name="quiet_hours_start"
                            value=(shown(view, "quiet_hours_start", tenant.quiet_hours.start.clone()))
                            aria-describedby=[described(problem, "quiet_hours")];
                        label for="quiet_end" { "until" }
                        input #quiet_end type="time" name="quiet_hours_end"
                            value=(shown(view, "quiet_hours_end", tenant.quiet_hours.end.clone()))
                            aria-describedby=[described(problem, "quiet_hours")];
                    }
                    span.hint { "In each contact's local time. A campaign may set its own calling hours." }
                    (field_error(problem, "quiet_hours"))
                }
                label for="default_region" { "Default country" }
                input #default_region type="text" name="default_region" size="4" maxlength="2"
                    value=(shown(view, "default_region", tenant.default_region.clone().unwrap_or_default()))
                    placeholder="US" aria-describedby=[described(problem, "default_region")];
                span.hint { "Two-letter ISO code, for numbers written without a country code." }
                (field_error(problem, "default_region"))
                label for="duplicate_window_hours" { "Duplicate window (hours)" }
                input #duplicate_window_hours type="number" name="duplicate_window_hours" min="0" max="8760"
                    value=(shown(view, "duplicate_window_hours", tenant.duplicate_window_hours.to_string()))
                    aria-describedby=[described(problem, "duplicate_window_hours")];
                span.hint { "An address any campaign sent to this recently is not sent again. 0 turns it off." }
                (field_error(problem, "duplicate_window_hours"))
                label.check {
                    input #one_campaign_per_contact type="checkbox" name="one_campaign_per_contact" value="on" checked[one];
                    " One campaign per contact: a contact active in one live campaign is not enrolled in another"
                }
                p { button type="submit" { "Save settings" } }
            }
        }
    }
}

/// Saves the sending settings through the API's own checks.
pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&f)) {
        Ok(t) => t.clone(),
        Err(r) => return *r,
    };
    let text = |name: &str| some_text(value(&f, name));
    let refuse = |p: Problem| View {
        problem: Some((Section::Sending, p)),
        typed: Some(f.clone()),
        ..View::default()
    };
    let window = match text("duplicate_window_hours").map(|h| h.parse::<i64>()) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => {
            let p = Problem::field("duplicate_window_hours", "must be a whole number of hours");
            return render(&state, &signed, refuse(p)).await;
        }
    };
    let quiet_hours = match (text("quiet_hours_start"), text("quiet_hours_end")) {
        (Some(start), Some(end)) => Some(Hours { start, end }),
        (None, None) => None,
        _ => {
            let p = Problem::field("quiet_hours", "give both a start and an end");
            return render(&state, &signed, refuse(p)).await;
        }
    };
    let settings = TenantSettings {
        default_region: text("default_region"),
        timezone: text("timezone"),
        quiet_hours,
        duplicate_window_hours: window,
        one_campaign_per_contact: Some(value(&f, "one_campaign_per_contact").is_some()),
    };
    match crate::api::tenants::apply_settings(&state, tenant, settings).await {
        Ok(t) => {
            tracing::info!(tenant = t.id, "console: settings saved");
            Redirect::to("/settings?saved=settings").into_response()
        }
        Err(e) => match problem(e) {
            Ok(p) => render(&state, &signed, refuse(p)).await,
            Err(e) => e.into_response(),
        },
    }
}

/// The do-not-contact CSV form: its CSRF token first, then the file.
async fn dnc_import(State(state): State<AppState>, signed: Signed, form: Multipart) -> Response {
    dnc::import(state, signed, form).await
}

//! The campaign form (seed 000's "Creating and Editing Campaigns"): the
//! common fields, then the chosen type's, shown and hidden as the type
//! changes. A new campaign goes through the API's own `create_campaign`, a
//! draft's edit through its `edit_campaign`, and "Save and go live" through
//! the lifecycle's `act`; whatever they refuse is shown beside the field
//! they name, with what the user typed kept. Also the routes of the review
//! queue and the performance tab, which hang off the same campaign pages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, PreEscaped, html};

use super::form_fields::{self, FOLLOW_UP_ROWS, Values};
use super::form_view::{Choices, Errors, choices, field};
use super::forms::csrf_of;
use super::layout::page;
use super::session::Signed;
use crate::api::{ApiError, AppState};
use crate::domain::lifecycle::Action;
use crate::store::{Campaign, Id, StoreError, Tenant};

pub(super) fn routes() -> Router<AppState> {
    use super::{performance, review_queue as review};
    Router::new()
        .route("/campaigns/new", get(new_form).post(create))
        .route("/campaigns/{id}/edit", get(edit_form).post(save))
        .route("/campaigns/{id}/review", get(review::queue))
        .route("/campaigns/{id}/review/approve", post(review::approve_many))
        .route("/campaigns/{id}/review/execute", post(review::execute))
        .route(
            "/campaigns/{id}/review/{member}/approve",
            post(review::approve_one),
        )
        .route(
            "/campaigns/{id}/review/{member}/edit",
            get(review::edit_form).post(review::save),
        )
        .route("/campaigns/{id}/performance", get(performance::show))
        .route(performance::UPLOT_JS_PATH, get(performance::uplot_js))
        .route(performance::UPLOT_CSS_PATH, get(performance::uplot_css))
}

/// Where the form posts, and what it is about.
enum Target<'a> {
    New,
    Edit(&'a Campaign),
}

/// The posted form: every pair, so repeated names are kept.
type Posted = Form<Vec<(String, String)>>;

/// A refusal that is not about the form's fields: a missing campaign is
/// the console's 404 page, the rest the API's answer.
pub(super) fn failure(signed: &Signed, e: ApiError) -> Response {
    match e {
        ApiError::NotFound(_) => super::not_found(signed),
        other => other.into_response(),
    }
}

/// Only a draft's definition can change (the lifecycle's rule; a live
/// campaign's name, notes and schedule are the API's `PATCH`).
fn only_drafts(signed: &Signed, c: &Campaign) -> Option<Response> {
    (c.status.as_str() != "draft").then(|| {
        super::message(
            StatusCode::CONFLICT,
            "Not a draft",
            html! {
                h1 { "Only drafts can be edited" }
                p { (c.name) " is " (c.status.as_str()) ": its messages, channel and audience are fixed. "
                    a href={ "/campaigns/" (c.id) } { "Back to the campaign" } }
            },
            Some(signed),
        )
    })
}

/// The draft to edit, or the page that says why not (not found, not a
/// draft).
async fn draft(
    state: &AppState,
    signed: &Signed,
    tenant: Id,
    id: Id,
) -> Result<Campaign, Box<Response>> {
    let campaign = match state.store.campaign(tenant, id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Err(Box::new(super::not_found(signed))),
        Err(e) => return Err(Box::new(ApiError::from(e).into_response())),
    };
    match only_drafts(signed, &campaign) {
        Some(refused) => Err(Box::new(refused)),
        None => Ok(campaign),
    }
}

pub async fn new_form(State(state): State<AppState>, signed: Signed) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let choices = match choices(&state, tenant).await {
        Ok(c) => c,
        Err(e) => return failure(&signed, e),
    };
    let mut values = Values::default();
    values.set("type", "sms");
    values.set("execution_mode", "manual");
    let body = form(
        &signed,
        tenant,
        Target::New,
        &values,
        &Errors::default(),
        &choices,
    );
    Html(page("New campaign", &signed, body).into_string()).into_response()
}

pub async fn edit_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let campaign = match draft(&state, &signed, tenant.id, id).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let choices = match choices(&state, tenant).await {
        Ok(c) => c,
        Err(e) => return failure(&signed, e),
    };
    let values = form_fields::from_campaign(&campaign);
    let title = format!("Edit {}", campaign.name);
    let body = form(
        &signed,
        tenant,
        Target::Edit(&campaign),
        &values,
        &Errors::default(),
        &choices,
    );
    Html(page(&title, &signed, body).into_string()).into_response()
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(pairs): Posted,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&pairs)) {
        Ok(t) => t.clone(),
        Err(r) => return *r,
    };
    let values = Values::from_pairs(pairs);
    let created = match form_fields::to_input(&values) {
        Ok(input) => crate::api::campaigns::create_campaign(&state, &tenant, input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(campaign) => after_save(&state, &signed, &tenant, campaign, &values).await,
        Err(e) => refused(&state, &signed, &tenant, None, &values, e, false).await,
    }
}

pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(pairs): Posted,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&pairs)) {
        Ok(t) => t.clone(),
        Err(r) => return *r,
    };
    let campaign = match draft(&state, &signed, tenant.id, id).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let values = Values::from_pairs(pairs);
    let saved = match form_fields::to_patch(&values) {
        Ok(patch) => crate::api::campaign_ops::edit_campaign(&state, &tenant, id, &patch).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(campaign) => after_save(&state, &signed, &tenant, campaign, &values).await,
        Err(e) => refused(&state, &signed, &tenant, Some(&campaign), &values, e, false).await,
    }
}

/// Saved: to the campaign's page, going live first when asked. A refused
/// go-live (a body missing...) leaves the draft saved and shows its form
/// with the refusal beside the field.
async fn after_save(
    state: &AppState,
    signed: &Signed,
    tenant: &Tenant,
    campaign: Campaign,
    values: &Values,
) -> Response {
    if values.get("intent") == "go_live"
        && let Err(e) =
            crate::api::campaign_ops::act(state, tenant, campaign.id, Action::GoLive).await
    {
        return refused(state, signed, tenant, Some(&campaign), values, e, true).await;
    }
    Redirect::to(&format!("/campaigns/{}", campaign.id)).into_response()
}

/// The form again, with the refusal beside its field and the input kept;
/// `saved`: the draft was saved and only going live was refused.
async fn refused(
    state: &AppState,
    signed: &Signed,
    tenant: &Tenant,
    campaign: Option<&Campaign>,
    values: &Values,
    e: ApiError,
    saved: bool,
) -> Response {
    let (mut errors, status) = match Errors::from_api(e, values.kind()) {
        Ok(shown) => shown,
        Err(e) => return failure(signed, e),
    };
    if saved {
        errors.note = Some("Saved as a draft, but it did not go live.");
    }
    let choices = match choices(state, tenant).await {
        Ok(c) => c,
        Err(e) => return failure(signed, e),
    };
    let target = campaign.map_or(Target::New, Target::Edit);
    let title = match &target {
        Target::New => "New campaign".to_owned(),
        Target::Edit(c) => format!("Edit {}", c.name),
    };
    let body = form(signed, tenant, target, values, &errors, &choices);
    (status, Html(page(&title, signed, body).into_string())).into_response()
}

const KINDS: [(&str, &str); 4] = [
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("voice", "Voice"),
    ("email", "Email"),
];

fn form(
    signed: &Signed,
    tenant: &Tenant,
    target: Target<'_>,
    v: &Values,
    errors: &Errors,
    choices: &Choices,
) -> Markup {
    let (action, heading, back) = match &target {
        Target::New => (
            "/campaigns/new".to_owned(),
            "New campaign".to_owned(),
            "/campaigns".to_owned(),
        ),
        Target::Edit(c) => (
            format!("/campaigns/{}/edit", c.id),
            format!("Edit {}", c.name),
            format!("/campaigns/{}", c.id),
        ),
    };
    let kind = v.kind();
    html! {
        p { a href=(back) { "← Back" } }
        h1 { (heading) }
        @if choices.channels.is_empty() || choices.lists.is_empty() {
            div.empty {
                p { "A campaign sends on a channel to a list. "
                    @if choices.channels.is_empty() { "Create a channel first (" code { "POST /v1/channels" } "). " }
                    @if choices.lists.is_empty() { "Create a contact list first (" code { "POST /v1/lists" } ")." } }
            }
        }
        form #campaign-form .campaign-form method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(signed.csrf);
            (errors.summary())
            fieldset.card {
                legend { "Campaign" }
                (field("name", "Name", errors, None, html! {
                    input #name type="text" name="name" value=(v.get("name")) aria-required="true"
                        aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described("name")];
                }))
                (field("type", "Type", errors, Some("Decides which fields follow."), html! {
                    select #type name="type" aria-invalid=[errors.invalid("type")] aria-describedby=[errors.described("type")] {
                        @for (value, label) in KINDS { option value=(value) selected[kind == value] { (label) } }
                    }
                }))
                (field("list_id", "Target list", errors, None, html! {
                    select #list_id name="list_id" aria-invalid=[errors.invalid("list_id")] aria-describedby=[errors.described("list_id")] {
                        option value="" { "Choose a list" }
                        @for l in &choices.lists {
                            option value=(l.id) selected[v.get("list_id") == l.id.to_string()] { (l.name) " (" (l.contacts) " contacts)" }
                        }
                    }
                }))
                (field("channel_id", "Channel", errors, Some("Only channels whose plugin serves the type are offered."), html! {
                    select #channel_id name="channel_id" aria-invalid=[errors.invalid("channel_id")] aria-describedby=[errors.described("channel_id")] {
                        option value="" { "Choose a channel" }
                        @for c in &choices.channels {
                            option value=(c.id) data-kinds=(c.kinds.join(" ")) selected[v.get("channel_id") == c.id.to_string()] {
                                (c.name) " · " (c.plugin)
                            }
                        }
                    }
                }))
                (field("execution_mode", "Runs", errors, Some("Automatic campaigns keep enrolling contacts added after they start."), html! {
                    select #execution_mode name="execution_mode" {
                        option value="manual" selected[v.get("execution_mode") != "automatic"] { "Once, to the list as it is at the start" }
                        option value="automatic" selected[v.get("execution_mode") == "automatic"] { "Automatically, as contacts are added" }
                    }
                }))
                div.field.check {
                    label { input #manual_review type="checkbox" name="manual_review" checked[v.checked("manual_review")];
                        " Manual review: every outreach waits for approval before it is sent" }
                }
            }
            (typed_fieldsets(v, errors, choices))
            (scheduling(tenant, v, errors))
            (journey(v, errors, choices))
            fieldset.card {
                legend { "Notes and tags" }
                (field("notes", "Notes", errors, Some("Internal only; never sent."), html! {
                    textarea #notes name="notes" rows="2" { (v.get("notes")) }
                }))
                (field("tags", "Tags", errors, Some("Comma-separated, e.g. spring, vip. A tag from the name is added."), html! {
                    input #tags type="text" name="tags" value=(v.get("tags")) aria-invalid=[errors.invalid("tags")] aria-describedby=[errors.described("tags")];
                }))
            }
            div.actions {
                button type="submit" name="intent" value="draft" { "Save draft" }
                button.secondary type="submit" name="intent" value="go_live" { "Save and go live" }
                a href=(back) { "Cancel" }
            }
        }
        // The other types' fieldsets start hidden (no flash before the
        // script runs); without script they all show, and only the
        // chosen type's inputs are read.
        noscript { style { "fieldset[data-kind][hidden] { display: block !important; }" } }
        (toggle_script())
    }
}

/// Seed 000's fields for each type; the script shows only the chosen one.
fn typed_fieldsets(v: &Values, errors: &Errors, choices: &Choices) -> Markup {
    let kind = v.kind();
    let number = |name: &str, label: &str, default: &str, help: &str| {
        field(
            name,
            label,
            errors,
            Some(help),
            html! {
                input id=(name) type="number" name=(name) value=(v.get(name)) placeholder=(default) inputmode="numeric"
                    aria-invalid=[errors.invalid(name)] aria-describedby=[errors.described(name)];
            },
        )
    };
    html! {
        fieldset.card data-kind="sms" hidden[kind != "sms"] {
            legend { "SMS" }
            (field("body", "Message body", errors, Some("Up to 1,600 characters; {{first_name}} and other contact fields are filled in."), html! {
                textarea #body name="body" rows="4" aria-invalid=[errors.invalid("body")] aria-describedby=[errors.described("body")] { (v.get("body")) }
            }))
        }
        fieldset.card data-kind="whatsapp" hidden[kind != "whatsapp"] {
            legend { "WhatsApp" }
            (field("template", "Template", errors, Some("Approved templates synced from the chosen channel."), html! {
                select #template name="template" aria-invalid=[errors.invalid("template")] aria-describedby=[errors.described("template")] {
                    option value="" { "Choose a template" }
                    @for t in &choices.templates {
                        @let value = format!("{}|{}", t.name, t.language);
                        option value=(value) data-channel=(t.channel) disabled[t.status != "APPROVED"] selected[v.get("template") == value] {
                            (t.name) " (" (t.language) ") · " (t.status) " · " (t.parameters) " parameters"
                        }
                    }
                }
                @if choices.templates.is_empty() {
                    p.muted { "No template synced yet: sync a WhatsApp channel's templates (" code { "POST /v1/channels/{id}/templates/sync" } ")." }
                }
            }))
            (field("template_parameters", "Template parameters", errors, Some("One per {{1}}, {{2}}…, comma-separated: a contact field (first_name) or =fixed text."), html! {
                input #template_parameters type="text" name="template_parameters" value=(v.get("template_parameters"));
            }))
        }
        fieldset.card data-kind="voice" hidden[kind != "voice"] {
            legend { "Voice" }
            (field("caller_id", "Caller ID", errors, Some("E.164, e.g. +14155550100; default: the channel's number."), html! {
                input #caller_id type="tel" name="caller_id" value=(v.get("caller_id")) aria-invalid=[errors.invalid("caller_id")] aria-describedby=[errors.described("caller_id")];
            }))
            (field("queue", "Queue", errors, Some("Where answered calls are connected."), html! {
                input #queue type="text" name="queue" value=(v.get("queue")) aria-invalid=[errors.invalid("queue")] aria-describedby=[errors.described("queue")];
            }))
            div.row {
                (number("max_concurrent", "Max concurrent", "1", "Simultaneous calls."))
                (number("max_retries", "Max retries", "0", "After busy or no answer."))
                (number("retry_delay_secs", "Retry delay (s)", "60", "Between attempts."))
            }
            div.field.check {
                label { input #amd_enabled type="checkbox" name="amd_enabled" checked[v.checked("amd_enabled")];
                    " Answering machine detection" }
            }
            (field("amd_action", "When a machine answers", errors, None, html! {
                select #amd_action name="amd_action" aria-invalid=[errors.invalid("amd_action")] aria-describedby=[errors.described("amd_action")] {
                    option value="hang_up" selected[v.get("amd_action") != "voicemail"] { "Hang up" }
                    option value="voicemail" selected[v.get("amd_action") == "voicemail"] { "Leave a voicemail" }
                }
            }))
            (field("voicemail_message", "Voicemail message", errors, Some("Read to the machine when leaving a voicemail."), html! {
                textarea #voicemail_message name="voicemail_message" rows="2" aria-invalid=[errors.invalid("voicemail_message")] aria-describedby=[errors.described("voicemail_message")] { (v.get("voicemail_message")) }
            }))
        }
        fieldset.card data-kind="email" hidden[kind != "email"] {
            legend { "Email" }
            (field("subject", "Subject", errors, None, html! {
                input #subject type="text" name="subject" value=(v.get("subject")) aria-invalid=[errors.invalid("subject")] aria-describedby=[errors.described("subject")];
            }))
            (field("email_body", "Text body", errors, Some("A text body, an HTML body, or both."), html! {
                textarea #email_body name="email_body" rows="4" aria-invalid=[errors.invalid("email_body")] aria-describedby=[errors.described("email_body")] { (v.get("email_body")) }
            }))
            (field("html_body", "HTML body", errors, None, html! {
                textarea #html_body name="html_body" rows="4" aria-invalid=[errors.invalid("html_body")] aria-describedby=[errors.described("html_body")] { (v.get("html_body")) }
            }))
        }
    }
}

fn scheduling(tenant: &Tenant, v: &Values, errors: &Errors) -> Markup {
    let quiet = &tenant.quiet_hours;
    html! {
        fieldset.card {
            legend { "Scheduling" }
            p.muted #timezone { "Timezone: " strong { (tenant.timezone) } " (the tenant's). Leave the date empty to start when you go live." }
            (field("scheduled_at", "Send at", errors, None, html! {
                input #scheduled_at type="datetime-local" name="scheduled_at" value=(v.get("scheduled_at"))
                    aria-invalid=[errors.invalid("scheduled_at")] aria-describedby=[errors.described("scheduled_at")];
            }))
            div.group role="group" aria-labelledby="calling-hours-label" {
                p #calling-hours-label .group-label { "Calling hours (optional)" }
                div.row {
                    label { "Start" input #calling_start type="time" name="calling_start" value=(v.get("calling_start")); }
                    label { "End" input #calling_end type="time" name="calling_end" value=(v.get("calling_end")); }
                    label { "Timezone" input #calling_timezone type="text" name="calling_timezone" value=(v.get("calling_timezone")) placeholder=(tenant.timezone); }
                }
                (errors.beside("calling_hours"))
            }
            div.group role="group" aria-labelledby="quiet-hours-label" {
                p #quiet-hours-label .group-label { "Quiet hours (optional; the tenant's are " (quiet.start) "–" (quiet.end) " in each contact's local time)" }
                div.row {
                    label { "From" input #quiet_start type="time" name="quiet_start" value=(v.get("quiet_start")); }
                    label { "Until" input #quiet_end type="time" name="quiet_end" value=(v.get("quiet_end")); }
                }
                (errors.beside("quiet_hours"))
            }
        }
    }
}

fn journey(v: &Values, errors: &Errors, choices: &Choices) -> Markup {
    html! {
        fieldset.card {
            legend { "Journey (optional)" }
            div.group role="group" aria-labelledby="fallback-label" {
                p #fallback-label .group-label { "Fallback: sent on another channel when the message fails for good" }
                div.row {
                    label { "Channel"
                        select #fallback_channel_id name="fallback_channel_id" {
                            option value="" { "No fallback" }
                            @for c in &choices.channels {
                                option value=(c.id) selected[v.get("fallback_channel_id") == c.id.to_string()] { (c.name) " · " (c.kinds.join(", ")) }
                            }
                        }
                    }
                    label { "Subject (email)" input #fallback_subject type="text" name="fallback_subject" value=(v.get("fallback_subject")); }
                }
                label.wide { "Message" textarea #fallback_body name="fallback_body" rows="2" { (v.get("fallback_body")) } }
                (errors.beside("fallback"))
            }
            div.group role="group" aria-labelledby="follow-ups-label" {
                p #follow-ups-label .group-label { "Follow-ups: sent on the campaign's channel when the contact has not replied" }
                @for row in 1..=FOLLOW_UP_ROWS {
                    @let days = format!("follow_up_{row}_days");
                    @let body = format!("follow_up_{row}_body");
                    div.row {
                        label { "After days (1–7)" input id=(days) type="number" min="1" max="7" name=(days) value=(v.get(&days)); }
                        label.wide { "Message " (row) input id=(body) type="text" name=(body) value=(v.get(&body)); }
                    }
                }
                (errors.beside("follow_ups"))
            }
        }
    }
}

/// Shows the chosen type's fieldset (the others are disabled, so they are
/// not posted), offers only the channels serving the type and the chosen
/// channel's templates. Without script every fieldset shows.
fn toggle_script() -> Markup {
    html! {
        script {
            (PreEscaped(r#"
(function () {
  var form = document.getElementById('campaign-form');
  var type = document.getElementById('type');
  var channel = document.getElementById('channel_id');
  var template = document.getElementById('template');
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function sync() {
    var kind = type.value;
    each(form.querySelectorAll('fieldset[data-kind]'), function (f) {
      var on = f.getAttribute('data-kind') === kind;
      f.hidden = !on; f.disabled = !on;
    });
    var keep = false, first = null;
    each(channel.options, function (o) {
      if (!o.value) return;
      var ok = (' ' + o.getAttribute('data-kinds') + ' ').indexOf(' ' + kind + ' ') >= 0;
      o.hidden = !ok; o.disabled = !ok;
      if (ok && !first) first = o;
      if (ok && o.selected) keep = true;
    });
    if (!keep) channel.value = first ? first.value : '';
    if (template) {
      each(template.options, function (o) {
        if (!o.value) return;
        o.hidden = o.getAttribute('data-channel') !== channel.value;
        if (o.hidden && o.selected) template.value = '';
      });
    }
  }
  type.addEventListener('change', sync);
  channel.addEventListener('change', sync);
  sync();
  // After a refusal: to the field it names.
  var refused = form.querySelector('[aria-invalid=true]');
  if (refused) refused.focus();
})();
"#))
        }
    }
}

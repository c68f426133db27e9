//! The review queue (seed 004's manual review): members awaiting approval
//! with the message each will get, approve one, edit one, approve the
//! selected or all, and execute the approved. Every action is the API's own
//! (`api::review`), so the page holds no rule of its own.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::campaign_form::failure;
use super::form_view::{Errors, field};
use super::forms::csrf_of;
use super::layout::{page, status_badge, type_badge};
use super::performance::tabs;
use super::session::Signed;
use crate::api::review::{self as api, EditContent};
use crate::api::{ApiError, AppState};
use crate::domain::campaign_spec::{CampaignContent, TemplateInput, TemplateParameter};
use crate::domain::member::MemberStatus;
use crate::store::{Campaign, Id, Member, MemberFilter, StoreError, Tenant};

/// Members shown per page of the queue.
const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    /// The last member id of the previous page.
    after: Option<Id>,
    /// What the last action did, said once above the queue.
    done: Option<String>,
}

type Posted = Form<Vec<(String, String)>>;

/// The signed-in tenant and its campaign, or the page that says why not.
async fn load(state: &AppState, signed: &Signed, id: Id) -> Result<(Tenant, Campaign), Response> {
    let tenant = signed.tenant_page().map_err(|r| *r)?.clone();
    match state.store.campaign(tenant.id, id).await {
        Ok(c) => Ok((tenant, c)),
        Err(StoreError::NotFound) => Err(super::not_found(signed)),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// A post to the queue: its CSRF token checked, then as `load`.
async fn load_posted(
    state: &AppState,
    signed: &Signed,
    id: Id,
    pairs: &[(String, String)],
) -> Result<(Tenant, Campaign), Response> {
    if !signed.csrf_ok(csrf_of(pairs)) {
        return Err(super::forbidden());
    }
    load(state, signed, id).await
}

/// A member of the queue and the message it will get as it stands.
async fn member_message(
    state: &AppState,
    tenant: &Tenant,
    campaign: &Campaign,
    member: Id,
) -> Result<(Member, CampaignContent), ApiError> {
    let m = state.store.member(tenant.id, campaign.id, member).await?;
    let content = api::member_message(state, tenant, campaign, member).await?;
    Ok((m, content))
}

/// A refused action: said on a page that leads back to the queue.
fn not_done(signed: &Signed, campaign: Id, e: ApiError) -> Response {
    let message = match &e {
        ApiError::Conflict(m) => m.clone(),
        ApiError::Invalid { message, .. } => message.clone(),
        ApiError::BadRequest { message, .. } => message.clone(),
        ApiError::Refused { message, .. } => message.clone(),
        _ => return failure(signed, e),
    };
    let status = e.into_response().status();
    super::message(
        status,
        "Not done",
        html! {
            h1 { "Not done" }
            p.error role="alert" { (message) }
            p { a href={ "/campaigns/" (campaign) "/review" } { "Back to the review queue" } }
        },
        Some(signed),
    )
}

fn back(campaign: Id, done: &str) -> Response {
    Redirect::to(&format!("/campaigns/{campaign}/review?done={done}")).into_response()
}

pub async fn queue(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Query(q): Query<QueueQuery>,
) -> Response {
    let (tenant, campaign) = match load(&state, &signed, id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let status = |s| MemberFilter {
        status: Some(s),
        ..MemberFilter::default()
    };
    let loaded = async {
        let mut awaiting = state
            .store
            .members(
                tenant.id,
                id,
                &status(MemberStatus::AwaitingApproval),
                q.after.unwrap_or(0),
                PAGE + 1,
            )
            .await?;
        let approved = state
            .store
            .members(tenant.id, id, &status(MemberStatus::Approved), 0, PAGE + 1)
            .await?;
        let more = awaiting.len() as i64 > PAGE;
        awaiting.truncate(PAGE as usize);
        let messages = api::rendered_messages(&state, &tenant, &campaign, &awaiting).await?;
        Ok::<_, ApiError>((awaiting, approved, more, messages))
    };
    let (awaiting, approved, more, messages) = match loaded.await {
        Ok(l) => l,
        Err(e) => return failure(&signed, e),
    };
    let approved_count = if approved.len() as i64 > PAGE {
        format!("{PAGE}+")
    } else {
        approved.len().to_string()
    };
    let body = html! {
        p { a href="/campaigns" { "← Campaigns" } }
        h1 { (campaign.name) " " (type_badge(campaign.kind.as_str())) " " (status_badge(campaign.status.as_str())) }
        (tabs(&campaign, "review"))
        @if let Some(done) = q.done.as_deref().and_then(notice) {
            p.notice role="status" { (done) }
        }
        @if !campaign.manual_review {
            div.empty {
                p { "This campaign sends without review." }
                p.muted { "Turn on manual review in a draft's form (or with "
                    code { "PATCH /v1/campaigns/" (campaign.id) } ") and every outreach waits here for approval." }
            }
        } @else {
            div.card.review-summary {
                p { strong #awaiting-count { (awaiting.len()) @if more { "+" } } " awaiting approval · "
                    strong #approved-count { (approved_count) } " approved, waiting to be executed" }
                form.inline method="post" action={ "/campaigns/" (id) "/review/execute" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button #execute type="submit" disabled[approved.is_empty()] { "Execute approved" }
                }
            }
            @if awaiting.is_empty() {
                div.empty {
                    @if campaign.status.as_str() == "draft" {
                        p { "Nothing to review yet: outreaches are planned when the campaign goes live." }
                    } @else {
                        p { "Nothing awaits approval." }
                        @if !approved.is_empty() { p.muted { "Execute the approved outreaches to send them." } }
                    }
                }
            } @else {
                form #review method="post" action={ "/campaigns/" (id) "/review/approve" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    table #queue {
                        thead { tr {
                            th.select-col scope="col" { label.sr-only for="select-all" { "Select all" } input #select-all type="checkbox"; }
                            th scope="col" { "Contact" } th scope="col" { "Message" } th scope="col" { "Actions" }
                        } }
                        tbody {
                            @for (m, message) in awaiting.iter().zip(&messages) {
                                tr data-member=(m.id) {
                                    td.select-col { input type="checkbox" name="member_ids" value=(m.id) aria-label={ "Select " (m.address) }; }
                                    td { a href={ "/campaigns/" (id) "/members/" (m.id) } { (m.address) }
                                        @if m.content_edited { " " span.badge.edited { "Edited" } } }
                                    td.message {
                                        @match message {
                                            Ok(text) => { (text) }
                                            Err(why) => { span.error { "Cannot be made: " (why) } }
                                        }
                                    }
                                    td.row-actions {
                                        button.secondary type="submit" formaction={ "/campaigns/" (id) "/review/" (m.id) "/approve" }
                                            aria-label={ "Approve the message to " (m.address) } { "Approve" }
                                        a href={ "/campaigns/" (id) "/review/" (m.id) "/edit" }
                                            aria-label={ "Edit the message to " (m.address) } { "Edit" }
                                    }
                                }
                            }
                        }
                    }
                    div.actions {
                        button #approve-selected type="submit" name="scope" value="selected" { "Approve selected" }
                        button #approve-all .secondary type="submit" name="scope" value="all" { "Approve all awaiting" }
                    }
                }
                @if more {
                    nav.pager aria-label="Queue pages" {
                        a href={ "/campaigns/" (id) "/review?after=" (awaiting.last().map(|m| m.id).unwrap_or(0)) } { "Next " (PAGE) " →" }
                    }
                }
                (select_all_script())
            }
        }
    };
    Html(page(&format!("Review · {}", campaign.name), &signed, body).into_string()).into_response()
}

/// What the last action did, from the `done` the redirect carries.
fn notice(done: &str) -> Option<String> {
    let (what, n) = done.split_once('-').unwrap_or((done, ""));
    Some(match what {
        "approved" => format!("{n} approved."),
        "executed" => format!("{n} executed: they are sent as the campaign runs."),
        "edited" => "Message saved. It needs approving (again) before it is sent.".to_owned(),
        _ => return None,
    })
}

fn select_all_script() -> Markup {
    html! {
        script {
            (PreEscaped(r#"
document.getElementById('select-all').addEventListener('change', function (e) {
  document.querySelectorAll('#queue tbody input[type=checkbox]').forEach(function (b) { b.checked = e.target.checked; });
});
"#))
        }
    }
}

pub async fn approve_many(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(pairs): Posted,
) -> Response {
    let (tenant, _) = match load_posted(&state, &signed, id, &pairs).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let all = pairs.iter().any(|(k, v)| k == "scope" && v == "all");
    let ids: Vec<Id> = pairs
        .iter()
        .filter(|(k, _)| k == "member_ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let (ids, all) = if all {
        (None, Some(true))
    } else {
        (Some(ids), None)
    };
    let moved = match api::selection(&ids, all) {
        Ok(which) => api::approve_selected(&state, &tenant, id, which).await,
        Err(e) => Err(e),
    };
    match moved {
        Ok(n) => back(id, &format!("approved-{n}")),
        Err(e) => not_done(&signed, id, e),
    }
}

pub async fn approve_one(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, member)): Path<(Id, Id)>,
    Form(pairs): Posted,
) -> Response {
    let (tenant, _) = match load_posted(&state, &signed, id, &pairs).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    match api::approve_one(&state, &tenant, id, member).await {
        Ok(_) => back(id, "approved-1"),
        Err(e) => not_done(&signed, id, e),
    }
}

pub async fn execute(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(pairs): Posted,
) -> Response {
    let (tenant, _) = match load_posted(&state, &signed, id, &pairs).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    match api::execute(&state, &tenant, id).await {
        Ok(n) => back(id, &format!("executed-{n}")),
        Err(e) => not_done(&signed, id, e),
    }
}

/// One member's message as the edit form's inputs.
fn inputs_of(content: &CampaignContent) -> Vec<(&'static str, String)> {
    match content {
        CampaignContent::Sms { body, .. } => vec![("body", body.clone())],
        CampaignContent::Email {
            subject,
            body,
            html_body,
        } => vec![
            ("subject", subject.clone()),
            ("body", body.clone().unwrap_or_default()),
            ("html_body", html_body.clone().unwrap_or_default()),
        ],
        CampaignContent::Whatsapp { template } => vec![
            ("template_name", template.name.clone()),
            ("template_language", template.language.clone()),
            (
                "template_parameters",
                template
                    .parameters
                    .iter()
                    .map(|p| match p {
                        TemplateParameter::Field(f) => f.clone(),
                        TemplateParameter::Literal(l) => format!("={l}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
        CampaignContent::Voice(_) => Vec::new(),
    }
}

/// The edit as the API's `PUT .../content` takes it; what the form does
/// not show (media) is kept from the message being edited.
fn edit_of(current: &CampaignContent, pairs: &[(String, String)]) -> EditContent {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut edit = EditContent {
        body: None,
        media_id: None,
        subject: None,
        html_body: None,
        template: None,
    };
    match current {
        CampaignContent::Sms { media_id, .. } => {
            edit.body = get("body");
            edit.media_id = *media_id;
        }
        CampaignContent::Email { .. } => {
            edit.subject = get("subject");
            edit.body = get("body");
            edit.html_body = get("html_body");
        }
        CampaignContent::Whatsapp { template } => {
            edit.template = Some(TemplateInput {
                name: get("template_name").unwrap_or_default(),
                language: get("template_language").unwrap_or_default(),
                parameters: get("template_parameters")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| match p.strip_prefix('=') {
                        Some(l) => TemplateParameter::Literal(l.to_owned()),
                        None => TemplateParameter::Field(p.to_owned()),
                    })
                    .collect(),
                header_media_id: template.header_media_id,
            });
        }
        CampaignContent::Voice(_) => {}
    }
    edit
}

fn edit_page(
    signed: &Signed,
    campaign: &Campaign,
    member: Id,
    address: &str,
    inputs: &[(&'static str, String)],
    errors: &Errors,
) -> String {
    let label = |name: &str| match name {
        "body" if campaign.kind.as_str() == "email" => "Text body",
        "body" => "Message body",
        "subject" => "Subject",
        "html_body" => "HTML body",
        "template_name" => "Template",
        "template_language" => "Language",
        _ => "Template parameters",
    };
    let body = html! {
        p { a href={ "/campaigns/" (campaign.id) "/review" } { "← The review queue" } }
        h1 { "Edit the message to " (address) }
        @if inputs.is_empty() {
            div.empty { p { "A voice campaign's call has no message to edit." } }
        } @else {
            form.card #edit-message method="post" action={ "/campaigns/" (campaign.id) "/review/" (member) "/edit" } novalidate {
                input type="hidden" name="csrf" value=(signed.csrf);
                (errors.summary())
                @for (name, value) in inputs {
                    @let name: &str = name;
                    @let slot = if name.starts_with("template") { "template" } else { name };
                    (field(name, label(name), errors, None, html! {
                        @if name.ends_with("body") {
                            textarea id=(name) name=(name) rows="5" aria-invalid=[errors.invalid(slot)] aria-describedby=[errors.described(slot)] { (value) }
                        } @else {
                            input id=(name) type="text" name=(name) value=(value) aria-invalid=[errors.invalid(slot)] aria-describedby=[errors.described(slot)];
                        }
                    }))
                }
                (errors.beside("template"))
                p.muted { "Contact fields such as {{first_name}} are filled in when it is sent. The edit needs approving before it goes." }
                div.actions {
                    button type="submit" { "Save message" }
                    a href={ "/campaigns/" (campaign.id) "/review" } { "Cancel" }
                }
            }
        }
    };
    page(&format!("Edit message · {}", campaign.name), signed, body).into_string()
}

pub async fn edit_form(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, member)): Path<(Id, Id)>,
) -> Response {
    let (tenant, campaign) = match load(&state, &signed, id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (m, content) = match member_message(&state, &tenant, &campaign, member).await {
        Ok(l) => l,
        Err(e) => return failure(&signed, e),
    };
    let inputs = inputs_of(&content);
    Html(edit_page(
        &signed,
        &campaign,
        member,
        &m.address,
        &inputs,
        &Errors::default(),
    ))
    .into_response()
}

pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, member)): Path<(Id, Id)>,
    Form(pairs): Posted,
) -> Response {
    let (tenant, campaign) = match load_posted(&state, &signed, id, &pairs).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (m, current) = match member_message(&state, &tenant, &campaign, member).await {
        Ok(l) => l,
        Err(e) => return failure(&signed, e),
    };
    let edit = edit_of(&current, &pairs);
    match api::edit_member(&state, &tenant, id, member, edit).await {
        Ok(_) => back(id, "edited"),
        Err(e) => {
            // The refusal beside its field, with what was typed kept.
            // Named as the API names them: `body` is this page's body input
            // whatever the type.
            let (errors, status) = match Errors::from_api(e, "") {
                Ok(shown) => shown,
                Err(e) => return failure(&signed, e),
            };
            let status = match status {
                s if s.is_client_error() => s,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let inputs: Vec<(&'static str, String)> = inputs_of(&current)
                .into_iter()
                .map(|(name, old)| {
                    let typed = pairs
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone());
                    (name, typed.unwrap_or(old))
                })
                .collect();
            (
                status,
                Html(edit_page(
                    &signed, &campaign, member, &m.address, &inputs, &errors,
                )),
            )
                .into_response()
        }
    }
}

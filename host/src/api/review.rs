//! Manual review (seed 004): approve one or many planned outreaches, edit
//! one member's message, "execute all approved"; and disabling or enabling
//! a single member.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::domain::campaign_spec::{CampaignContent, CampaignInput, TemplateInput};
use crate::store::{Campaign, Id, Member, Selection, Tenant};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Moved {
    /// Members whose status changed.
    pub members: u64,
}

/// Which members to approve: a list of ids, or all awaiting approval.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveMany {
    pub member_ids: Option<Vec<Id>>,
    /// `true`: every member awaiting approval.
    pub all: Option<bool>,
}

/// The members a bulk action names: a list of ids, or `all: true`.
pub(crate) fn selection(
    member_ids: &Option<Vec<Id>>,
    all: Option<bool>,
) -> ApiResult<Selection<'_>> {
    match (member_ids, all) {
        (Some(ids), None | Some(false)) => Ok(Selection::Only(ids)),
        (None, Some(true)) => Ok(Selection::All),
        _ => Err(ApiError::invalid(
            "member_ids",
            "give either `member_ids` (a list) or `all: true`",
        )),
    }
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/approve", tag = "review",
    request_body = ApproveMany,
    responses((status = 200, body = Moved), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn approve_many(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<ApproveMany>,
) -> ApiResult<Json<Moved>> {
    let which = selection(&req.member_ids, req.all)?;
    let members = approve_selected(&state, &tenant, id, which).await?;
    Ok(Json(Moved { members }))
}

/// Approves the selected members awaiting approval (API and console).
pub(crate) async fn approve_selected(
    state: &AppState,
    tenant: &Tenant,
    id: Id,
    which: Selection<'_>,
) -> ApiResult<u64> {
    Ok(state.store.approve_members(tenant.id, id, which).await?)
}

/// Approves one member; 409 when it is not awaiting approval.
pub(crate) async fn approve_one(
    state: &AppState,
    tenant: &Tenant,
    id: Id,
    member: Id,
) -> ApiResult<Member> {
    let moved = state
        .store
        .approve_members(tenant.id, id, Selection::Only(&[member]))
        .await?;
    if moved == 0 {
        return Err(ApiError::Conflict(format!(
            "member {member} of campaign {id} is not awaiting approval"
        )));
    }
    Ok(state.store.member(tenant.id, id, member).await?)
}

/// Queues every approved member and wakes the dispatcher.
pub(crate) async fn execute(state: &AppState, tenant: &Tenant, id: Id) -> ApiResult<u64> {
    let members = state.store.execute_approved(tenant.id, id).await?;
    if members > 0 {
        state.engine.wake();
    }
    Ok(members)
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/members/{member}/approve", tag = "review",
    params(("id" = i64, Path, description = "Campaign id"), ("member" = i64, Path, description = "Member id")),
    responses((status = 200, body = Member), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
) -> ApiResult<Json<Member>> {
    approve_one(&state, &tenant, id, member).await.map(Json)
}

/// Queues every approved member; they are sent as the campaign runs.
#[utoipa::path(post, path = "/v1/campaigns/{id}/execute-approved", tag = "review",
    responses((status = 200, body = Moved), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn execute_approved(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Moved>> {
    let members = execute(&state, &tenant, id).await?;
    Ok(Json(Moved { members }))
}

/// A reviewer's version of one member's message, in the fields of the
/// campaign's type (`body` for SMS, `subject`/`body`/`html_body` for email,
/// `template` for WhatsApp). Variables (`{{first_name}}`) still render.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditContent {
    pub body: Option<String>,
    pub media_id: Option<i64>,
    pub subject: Option<String>,
    pub html_body: Option<String>,
    pub template: Option<TemplateInput>,
}

#[utoipa::path(put, path = "/v1/campaigns/{id}/members/{member}/content", tag = "review",
    request_body = EditContent,
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn edit_content(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
    ApiJson(req): ApiJson<EditContent>,
) -> ApiResult<Json<CampaignContent>> {
    edit_member(&state, &tenant, id, member, req)
        .await
        .map(Json)
}

/// Replaces one member's message after checking it by the rules of the
/// campaign's type (API and console).
pub(crate) async fn edit_member(
    state: &AppState,
    tenant: &Tenant,
    id: Id,
    member: Id,
    req: EditContent,
) -> ApiResult<CampaignContent> {
    let campaign = state.store.campaign(tenant.id, id).await?;
    // Checked by the rules a campaign of this type is created with.
    let input = CampaignInput {
        name: campaign.name.clone(),
        kind: Some(campaign.kind.as_str().to_owned()),
        channel_id: campaign.channel_id,
        list_id: campaign.list_id,
        body: req.body,
        media_id: req.media_id,
        subject: req.subject,
        html_body: req.html_body,
        template: req.template,
        ..Default::default()
    };
    let spec = input
        .check()
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    if matches!(spec.content, CampaignContent::Voice(_)) {
        return Err(ApiError::invalid(
            "body",
            "a voice campaign's call has no message to edit",
        ));
    }
    // Its media (the tenant's own), template and variables are checked
    // now, as a campaign's are, not found wanting at send time.
    let refs = super::campaign_checks::Refs {
        tenant: tenant.id,
        kind: campaign.kind,
        channel_id: campaign.channel_id,
        list_id: campaign.list_id,
        content: &spec.content,
    };
    super::campaign_checks::check(state, &refs).await?;
    state
        .store
        .edit_member_content(tenant.id, id, member, &spec.content)
        .await?;
    Ok(spec.content)
}

/// What this member will be sent: the reviewer's edit, else the campaign's
/// content (before variables are filled in).
#[utoipa::path(get, path = "/v1/campaigns/{id}/members/{member}/content", tag = "review",
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn content(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
) -> ApiResult<Json<CampaignContent>> {
    let campaign = state.store.campaign(tenant.id, id).await?;
    member_message(&state, &tenant, &campaign, member)
        .await
        .map(Json)
}

/// What this member will be sent, before variables are filled in: the
/// reviewer's edit, else the campaign's content.
pub(crate) async fn member_message(
    state: &AppState,
    tenant: &Tenant,
    campaign: &Campaign,
    member: Id,
) -> ApiResult<CampaignContent> {
    let edited = state
        .store
        .member_content(tenant.id, campaign.id, member)
        .await?;
    Ok(edited.unwrap_or_else(|| campaign.content.clone()))
}

/// The messages these members will get, variables filled in from their
/// contacts as the sender will (an error says why one cannot be made).
pub(crate) async fn rendered_messages(
    state: &AppState,
    tenant: &Tenant,
    campaign: &Campaign,
    members: &[Member],
) -> ApiResult<Vec<Result<String, String>>> {
    let ids: Vec<Id> = members.iter().map(|m| m.contact_id).collect();
    let contacts = state.store.contacts_by_ids(tenant.id, &ids).await?;
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let content = if m.content_edited {
            member_message(state, tenant, campaign, m.id).await?
        } else {
            campaign.content.clone()
        };
        let values = contacts
            .iter()
            .find(|c| c.id == m.contact_id)
            .map(super::campaign_preview::values_of)
            .unwrap_or_default();
        out.push(
            state
                .engine
                .preview(tenant.id, &content, values, campaign.missing_field)
                .await
                .map_err(|e| e.message),
        );
    }
    Ok(out)
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/members/{member}/disable", tag = "review",
    params(("id" = i64, Path, description = "Campaign id"), ("member" = i64, Path, description = "Member id")),
    responses((status = 200, body = Member), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
) -> ApiResult<Json<Member>> {
    state.store.disable_member(tenant.id, id, member).await?;
    Ok(Json(state.store.member(tenant.id, id, member).await?))
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/members/{member}/enable", tag = "review",
    params(("id" = i64, Path, description = "Campaign id"), ("member" = i64, Path, description = "Member id")),
    responses((status = 200, body = Member), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
) -> ApiResult<Json<Member>> {
    state.store.enable_member(tenant.id, id, member).await?;
    state.engine.wake();
    Ok(Json(state.store.member(tenant.id, id, member).await?))
}

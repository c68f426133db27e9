//! SMS campaigns: create, read, start/pause/resume/cancel, progress, members.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::lists::Page;
use crate::domain::campaign::{CampaignAction, CampaignStatus};
use crate::domain::member::MemberStatus;
use crate::domain::template::BodyTemplate;
use crate::store::{Campaign, Id, MemberPage, NewCampaign, Progress, StoreError};

/// The longest SMS body accepted (characters, emoji included), as peers allow.
pub const MAX_SMS_BODY_CHARS: usize = 1600;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    pub name: String,
    /// Campaign type; only `sms` is served so far.
    #[serde(default = "default_kind", rename = "type")]
    pub kind: String,
    pub channel_id: Id,
    pub list_id: Id,
    /// Message text, up to 1,600 characters, with `{{variables}}` from
    /// contact fields (`first_name`, `last_name`, `name`, `phone`, `email`
    /// and the list's custom fields).
    pub body: String,
    /// `manual` (default): the audience is the list when the campaign
    /// starts. `automatic`: once started, contacts added later (API,
    /// import, inbound) are enrolled and sent to; the campaign stays running.
    #[serde(default = "default_mode")]
    pub execution_mode: String,
    /// Automatic campaigns only: enrol unknown numbers that message the
    /// campaign's channel.
    #[serde(default)]
    pub inbound_enrolment: bool,
}

fn default_mode() -> String {
    "manual".into()
}

fn default_kind() -> String {
    "sms".into()
}

#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, body = Campaign), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<CreateCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if req.kind != "sms" {
        return Err(ApiError::invalid(
            "type",
            format!("{:?} is not supported; use \"sms\"", req.kind),
        ));
    }
    if !matches!(req.execution_mode.as_str(), "manual" | "automatic") {
        return Err(ApiError::invalid(
            "execution_mode",
            format!("{:?}: use \"manual\" or \"automatic\"", req.execution_mode),
        ));
    }
    if req.inbound_enrolment && req.execution_mode != "automatic" {
        return Err(ApiError::invalid(
            "inbound_enrolment",
            "only an automatic campaign enrols contacts after it starts",
        ));
    }
    let channel = match state.store.channel(tenant.id, req.channel_id).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::invalid(
                "channel_id",
                format!("unknown channel {}", req.channel_id),
            ));
        }
        other => other?,
    };
    match state.store.list(tenant.id, req.list_id).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::invalid(
                "list_id",
                format!("unknown list {}", req.list_id),
            ));
        }
        other => other?,
    };
    if req.body.trim().is_empty() {
        return Err(ApiError::invalid("body", "must not be empty"));
    }
    let chars = req.body.chars().count();
    if chars > MAX_SMS_BODY_CHARS {
        return Err(ApiError::invalid(
            "body",
            format!("{chars} characters; at most {MAX_SMS_BODY_CHARS}"),
        ));
    }
    let template =
        BodyTemplate::parse(&req.body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let custom = state.store.list_field_names(tenant.id, req.list_id).await?;
    template
        .check_variables(&custom)
        .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let campaign = state
        .store
        .create_campaign(
            tenant.id,
            NewCampaign {
                name: req.name.trim().to_owned(),
                kind: req.kind,
                channel_id: channel.id,
                list_id: req.list_id,
                body: req.body,
                execution_mode: req.execution_mode,
                inbound_enrolment: req.inbound_enrolment,
            },
        )
        .await?;
    tracing::info!(
        tenant = tenant.id,
        campaign = campaign.id,
        "campaign created"
    );
    Ok((StatusCode::CREATED, Json(campaign)))
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns",
    responses((status = 200, body = Vec<Campaign>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> ApiResult<Json<Vec<Campaign>>> {
    Ok(Json(state.store.campaigns(tenant.id).await?))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns",
    responses((status = 200, body = Campaign), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Campaign>> {
    Ok(Json(state.store.campaign(tenant.id, id).await?))
}

/// Applies a user action through the state machine; 409 names the allowed ones.
async fn act(
    state: &AppState,
    tenant: Id,
    id: Id,
    action: CampaignAction,
) -> ApiResult<Json<Campaign>> {
    let campaign = state.store.campaign(tenant, id).await?;
    let to = campaign
        .status
        .transition(action)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    if action == CampaignAction::Start {
        let members = state.store.start_campaign(tenant, id).await?;
        tracing::info!(tenant, campaign = id, members, "campaign started");
    } else {
        let reason = (action == CampaignAction::Pause).then_some("paused by user");
        state
            .store
            .set_campaign_status(tenant, id, campaign.status, to, reason)
            .await?;
        tracing::info!(
            tenant,
            campaign = id,
            from = campaign.status.as_str(),
            to = to.as_str(),
            "campaign status changed"
        );
    }
    if to == CampaignStatus::Running {
        state.engine.wake();
    }
    Ok(Json(state.store.campaign(tenant, id).await?))
}

macro_rules! action_handler {
    ($fn:ident, $action:expr, $path:literal) => {
        #[utoipa::path(post, path = $path, tag = "campaigns",
            responses((status = 200, body = Campaign), (status = 404, body = super::error::ErrorBody),
                (status = 409, body = super::error::ErrorBody)),
            security(("api_key" = [])))]
        pub async fn $fn(
            State(state): State<AppState>,
            TenantAuth(tenant): TenantAuth,
            Path(id): Path<Id>,
        ) -> ApiResult<Json<Campaign>> {
            act(&state, tenant.id, id, $action).await
        }
    };
}

action_handler!(start, CampaignAction::Start, "/v1/campaigns/{id}/start");
action_handler!(pause, CampaignAction::Pause, "/v1/campaigns/{id}/pause");
action_handler!(resume, CampaignAction::Resume, "/v1/campaigns/{id}/resume");
action_handler!(cancel, CampaignAction::Cancel, "/v1/campaigns/{id}/cancel");

#[utoipa::path(get, path = "/v1/campaigns/{id}/progress", tag = "campaigns",
    responses((status = 200, body = Progress), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn progress(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Progress>> {
    state.store.campaign(tenant.id, id).await?;
    Ok(Json(state.store.progress(tenant.id, id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MemberFilter {
    /// Only members in this status.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/members", tag = "campaigns", params(Page, MemberFilter),
    responses((status = 200, body = MemberPage), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn members(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    Query(page): Query<Page>,
    Query(filter): Query<MemberFilter>,
) -> ApiResult<Json<MemberPage>> {
    let status = filter
        .status
        .as_deref()
        .map(|s| {
            MemberStatus::parse(s).ok_or_else(|| {
                let all: Vec<_> = MemberStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::invalid(
                    "status",
                    format!("unknown status {s:?}; one of {}", all.join(", ")),
                )
            })
        })
        .transpose()?;
    Ok(Json(
        state
            .store
            .members(tenant.id, id, status, page.after, page.limit())
            .await?,
    ))
}

/// Adds contacts to a live automatic campaign (seed 004's API enrolment),
/// idempotent by phone, then email.
#[utoipa::path(post, path = "/v1/campaigns/{id}/contacts", tag = "campaigns",
    request_body = super::lists::AddContacts,
    responses((status = 200, body = crate::store::Enrolled), (status = 409, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn enrol(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<super::lists::AddContacts>,
) -> ApiResult<Json<crate::store::Enrolled>> {
    let contacts = super::lists::validate_contacts(req)?;
    let enrolled = state.store.enrol_contacts(tenant.id, id, &contacts).await?;
    if enrolled.enrolled > 0 {
        tracing::info!(
            tenant = tenant.id,
            campaign = id,
            enrolled = enrolled.enrolled,
            "contacts enrolled"
        );
        state.engine.wake();
    }
    Ok(Json(enrolled))
}

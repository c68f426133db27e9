//! Campaigns of every type: create, read, progress, members and their
//! conversations. Lifecycle operations are in `campaign_ops`, the list in
//! `campaign_list`, manual review in `review`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::campaign_checks::{self, Refs};
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{self, Page, PageQuery};
use crate::domain::campaign_spec::CampaignInput;
use crate::domain::member::MemberStatus;
use crate::domain::send_window::CampaignWindows;
use crate::domain::tags::{custom_tags, default_tag};
use crate::store::{Campaign, ConversationMessage, Id, Member, NewCampaign, Progress, Tenant};

#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CampaignInput,
    responses((status = 201, body = Campaign), (status = 400, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<CampaignInput>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    let campaign = create_campaign(&state, &tenant, req).await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// Creates a draft from a client's definition: the API's `POST
/// /v1/campaigns` and the console's form both come here, so both refuse
/// the same input with the same field named.
pub(crate) async fn create_campaign(
    state: &AppState,
    tenant: &Tenant,
    mut req: CampaignInput,
) -> ApiResult<Campaign> {
    let template = super::message_templates::apply_to_input(state, tenant.id, &mut req).await?;
    let new = definition(state, tenant, &req).await?;
    let mut campaign = state.store.create_campaign(tenant.id, new).await?;
    if let Some(t) = template {
        state
            .store
            .set_campaign_template(tenant.id, campaign.id, t.id, t.version)
            .await?;
        campaign = state.store.campaign(tenant.id, campaign.id).await?;
    }
    tracing::info!(
        tenant = tenant.id,
        campaign = campaign.id,
        kind = campaign.kind.as_str(),
        "campaign created"
    );
    Ok(campaign)
}

/// Checks a campaign definition (at creation, or a draft's edit) against
/// its type's rules and the tenant's channels, lists and templates.
pub(super) async fn definition(
    state: &AppState,
    tenant: &Tenant,
    req: &CampaignInput,
) -> ApiResult<NewCampaign> {
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let spec = req.check().map_err(|e| {
        if e.missing {
            ApiError::BadRequest {
                field: Some(e.field),
                message: e.message,
            }
        } else {
            ApiError::invalid(&e.field, e.message)
        }
    })?;
    let refs = Refs {
        tenant: tenant.id,
        kind: spec.kind,
        channel_id: req.channel_id,
        list_id: req.list_id,
        content: &spec.content,
    };
    let channel = campaign_checks::check(state, &refs).await?;
    let journey = crate::domain::journey::check_journey(
        spec.kind,
        channel.id,
        req.fallback.as_ref(),
        req.follow_ups.as_deref().unwrap_or_default(),
    )
    .map_err(|e| {
        if e.missing {
            ApiError::BadRequest {
                field: Some(e.field),
                message: e.message,
            }
        } else {
            ApiError::invalid(&e.field, e.message)
        }
    })?;
    campaign_checks::check_journey(state, tenant.id, req.list_id, &journey).await?;
    let max_concurrent = spec.max_concurrent();
    let execution_mode = req
        .execution_mode
        .clone()
        .unwrap_or_else(|| "manual".into());
    if !matches!(execution_mode.as_str(), "manual" | "automatic") {
        return Err(ApiError::invalid(
            "execution_mode",
            format!("{execution_mode:?}: use \"manual\" or \"automatic\""),
        ));
    }
    let windows = CampaignWindows {
        quiet_hours: req.quiet_hours.clone(),
        calling_hours: req.calling_hours.clone(),
    };
    windows
        .check()
        .map_err(|(field, why)| ApiError::invalid(field, why))?;
    let scheduled_at = req
        .scheduled_at
        .as_deref()
        .map(|s| super::campaign_timing::parse_future(s, tenant))
        .transpose()?;
    let ends_at = req
        .ends_at
        .as_deref()
        .map(|s| super::campaign_timing::parse_future_field(s, tenant, "ends_at"))
        .transpose()?;
    super::campaign_timing::check_end(ends_at, scheduled_at)?;
    let inbound_enrolment = req.inbound_enrolment.unwrap_or(false);
    if inbound_enrolment && execution_mode != "automatic" {
        return Err(ApiError::invalid(
            "inbound_enrolment",
            "only an automatic campaign enrols contacts after it starts",
        ));
    }
    let name = req.name.trim().to_owned();
    let tags = match &req.tags {
        Some(tags) => {
            custom_tags(tags, &default_tag(&name)).map_err(|e| ApiError::invalid("tags", e))?
        }
        None => Vec::new(),
    };
    Ok(NewCampaign {
        name,
        kind: spec.kind,
        channel_id: channel.id,
        list_id: req.list_id,
        content: spec.content,
        send_mode: spec.delivery.send_mode,
        session_target: spec.delivery.session_target,
        max_concurrent,
        execution_mode,
        inbound_enrolment,
        notes: req.notes.clone(),
        tags,
        manual_review: req.manual_review.unwrap_or(false),
        wait_for_sender: req.wait_for_sender.unwrap_or(false),
        windows,
        scheduled_at,
        ends_at,
        journey,
        missing_field: req.missing_field.unwrap_or_default(),
    })
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
#[serde(deny_unknown_fields)]
pub struct MemberFilter {
    /// Members per page (default 100, at most 1000).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only members in this status.
    pub status: Option<String>,
    /// Only members showing this contact status (`display_status`).
    pub display_status: Option<String>,
    /// Only the member(s) with this address (phone or email, as given).
    pub address: Option<String>,
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/members", tag = "campaigns",
    params(("id" = i64, Path, description = "Campaign id"), MemberFilter),
    responses((status = 200, body = Page<Member>), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn members(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiQuery(filter): ApiQuery<MemberFilter>,
) -> ApiResult<Json<Page<Member>>> {
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
    if let Some(display) = filter.display_status.as_deref() {
        let mut known: Vec<&str> = MemberStatus::ALL
            .iter()
            .flat_map(|s| [s.display_status(false), s.display_status(true)])
            .collect();
        known.sort_unstable();
        known.dedup();
        if !known.contains(&display) {
            return Err(ApiError::invalid(
                "display_status",
                format!(
                    "unknown display status {display:?}; one of {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let after = paging::id_cursor(filter.cursor.as_deref())?.unwrap_or(0);
    let limit = paging::limit(filter.limit, 100, 1000);
    let filter = crate::store::MemberFilter {
        status,
        display_status: filter.display_status,
        address: filter
            .address
            .as_deref()
            .map(crate::domain::reply::normalise_address),
    };
    let members = state
        .store
        .members(tenant.id, id, &filter, after, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(members, limit, |m| m.id.to_string())))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/members/{member}/conversation", tag = "campaigns",
    params(("id" = i64, Path, description = "Campaign id"), ("member" = i64, Path, description = "Member id"), PageQuery),
    responses((status = 200, body = Page<ConversationMessage>), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn conversation(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ConversationMessage>>> {
    let all = state.store.conversation(tenant.id, id, member).await?;
    // Oldest first, as a conversation reads.
    Ok(Json(Page::of_all(all, &page, 1000, |m| m.id)?))
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

/// A member's journey: current step, next scheduled outreach (channel,
/// time, rendered content) and its history.
#[utoipa::path(get, path = "/v1/campaigns/{id}/members/{member}/journey", tag = "campaigns",
    responses((status = 200, body = crate::store::JourneyView), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn journey(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
) -> ApiResult<Json<crate::store::JourneyView>> {
    let mut view = state.store.journey(tenant.id, id, member).await?;
    if let Some(next) = &mut view.next
        && let Some((content, values, missing)) = next.source.take()
    {
        match state
            .engine
            .preview(tenant.id, &content, values, missing)
            .await
        {
            Ok(text) => next.content = Some(text),
            Err(why) => next.content_error = Some(why.message),
        }
    }
    Ok(Json(view))
}

//! A campaign's timing: its scheduled start (entered in the tenant's
//! timezone or as an instant, stored in UTC) and its sending windows.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Deserializer};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::domain::journey_timing::retime;
use crate::domain::lifecycle::{Action, Status};
use crate::domain::schedule::parse_schedule;
use crate::domain::send_window::{CallingHours, CampaignWindows, Hours, parse_timezone};
use crate::store::{Campaign, Id, Tenant, TimingEdit};

/// `scheduled_at` as entered -> ms, refusing instants already past.
pub fn parse_future(input: &str, tenant: &Tenant) -> ApiResult<i64> {
    parse_future_field(input, tenant, "scheduled_at")
}

/// A future instant entered like `scheduled_at`, for `field`.
pub fn parse_future_field(input: &str, tenant: &Tenant, field: &str) -> ApiResult<i64> {
    let tz = parse_timezone(&tenant.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = parse_schedule(input, &tz).map_err(|why| ApiError::invalid(field, why))?;
    let ms = at.as_millisecond();
    if ms <= crate::store::now_ms() {
        return Err(ApiError::invalid(
            field,
            format!("{input} ({at}) is in the past"),
        ));
    }
    Ok(ms)
}

/// The end date, if any, after the start (when there is one).
pub fn check_end(ends_at: Option<i64>, starts_at: Option<i64>) -> ApiResult<()> {
    match (ends_at, starts_at) {
        (Some(end), Some(start)) if end <= start => Err(ApiError::invalid(
            "ends_at",
            "must be after the campaign's scheduled start",
        )),
        _ => Ok(()),
    }
}

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditTiming {
    /// Local time in the tenant's timezone or an RFC 3339 instant, while the
    /// campaign has not started; `null` clears it (drafts only).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub scheduled_at: Option<Option<String>>,
    /// Drafts only; `null` returns to the tenant's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Hours>)]
    pub quiet_hours: Option<Option<Hours>>,
    /// Drafts only; `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CallingHours>)]
    pub calling_hours: Option<Option<CallingHours>>,
    /// The end date (like `scheduled_at`, in the future), also on a live
    /// campaign; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub ends_at: Option<Option<String>>,
    /// Days each follow-up waits after the previous step, one per follow-up
    /// in order (1-7), also on a live campaign: members already waiting for
    /// a follow-up have it moved by the change.
    pub follow_up_days: Option<Vec<i64>>,
}

/// The request keys of [`EditTiming`] that `PATCH /v1/campaigns/{id}` also
/// takes (its windows keep their place among the definition's fields).
pub const SCHEDULE_KEYS: [&str; 3] = ["scheduled_at", "ends_at", "follow_up_days"];

/// Changes when a campaign starts (a draft, or a scheduled campaign that has
/// not started yet), when it ends and how long its follow-ups wait (until it
/// is over) and, for a draft, its quiet and calling hours.
#[utoipa::path(patch, path = "/v1/campaigns/{id}/schedule", tag = "campaigns",
    request_body = EditTiming,
    responses((status = 200, body = Campaign), (status = 409, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn edit(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<EditTiming>,
) -> ApiResult<Json<Campaign>> {
    let campaign = state.store.campaign(tenant.id, id).await?;
    let edit = check(&campaign, &tenant, req)?;
    write(&state, &tenant, &campaign, &edit).await?;
    Ok(Json(state.store.campaign(tenant.id, id).await?))
}

/// Writes a checked timing edit against the status it was checked in.
pub async fn write(
    state: &AppState,
    tenant: &Tenant,
    campaign: &Campaign,
    edit: &TimingEdit,
) -> ApiResult<()> {
    state
        .store
        .edit_campaign_timing(tenant.id, campaign.id, campaign.status, edit)
        .await?;
    if edit.follow_ups.is_some()
        && campaign.status == Status::Draft
        && campaign.message_template_id.is_some()
    {
        // Gaps set by hand: going live must not overwrite them with the
        // template's sequence (as for content edited by hand).
        state
            .store
            .detach_campaign_template(tenant.id, campaign.id)
            .await?;
    }
    tracing::info!(
        tenant = tenant.id,
        campaign = campaign.id,
        scheduled_at = ?edit.scheduled_at,
        ends_at = ?edit.ends_at,
        follow_up_days = ?edit.follow_ups.as_ref().map(|(j, _)| j.follow_ups.iter().filter_map(|s| s.after_days).collect::<Vec<_>>()),
        "campaign schedule edited"
    );
    Ok(())
}

/// Checks a timing edit against the campaign's status: the start only
/// before it, the windows only in a draft, the end date and follow-up gaps
/// until the campaign is over.
pub fn check(campaign: &Campaign, tenant: &Tenant, req: EditTiming) -> ApiResult<TimingEdit> {
    let (id, status) = (campaign.id, campaign.status);
    // Nothing at all is editable in a finished campaign.
    status.apply(Action::Edit)?;
    if req.scheduled_at.is_some() && !matches!(status, Status::Draft | Status::Scheduled) {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is {}: it has started, so its start time is fixed \
             (its end date and follow-up days can still change)",
            status.as_str()
        )));
    }
    let windows_given = req.quiet_hours.is_some() || req.calling_hours.is_some();
    if windows_given && status != Status::Draft {
        return Err(ApiError::Conflict(format!(
            "campaign {id} is live: its quiet and calling hours are fixed; duplicate it to change them"
        )));
    }
    let ends_at = match &req.ends_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(Some(parse_future_field(s, tenant, "ends_at")?)),
    };
    let scheduled_at = match req.scheduled_at {
        None => None,
        Some(None) if status == Status::Scheduled => {
            return Err(ApiError::Conflict(format!(
                "campaign {id} is scheduled: give it another time, or cancel it"
            )));
        }
        Some(None) => Some(None),
        Some(Some(s)) => Some(Some(parse_future(&s, tenant)?)),
    };
    check_end(
        ends_at.unwrap_or(campaign.ends_at_ms),
        scheduled_at.unwrap_or(campaign.scheduled_at_ms),
    )?;
    let windows = windows_given.then(|| CampaignWindows {
        quiet_hours: req
            .quiet_hours
            .unwrap_or_else(|| campaign.windows.quiet_hours.clone()),
        calling_hours: req
            .calling_hours
            .unwrap_or_else(|| campaign.windows.calling_hours.clone()),
    });
    if let Some(w) = &windows {
        w.check()
            .map_err(|(field, why)| ApiError::invalid(field, why))?;
    }
    let follow_ups = req
        .follow_up_days
        .map(|days| retime(&campaign.journey, &days))
        .transpose()
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    Ok(TimingEdit {
        scheduled_at,
        windows,
        ends_at,
        follow_ups,
    })
}

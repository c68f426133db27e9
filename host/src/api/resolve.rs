//! Resolving members whose send's outcome is `unknown` (issue 13): Herald
//! looks each up at the provider when the plugin can; what it cannot
//! settle an operator decides here, one member or many.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::review::Moved;
use crate::store::{Id, Resolution, Selection};

/// One member's resolution.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveOne {
    /// `sent` (the provider has it: give its `provider_message_id`),
    /// `failed` (it never went out; "retry failed" may send it), or
    /// `resend` (send it again under the same idempotency key).
    #[serde(rename = "as")]
    pub resolution: String,
    pub provider_message_id: Option<String>,
}

/// Many members' resolution: `failed` or `resend`, for a list of ids or
/// every `unknown` member of the campaign.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveMany {
    #[serde(rename = "as")]
    pub resolution: String,
    pub member_ids: Option<Vec<Id>>,
    /// `true`: every member of the campaign whose outcome is `unknown`.
    pub all: Option<bool>,
}

fn resolution(name: &str, provider_message_id: Option<String>) -> ApiResult<Resolution> {
    match (name, provider_message_id) {
        ("sent", Some(id)) if !id.trim().is_empty() && id.len() <= 256 => Ok(Resolution::Sent {
            provider_message_id: id,
        }),
        ("sent", _) => Err(ApiError::invalid(
            "provider_message_id",
            "resolving as sent needs the provider's message id (1 to 256 characters), \
             so its receipt can be matched and looked up",
        )),
        ("failed" | "resend", Some(_)) => Err(ApiError::invalid(
            "provider_message_id",
            "only a member resolved as sent has a provider message id",
        )),
        ("failed", None) => Ok(Resolution::Failed),
        ("resend", None) => Ok(Resolution::Resend),
        (other, _) => Err(ApiError::invalid(
            "as",
            format!("unknown resolution {other:?}; one of sent, failed, resend"),
        )),
    }
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/members/{member}/resolve", tag = "campaigns",
    request_body = ResolveOne,
    responses((status = 200, body = Moved), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn resolve_one(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((id, member)): Path<(Id, Id)>,
    ApiJson(req): ApiJson<ResolveOne>,
) -> ApiResult<Json<Moved>> {
    let resolution = resolution(&req.resolution, req.provider_message_id)?;
    let members = resolve(
        &state,
        tenant.id,
        id,
        Selection::Only(&[member]),
        &resolution,
    )
    .await?;
    if members == 0 {
        return Err(ApiError::Conflict(format!(
            "member {member} of campaign {id} has no unknown outcome to resolve"
        )));
    }
    Ok(Json(Moved { members }))
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/members/resolve", tag = "campaigns",
    request_body = ResolveMany,
    responses((status = 200, body = Moved), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn resolve_many(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<ResolveMany>,
) -> ApiResult<Json<Moved>> {
    if req.resolution == "sent" {
        return Err(ApiError::invalid(
            "as",
            "resolve members as sent one at a time, each with its provider message id",
        ));
    }
    let resolution = resolution(&req.resolution, None)?;
    let which = super::review::selection(&req.member_ids, req.all)?;
    let members = resolve(&state, tenant.id, id, which, &resolution).await?;
    Ok(Json(Moved { members }))
}

async fn resolve(
    state: &AppState,
    tenant: Id,
    campaign: Id,
    which: Selection<'_>,
    resolution: &Resolution,
) -> ApiResult<u64> {
    let receipt_due = state.engine.receipt_check_ms();
    let members = state
        .store
        .resolve_unknown(tenant, campaign, which, resolution, receipt_due)
        .await?;
    if members > 0 && *resolution == Resolution::Resend {
        state.engine.wake();
    }
    Ok(members)
}

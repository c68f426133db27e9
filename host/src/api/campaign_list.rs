//! The campaign grid (seed 000): `GET /v1/campaigns` with filters by type,
//! status, name and tag, paginated with a total.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiQuery;
use crate::domain::campaign_spec::CampaignKind;
use crate::domain::lifecycle::Status;
use crate::domain::tags::slug;
use crate::store::{CampaignFilter, CampaignListPage, PageAt};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `sms`, `whatsapp`, `voice` or `email`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A lifecycle status: `draft`, `scheduled`, `pending`, `running`,
    /// `paused`, `stopped`, `retrying`, `completed`, `cancelled`, `archived`.
    pub status: Option<String>,
    /// Campaigns whose name contains this (any case).
    pub name: Option<String>,
    /// Campaigns carrying this tag (default or custom).
    pub tag: Option<String>,
    /// Rows per page (default 50, at most 200).
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1-based page number (instead of a cursor).
    pub page: Option<i64>,
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", params(ListQuery),
    responses((status = 200, body = CampaignListPage), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<CampaignListPage>> {
    if let Some(kind) = &q.kind
        && CampaignKind::parse(kind).is_none()
    {
        return Err(ApiError::invalid(
            "type",
            format!("{kind:?} is not a campaign type; one of sms, whatsapp, voice, email"),
        ));
    }
    if let Some(status) = &q.status
        && !Status::ALL.iter().any(|s| s.as_str() == status)
    {
        let mut names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
        names.dedup();
        return Err(ApiError::invalid(
            "status",
            format!("unknown status {status:?}; one of {}", names.join(", ")),
        ));
    }
    let at = match (&q.cursor, q.page) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "page",
                "give a cursor or a page, not both",
            ));
        }
        (Some(c), None) => PageAt::After(
            c.parse()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor from this list"))?,
        ),
        (None, Some(p)) if p >= 1 => PageAt::Page(p),
        (None, Some(_)) => return Err(ApiError::invalid("page", "pages start at 1")),
        (None, None) => PageAt::Page(1),
    };
    let filter = CampaignFilter {
        kind: q.kind,
        status: q.status,
        name: q.name.filter(|n| !n.trim().is_empty()),
        tag: q.tag.map(|t| slug(&t)),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    Ok(Json(
        state
            .store
            .list_campaigns(tenant.id, &filter, at, limit)
            .await?,
    ))
}

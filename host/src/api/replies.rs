//! The tenant's reply endpoint: where inbound replies are forwarded, signed
//! with the tenant's webhook secret (see `domain::reply` for the header).

use axum::Json;
use axum::extract::State;
use rand::Rng;
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};
use crate::store::{ReplySettings, Session};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetReplyEndpoint {
    /// An `http(s)` URL; `null` stops forwarding (replies are still recorded).
    pub reply_url: Option<String>,
    /// Issue a new webhook secret (the old one stops verifying at once).
    #[serde(default)]
    pub rotate_secret: bool,
}

#[utoipa::path(put, path = "/v1/reply-endpoint", tag = "replies", request_body = SetReplyEndpoint,
    responses((status = 200, body = ReplySettings), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn set(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<SetReplyEndpoint>,
) -> ApiResult<Json<ReplySettings>> {
    Ok(Json(set_reply_endpoint(&state, tenant.id, req).await?))
}

/// Checks and saves where replies go, issuing the tenant's first webhook
/// secret or (asked to) a new one. Shared by the API and the console.
pub(crate) async fn set_reply_endpoint(
    state: &AppState,
    tenant: crate::store::Id,
    req: SetReplyEndpoint,
) -> ApiResult<ReplySettings> {
    if let Some(url) = &req.reply_url {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(ApiError::invalid(
                    "reply_url",
                    "must be an absolute http(s) URL",
                ));
            }
        }
    }
    let secret = format!("whsec_{}", hex::encode(rand::rng().random::<[u8; 24]>()));
    let settings = state
        .store
        .set_reply_endpoint(tenant, req.reply_url.as_deref(), &secret, req.rotate_secret)
        .await?;
    tracing::info!(tenant, url = ?settings.reply_url, rotated = req.rotate_secret,
        "reply endpoint set");
    Ok(settings)
}

#[utoipa::path(get, path = "/v1/reply-endpoint", tag = "replies",
    responses((status = 200, body = ReplySettings)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> ApiResult<Json<ReplySettings>> {
    Ok(Json(state.store.reply_settings(tenant.id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionFilter {
    /// Only sessions routed here: `reply_endpoint` or `queue:NAME`.
    pub target: Option<String>,
    /// Only conversations of campaigns carrying this tag (seed 002).
    pub tag: Option<String>,
    /// Sessions per page (default and at most 1000).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/sessions", tag = "replies", params(SessionFilter),
    responses((status = 200, body = Page<Session>)), security(("api_key" = [])))]
pub async fn sessions(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(filter): ApiQuery<SessionFilter>,
) -> ApiResult<Json<Page<Session>>> {
    let all = state
        .store
        .sessions(
            tenant.id,
            filter.target.as_deref(),
            filter.tag.map(|t| crate::domain::tags::slug(&t)).as_deref(),
        )
        .await?;
    let page = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor,
    };
    Ok(Json(Page::of_all(all, &page, 1000, |s| s.id)?))
}

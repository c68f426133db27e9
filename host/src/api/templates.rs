//! A channel's message templates (WhatsApp): synced from the provider
//! through the channel's plugin, then listed for campaign authors.

use axum::Json;
use axum::extract::{Path, State};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use crate::engine::SyncError;
use crate::store::{ChannelTemplate, Id};

#[utoipa::path(post, path = "/v1/channels/{id}/templates/sync", tag = "channels",
    responses((status = 200, body = Vec<ChannelTemplate>), (status = 404, body = super::error::ErrorBody),
        (status = 502, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn sync(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Vec<ChannelTemplate>>> {
    match state.engine.sync_templates(tenant.id, id).await {
        Ok(templates) => Ok(Json(templates)),
        Err(SyncError::Store(e)) => Err(e.into()),
        Err(SyncError::Provider(why)) => {
            tracing::warn!(
                tenant = tenant.id,
                channel = id,
                reason = why,
                "template sync failed"
            );
            Err(ApiError::BadGateway(why))
        }
    }
}

#[utoipa::path(get, path = "/v1/channels/{id}/templates", tag = "channels",
    responses((status = 200, body = Vec<ChannelTemplate>), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Vec<ChannelTemplate>>> {
    state.store.channel(tenant.id, id).await?;
    Ok(Json(state.store.templates(tenant.id, id).await?))
}

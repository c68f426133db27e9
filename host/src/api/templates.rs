//! A channel's message templates (WhatsApp): synced from the provider
//! through the channel's plugin, then listed for campaign authors.

use axum::Json;
use axum::extract::{Path, State};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};
use crate::engine::SyncError;
use crate::store::{ChannelTemplate, Id};

#[utoipa::path(post, path = "/v1/channels/{id}/templates/sync", tag = "channels",
    responses((status = 200, body = Page<ChannelTemplate>), (status = 404, body = super::error::ErrorBody),
        (status = 502, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn sync(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Page<ChannelTemplate>>> {
    let templates = sync_templates(&state, tenant.id, id).await?;
    // The channel's templates as they now are, as the list shows them.
    Ok(Json(Page::of_all(
        templates,
        &PageQuery::default(),
        1000,
        template_key,
    )?))
}

/// Fetches a channel's templates from its provider and stores them (the
/// API's and the console's); a provider's refusal is a 502.
pub(crate) async fn sync_templates(
    state: &AppState,
    tenant: Id,
    id: Id,
) -> ApiResult<Vec<ChannelTemplate>> {
    match state.engine.sync_templates(tenant, id).await {
        Ok(templates) => Ok(templates),
        Err(SyncError::Store(e)) => Err(e.into()),
        Err(SyncError::Provider(why)) => {
            tracing::warn!(tenant, channel = id, reason = why, "template sync failed");
            Err(ApiError::BadGateway(why))
        }
    }
}

#[utoipa::path(get, path = "/v1/channels/{id}/templates", tag = "channels",
    params(("id" = i64, Path, description = "Channel id"), PageQuery),
    responses((status = 200, body = Page<ChannelTemplate>), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ChannelTemplate>>> {
    state.store.channel(tenant.id, id).await?;
    let all = state.store.templates(tenant.id, id).await?;
    Ok(Json(Page::of_all(all, &page, 1000, template_key)?))
}

/// Templates are listed by name, then language.
fn template_key(t: &ChannelTemplate) -> String {
    format!("{}/{}", t.name, t.language)
}

//! The plugins loaded in this server, for tenants choosing a channel's
//! plugin: those the tenant may use (see `tenant_plugins`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::ApiResult;
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub channels: Vec<String>,
    pub config: Vec<ConfigFieldInfo>,
    pub allowed_hosts: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConfigFieldInfo {
    pub name: String,
    pub label: String,
    pub description: String,
    pub required: bool,
    pub secret: bool,
}

#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", params(PageQuery),
    responses((status = 200, body = Page<PluginInfo>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<PluginInfo>>> {
    let allowed = super::tenant_plugins::allowed_plugins(&state, tenant.id).await?;
    let all = state
        .registry
        .all()
        .iter()
        .filter(|p| allowed.as_ref().is_none_or(|a| a.contains(p.name())))
        .map(|p| PluginInfo {
            name: p.manifest.name.clone(),
            version: p.manifest.version.clone(),
            sha256: p.sha256.clone(),
            channels: p
                .manifest
                .channels
                .iter()
                .map(|c| crate::plugins::channel_name(c).to_owned())
                .collect(),
            config: p
                .manifest
                .config
                .iter()
                .map(|f| ConfigFieldInfo {
                    name: f.name.clone(),
                    label: f.label.clone(),
                    description: f.description.clone(),
                    required: f.required,
                    secret: f.secret,
                })
                .collect(),
            allowed_hosts: p.manifest.allowed_hosts.clone(),
        })
        .collect();
    Ok(Json(Page::of_all(all, &page, 200, |p| p.name.clone())?))
}

//! Per-tenant plugin allowlists: the admin decides which plugins a tenant
//! may attach to its channels (none set: every plugin, the default). The
//! tenant's plugin listing shows only those; a channel is created with, or
//! switched to, one of them only (403 on `plugin`); a campaign starts only
//! on a channel whose plugin is still allowed. A channel whose plugin is
//! taken off the list keeps working for the campaigns already running on
//! it, and its other settings (its secrets above all) stay editable.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::audit::ActorSlot;
use super::auth::AdminAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::store::Id;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPluginAllowlist {
    /// Names of installed plugins the tenant may attach to channels;
    /// `null` (or absent): every plugin.
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginAllowlist {
    pub tenant_id: Id,
    /// `null`: every plugin.
    pub allowed: Option<Vec<String>>,
}

#[utoipa::path(get, path = "/v1/admin/tenants/{id}/plugins", tag = "tenants",
    params(("id" = i64, Path, description = "The tenant")),
    responses((status = 200, body = PluginAllowlist), (status = 404, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<PluginAllowlist>> {
    state.store.tenant(id).await?;
    Ok(Json(PluginAllowlist {
        tenant_id: id,
        allowed: state.store.plugin_allowlist(id).await?,
    }))
}

/// Replaces the tenant's allowlist. Channels already on a plugin taken off
/// it keep sending for running campaigns; no new campaign starts on them.
#[utoipa::path(put, path = "/v1/admin/tenants/{id}/plugins", tag = "tenants",
    params(("id" = i64, Path, description = "The tenant")),
    request_body = SetPluginAllowlist,
    responses((status = 200, body = PluginAllowlist), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn set(
    State(state): State<AppState>,
    _: AdminAuth,
    Extension(audit): Extension<ActorSlot>,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<SetPluginAllowlist>,
) -> ApiResult<Json<PluginAllowlist>> {
    state.store.tenant(id).await?;
    // The tenant reads in its own audit log what the admin decided for it.
    audit.concerns_tenant(id);
    let allowed = match req.allowed {
        None => None,
        Some(names) => {
            let installed: BTreeSet<String> = state
                .store
                .plugin_versions()
                .await?
                .into_iter()
                .map(|v| v.name)
                .collect();
            if let Some((i, name)) = names
                .iter()
                .enumerate()
                .find(|(_, n)| !installed.contains(*n))
            {
                return Err(ApiError::invalid(
                    &format!("allowed[{i}]"),
                    format!(
                        "no plugin {name:?} is installed; installed: {}",
                        installed.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let unique: BTreeSet<String> = names.into_iter().collect();
            Some(unique.into_iter().collect::<Vec<_>>())
        }
    };
    state
        .store
        .set_plugin_allowlist(id, allowed.as_deref())
        .await?;
    tracing::info!(tenant = id, allowed = ?allowed, "tenant plugin allowlist set");
    Ok(Json(PluginAllowlist {
        tenant_id: id,
        allowed,
    }))
}

/// The plugins `tenant` may use (`None`: every plugin).
pub(crate) async fn allowed_plugins(
    state: &AppState,
    tenant: Id,
) -> ApiResult<Option<BTreeSet<String>>> {
    Ok(state
        .store
        .plugin_allowlist(tenant)
        .await?
        .map(|names| names.into_iter().collect()))
}

/// Why `tenant` may not use `plugin`, if it may not.
pub(crate) async fn refusal(
    state: &AppState,
    tenant: Id,
    plugin: &str,
) -> ApiResult<Option<String>> {
    let Some(allowed) = allowed_plugins(state, tenant).await? else {
        return Ok(None);
    };
    if allowed.contains(plugin) {
        return Ok(None);
    }
    let list = if allowed.is_empty() {
        "none".to_owned()
    } else {
        allowed.into_iter().collect::<Vec<_>>().join(", ")
    };
    Ok(Some(format!(
        "plugin {plugin} is not among the plugins this tenant may use ({list}); an admin \
         decides them (PUT /v1/admin/tenants/{{id}}/plugins)"
    )))
}

/// A channel's `plugin` must be one the tenant may use: 403 naming it.
pub(crate) async fn check_channel_plugin(
    state: &AppState,
    tenant: Id,
    plugin: &str,
) -> ApiResult<()> {
    match refusal(state, tenant, plugin).await? {
        None => Ok(()),
        Some(message) => Err(ApiError::ForbiddenField {
            field: "plugin".into(),
            message,
        }),
    }
}

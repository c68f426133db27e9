//! The admin's say over a tenant's channel: hosts its plugin may call
//! beyond the plugin's manifest (a provider's regional endpoint, a sandbox,
//! an on-premises gateway). Tenants may only narrow them (`channels`).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::AppState;
use super::audit::ActorSlot;
use super::auth::AdminAuth;
use super::channels::{HostsSetBy, validate};
use super::error::ApiResult;
use super::json::ApiJson;
use crate::store::{Channel, Id, NewChannel};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAllowedHosts {
    /// Replaces the plugin manifest's hosts for this channel (names or
    /// `*.example.com`); `null` returns to the manifest's. The egress policy
    /// still applies to every one.
    pub allowed_hosts: Option<Vec<String>>,
}

#[utoipa::path(put, path = "/v1/admin/channels/{id}/allowed-hosts", tag = "channels",
    params(("id" = i64, Path, description = "The channel, of any tenant")),
    request_body = SetAllowedHosts,
    responses((status = 200, body = Channel), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn set_allowed_hosts(
    State(state): State<AppState>,
    _: AdminAuth,
    Extension(audit): Extension<ActorSlot>,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<SetAllowedHosts>,
) -> ApiResult<Json<Channel>> {
    let current = state.store.channel_for_webhook(id).await?;
    let tenant = current.tenant_id;
    // The tenant reads in its own audit log what the admin granted it.
    audit.concerns_tenant(tenant);
    let merged = NewChannel {
        name: current.name,
        plugin: current.plugin,
        sender: current.sender,
        config: current.config,
        secrets: std::sync::Arc::unwrap_or_clone(current.secrets),
        allowed_hosts: req.allowed_hosts,
        pinned_sha256: current.pinned_sha256,
        rate_per_second: current.rate_per_second,
    };
    validate(&state, &merged, HostsSetBy::Admin).await?;
    let channel = state.store.update_channel(tenant, id, &merged).await?;
    state.engine.channel_changed(id);
    tracing::info!(tenant, channel = id, allowed_hosts = ?channel.allowed_hosts,
        "the admin set a channel's allowed hosts");
    Ok(Json(channel))
}

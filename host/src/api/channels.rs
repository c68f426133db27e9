//! Channels: a provider plugin with its configuration, secrets and sender.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::plugins::{CallContext, LoadedPlugin};
use crate::store::{Channel, Id, NewChannel};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    /// Name of a loaded plugin, e.g. `twilio-sms` (see `GET /v1/plugins`).
    pub plugin: String,
    /// Our address on this channel: an E.164 number, short code or sender id.
    pub sender: String,
    /// Non-secret configuration fields of the plugin.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Secret configuration fields; stored, never returned.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Replaces the plugin's allowed hosts for this channel (e.g. a
    /// provider sandbox or a local simulator).
    pub allowed_hosts: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/v1/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<CreateChannel>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if req.sender.trim().is_empty() {
        return Err(ApiError::invalid("sender", "must not be empty"));
    }
    let plugin = state.registry.get(&req.plugin).ok_or_else(|| {
        let known: Vec<String> = state
            .registry
            .all()
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        ApiError::invalid(
            "plugin",
            format!(
                "unknown plugin {:?}; loaded plugins: {}",
                req.plugin,
                known.join(", ")
            ),
        )
    })?;
    check_config(&plugin, &req.config, &req.secrets).await?;
    let channel = state
        .store
        .create_channel(
            tenant.id,
            NewChannel {
                name: req.name.trim().to_owned(),
                plugin: req.plugin,
                sender: req.sender.trim().to_owned(),
                config: req.config,
                secrets: req.secrets,
                allowed_hosts: req.allowed_hosts,
            },
        )
        .await?;
    tracing::info!(
        tenant = tenant.id,
        channel = channel.id,
        plugin = channel.plugin,
        "channel created"
    );
    Ok((StatusCode::CREATED, Json(channel)))
}

/// Checks fields against the plugin's manifest, then asks the plugin.
async fn check_config(
    plugin: &Arc<LoadedPlugin>,
    config: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
) -> ApiResult<()> {
    let fields = &plugin.manifest.config;
    for (key, map, label) in config
        .keys()
        .map(|k| (k, false, "config"))
        .chain(secrets.keys().map(|k| (k, true, "secrets")))
    {
        match fields.iter().find(|f| &f.name == key) {
            None => {
                return Err(ApiError::invalid(
                    &format!("{label}.{key}"),
                    format!("plugin {} has no such field", plugin.name()),
                ));
            }
            Some(f) if f.secret != map => {
                let belongs = if f.secret { "secrets" } else { "config" };
                return Err(ApiError::invalid(
                    &format!("{label}.{key}"),
                    format!("belongs in `{belongs}`"),
                ));
            }
            Some(_) => {}
        }
    }
    for f in fields.iter().filter(|f| f.required) {
        let present = if f.secret {
            secrets.contains_key(&f.name)
        } else {
            config.contains_key(&f.name)
        };
        if !present {
            let label = if f.secret { "secrets" } else { "config" };
            return Err(ApiError::invalid(
                &format!("{label}.{}", f.name),
                format!("required by plugin {} ({})", plugin.name(), f.label),
            ));
        }
    }
    let ctx = CallContext::bare(plugin.name(), plugin.version());
    let list = config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    match plugin.validate_config(ctx, list).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(ApiError::invalid("config", message)),
        Err(failure) => Err(ApiError::Internal(format!(
            "plugin {} failed validating config: {failure}",
            plugin.name()
        ))),
    }
}

#[utoipa::path(get, path = "/v1/channels", tag = "channels",
    responses((status = 200, body = Vec<Channel>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(state.store.list_channels(tenant.id).await?))
}

#[utoipa::path(get, path = "/v1/channels/{id}", tag = "channels",
    responses((status = 200, body = Channel), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Channel>> {
    Ok(Json(state.store.channel(tenant.id, id).await?))
}

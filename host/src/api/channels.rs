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
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};
use crate::plugins::{CallContext, LoadedPlugin};
use crate::store::{Channel, Id, NewChannel, Tenant};

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
    /// Use this installed version of the plugin instead of its active one.
    pub pinned_sha256: Option<String>,
    /// Messages per second the sender may send (1 to 10,000), shared by
    /// every campaign on this channel. Absent: the default for the kind of
    /// message (SMS/MMS 100, WhatsApp 80, email 100, voice calls unlimited:
    /// a voice campaign's `max_concurrent` bounds them).
    pub rate_per_second: Option<i64>,
}

/// Fields to change; absent ones stay. `config` and `secrets`, when given,
/// replace the whole map. `pinned_sha256: null` unpins.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    pub name: Option<String>,
    pub plugin: Option<String>,
    pub sender: Option<String>,
    pub config: Option<BTreeMap<String, String>>,
    pub secrets: Option<BTreeMap<String, String>>,
    pub allowed_hosts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub pinned_sha256: Option<Option<String>>,
    /// `null` returns to the default for the kind of message.
    #[serde(default, deserialize_with = "present_i64")]
    #[schema(value_type = Option<i64>)]
    pub rate_per_second: Option<Option<i64>>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn present_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// The highest `rate_per_second` accepted: beyond any provider's limit.
const MAX_RATE_PER_SECOND: i64 = 10_000;

/// A plugin outside the tenant's allowlist is a 403 naming `plugin`.
#[utoipa::path(post, path = "/v1/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<CreateChannel>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    let channel = create_channel(&state, &tenant, req).await?;
    Ok((StatusCode::CREATED, Json(channel)))
}

/// Checks and stores a new channel (the API's and the console's).
pub(crate) async fn create_channel(
    state: &AppState,
    tenant: &Tenant,
    req: CreateChannel,
) -> ApiResult<Channel> {
    let new = NewChannel {
        name: req.name.trim().to_owned(),
        plugin: req.plugin,
        sender: req.sender.trim().to_owned(),
        config: req.config,
        secrets: req.secrets,
        allowed_hosts: req.allowed_hosts,
        pinned_sha256: req.pinned_sha256,
        rate_per_second: req.rate_per_second,
    };
    super::tenant_plugins::check_channel_plugin(state, tenant.id, &new.plugin).await?;
    validate(state, &new, HostsSetBy::Tenant { before: &[] }).await?;
    let channel = state.store.create_channel(tenant.id, new).await?;
    tracing::info!(
        tenant = tenant.id,
        channel = channel.id,
        plugin = channel.plugin,
        "channel created"
    );
    Ok(channel)
}

/// Who sets a channel's allowed hosts, for the rule that only the admin
/// may widen them beyond the plugin's manifest.
pub(super) enum HostsSetBy<'a> {
    /// A tenant, whose channel allowed `before` (entries kept from the
    /// admin's widening are not the tenant's to answer for).
    Tenant {
        before: &'a [String],
    },
    Admin,
}

/// Checks a whole channel: names, plugin, pinned version, configuration.
pub(super) async fn validate(
    state: &AppState,
    c: &NewChannel,
    hosts_set_by: HostsSetBy<'_>,
) -> ApiResult<()> {
    if c.name.is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if c.sender.is_empty() {
        return Err(ApiError::invalid("sender", "must not be empty"));
    }
    if let Some(rate) = c.rate_per_second
        && !(1..=MAX_RATE_PER_SECOND).contains(&rate)
    {
        return Err(ApiError::invalid(
            "rate_per_second",
            format!("must be from 1 to {MAX_RATE_PER_SECOND} messages per second"),
        ));
    }
    let plugin = match &c.pinned_sha256 {
        Some(sha) => {
            if !state.registry.has_version(&c.plugin, sha).await? {
                return Err(ApiError::invalid(
                    "pinned_sha256",
                    format!("{sha} is not an installed version of {:?}", c.plugin),
                ));
            }
            state
                .registry
                .resolve(&c.plugin, Some(sha))
                .await
                .map_err(|why| ApiError::invalid("pinned_sha256", why))?
        }
        None => state.registry.get(&c.plugin).ok_or_else(|| {
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
                    c.plugin,
                    known.join(", ")
                ),
            )
        })?,
    };
    // A destination the egress policy refuses is refused whoever asks
    // (422); a permitted one beyond the manifest is the admin's (403).
    check_egress(state, c).await?;
    if let HostsSetBy::Tenant { before } = hosts_set_by {
        check_not_widened(state, &plugin, c, before)?;
    }
    check_config(&plugin, &c.config, &c.secrets).await
}

/// A tenant may narrow a channel's allowed hosts, or name what the plugin's
/// manifest or the operator's `--allow-egress` already allows; anything
/// wider is the admin's to grant (`PUT /v1/admin/channels/{id}/allowed-hosts`).
fn check_not_widened(
    state: &AppState,
    plugin: &LoadedPlugin,
    c: &NewChannel,
    before: &[String],
) -> ApiResult<()> {
    let policy = state.engine.egress();
    for (i, host) in c.allowed_hosts.iter().flatten().enumerate() {
        let allowed = plugin.manifest_covers_host(host)
            || policy.operator_allows(host)
            || before.iter().any(|b| b.eq_ignore_ascii_case(host));
        if !allowed {
            return Err(ApiError::ForbiddenField {
                field: format!("allowed_hosts[{i}]"),
                message: format!(
                    "{host} is not among the hosts plugin {} may call; only the admin may \
                     allow more (PUT /v1/admin/channels/{{id}}/allowed-hosts)",
                    plugin.name()
                ),
            });
        }
    }
    Ok(())
}

/// Where the channel would make the server connect (a URL in its
/// configuration, its allowed hosts) must be a destination the egress
/// policy permits: refused now, not found out by a send.
async fn check_egress(state: &AppState, c: &NewChannel) -> ApiResult<()> {
    let policy = state.engine.egress();
    for (key, value) in &c.config {
        let Ok(url) = url::Url::parse(value) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        if let Some(host) = url.host_str() {
            policy
                .check_host(host)
                .await
                .map_err(|why| ApiError::invalid(&format!("config.{key}"), why))?;
        }
    }
    for (i, host) in c.allowed_hosts.iter().flatten().enumerate() {
        // `*.example.com` allows names under it: checked as they resolve.
        if host.starts_with("*.") {
            continue;
        }
        policy
            .check_host(host)
            .await
            .map_err(|why| ApiError::invalid(&format!("allowed_hosts[{i}]"), why))?;
    }
    Ok(())
}

#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "channels", request_body = UpdateChannel,
    responses((status = 200, body = Channel), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<UpdateChannel>,
) -> ApiResult<Json<Channel>> {
    Ok(Json(update_channel(&state, &tenant, id, req).await?))
}

/// Merges changes into one of the tenant's channels, checks the whole and
/// stores it (the API's and the console's).
pub(crate) async fn update_channel(
    state: &AppState,
    tenant: &Tenant,
    id: Id,
    req: UpdateChannel,
) -> ApiResult<Channel> {
    let current = state.store.channel(tenant.id, id).await?;
    let before = current.allowed_hosts.clone().unwrap_or_default();
    let switching = req.plugin.as_ref().is_some_and(|p| *p != current.plugin);
    let merged = NewChannel {
        name: req
            .name
            .map(|n| n.trim().to_owned())
            .unwrap_or(current.name),
        sender: req
            .sender
            .map(|s| s.trim().to_owned())
            .unwrap_or(current.sender),
        plugin: req.plugin.unwrap_or(current.plugin),
        config: req.config.unwrap_or(current.config),
        secrets: req
            .secrets
            .unwrap_or_else(|| Arc::unwrap_or_clone(current.secrets)),
        allowed_hosts: req.allowed_hosts.or(current.allowed_hosts),
        // A pin names a version of one plugin: switching plugins drops it.
        pinned_sha256: match req.pinned_sha256 {
            Some(pin) => pin,
            None if switching => None,
            None => current.pinned_sha256,
        },
        rate_per_second: req.rate_per_second.unwrap_or(current.rate_per_second),
    };
    // Switching to a plugin the tenant may not use is refused; a channel
    // whose plugin was taken off its allowlist stays editable otherwise.
    if switching {
        super::tenant_plugins::check_channel_plugin(state, tenant.id, &merged.plugin).await?;
    }
    validate(state, &merged, HostsSetBy::Tenant { before: &before }).await?;
    let channel = state.store.update_channel(tenant.id, id, &merged).await?;
    state.engine.channel_changed(id);
    tracing::info!(tenant = tenant.id, channel = id, plugin = channel.plugin,
        pinned = ?channel.pinned_sha256, "channel updated; the next send uses it");
    Ok(channel)
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

#[utoipa::path(get, path = "/v1/channels", tag = "channels", params(PageQuery),
    responses((status = 200, body = Page<Channel>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Channel>>> {
    let all = state.store.list_channels(tenant.id).await?;
    Ok(Json(Page::of_all(all, &page, 200, |c| c.id)?))
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

//! Plugin registry administration (admin key): install a component (with
//! its signature), list versions with their signer, statistics, users and
//! canary, activate, roll back, disable (canaries: `admin_canary`).

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AdminAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};
use crate::plugins::signing::{Parsed, Refusal};
use crate::plugins::{RegistryError, StatsSnapshot};
use crate::store::PluginSignatureRow;

/// The request header carrying a component's signature file (base64 of
/// the JSON `herald plugin sign` writes).
pub const SIGNATURE_HEADER: &str = "herald-signature";

#[derive(Serialize, utoipa::ToSchema)]
pub struct InstalledVersion {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// The contract it implements, e.g. `herald:provider@1.0.0`.
    pub world: String,
    pub active: bool,
    /// Who signed this version; `null`: unsigned.
    pub signed_by: Option<SignedBy>,
}

/// The publisher whose key signed a version, as this server named the key
/// when it verified the signature.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedBy {
    pub publisher: String,
    pub key_id: String,
    /// Whether the key is still trusted (a removed key's versions stay
    /// installed, marked so).
    pub key_trusted: bool,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub verified_at: i64,
}

/// Every signed version's signer, by sha256.
async fn signers(state: &AppState) -> ApiResult<HashMap<String, SignedBy>> {
    let trusted: HashSet<String> = state
        .registry
        .trust()
        .keys()
        .await?
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    let signed_by = |s: PluginSignatureRow| SignedBy {
        key_trusted: trusted.contains(&s.key_id),
        publisher: s.publisher,
        key_id: s.key_id,
        verified_at: s.verified_at,
    };
    Ok(state
        .store
        .plugin_signatures()
        .await?
        .into_iter()
        .map(|s| (s.sha256.clone(), signed_by(s)))
        .collect())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InstallOptions {
    /// Activate the new version at once (default false).
    #[serde(default)]
    pub activate: bool,
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Refused(why) => ApiError::invalid("file", why.to_string()),
            RegistryError::Signature(why) => why.into(),
            RegistryError::UnknownVersion(v) => {
                ApiError::invalid("sha256", format!("no installed version {v}"))
            }
            RegistryError::NoSuchVersion(_) => {
                ApiError::NotFound("no installed version of this plugin has that sha256")
            }
            RegistryError::NoCanary(_) => ApiError::NotFound("no canary of this plugin is running"),
            RegistryError::UnknownPlugin(_) => ApiError::NotFound("no such plugin"),
            RegistryError::Conflict(m) => ApiError::Conflict(m),
            RegistryError::Store(e) => e.into(),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(why: Refusal) -> Self {
        ApiError::Signature {
            reason: why.reason(),
            message: why.to_string(),
        }
    }
}

/// A signature file as uploaded (JSON bytes); an unreadable one is refused
/// as `malformed`.
pub(crate) fn parse_signature(json: &[u8]) -> ApiResult<Parsed> {
    Ok(Parsed::from_json(json)?)
}

/// The `Herald-Signature` header, if the request has one.
fn signature_header(headers: &HeaderMap) -> ApiResult<Option<Parsed>> {
    let Some(value) = headers.get(SIGNATURE_HEADER) else {
        return Ok(None);
    };
    let json = value
        .to_str()
        .ok()
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .ok_or_else(|| {
            Refusal::Malformed(format!(
                "the {SIGNATURE_HEADER} header must be the signature file in base64"
            ))
        })?;
    parse_signature(&json).map(Some)
}

/// With `Herald-Signature` (the signature file `herald plugin sign` wrote,
/// in base64), the signature is verified before anything is stored: the
/// component must be the one signed, with the manifest signed, by a key
/// this server trusts. A refused signature, or none on a server started
/// with `--require-signed`, is a 422 with `error.reason`.
#[utoipa::path(post, path = "/v1/admin/plugins", tag = "plugins",
    params(InstallOptions,
        ("Herald-Signature" = Option<String>, Header, description = "The signature file, base64")),
    request_body(content = Vec<u8>, content_type = "application/wasm",
        description = "The component (.wasm) built for wasm32-wasip2"),
    responses((status = 201, body = InstalledVersion), (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn install(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiQuery(opts): ApiQuery<InstallOptions>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<InstalledVersion>)> {
    let signature = signature_header(&headers)?;
    let installed = install_version(&state, body.to_vec(), signature, opts.activate).await?;
    Ok((StatusCode::CREATED, Json(installed)))
}

/// Installs a component, activating it if asked (the API's and the
/// console's); a refused component is a 422 on `file` saying why, a
/// refused signature a 422 on `signature`.
pub(crate) async fn install_version(
    state: &AppState,
    wasm: Vec<u8>,
    signature: Option<Parsed>,
    activate: bool,
) -> ApiResult<InstalledVersion> {
    let plugin = state
        .registry
        .install_signed(wasm, signature.as_ref())
        .await?;
    if activate {
        state
            .registry
            .activate(plugin.name(), &plugin.sha256)
            .await?;
    }
    let active = state
        .registry
        .get(plugin.name())
        .is_some_and(|p| p.sha256 == plugin.sha256);
    Ok(InstalledVersion {
        name: plugin.name().to_owned(),
        version: plugin.version().to_owned(),
        sha256: plugin.sha256.clone(),
        world: format!("herald:provider@{}", plugin.world),
        active,
        signed_by: signers(state).await?.remove(&plugin.sha256),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginReport {
    pub name: String,
    pub active_sha256: Option<String>,
    pub previous_sha256: Option<String>,
    /// Set when the plugin kept faulting; activate a version to lift it.
    pub quarantine_reason: Option<String>,
    /// Channels (of any tenant) that send through this plugin.
    pub channel_ids: Vec<i64>,
    /// Its own CPU budget per call, when an admin set one (else the
    /// server's `--plugin-cpu-ms`).
    pub cpu_budget_ms: Option<i64>,
    /// Its running canary, else the last one it had (how and why it
    /// ended); `null` if it never had one.
    pub canary: Option<super::admin_canary::CanaryReport>,
    pub versions: Vec<VersionReport>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionReport {
    pub sha256: String,
    pub version: String,
    pub world: String,
    pub size: i64,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub installed_at: i64,
    /// Calls in this process since it started (absent if never loaded
    /// here), but for `handle-webhook`: what quarantine judges it by.
    pub stats: Option<StatsSnapshot>,
    /// Its `handle-webhook` calls in this process: anyone can post a
    /// webhook, so their faults never quarantine it (they are judged per
    /// channel).
    pub webhook_stats: Option<StatsSnapshot>,
    /// Who signed it; `null`: unsigned.
    pub signed_by: Option<SignedBy>,
}

#[utoipa::path(get, path = "/v1/admin/plugins", tag = "plugins", params(PageQuery),
    responses((status = 200, body = Page<PluginReport>)), security(("admin_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<PluginReport>>> {
    let reports = reports(&state).await?;
    Ok(Json(Page::of_all(reports, &page, 200, |r| r.name.clone())?))
}

/// One plugin's report, as it is after an action on it.
pub(super) async fn report(state: &AppState, name: &str) -> ApiResult<PluginReport> {
    reports(state)
        .await?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or(ApiError::NotFound("no such plugin"))
}

/// Every plugin: its versions, its state and the channels that use it.
pub(crate) async fn reports(state: &AppState) -> ApiResult<Vec<PluginReport>> {
    let mut channels: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (plugin, id) in state.store.channels_by_plugin().await? {
        channels.entry(plugin).or_default().push(id);
    }
    let mut signed = signers(state).await?;
    let mut canaries = super::admin_canary::canary_reports(state).await?;
    let mut versions: BTreeMap<String, Vec<VersionReport>> = BTreeMap::new();
    for v in state.store.plugin_versions().await? {
        versions.entry(v.name.clone()).or_default().push({
            let compiled = state.registry.compiled(&v.sha256);
            VersionReport {
                stats: compiled.as_ref().map(|p| p.stats.snapshot()),
                webhook_stats: compiled.as_ref().map(|p| p.webhook_stats.snapshot()),
                signed_by: signed.remove(&v.sha256),
                sha256: v.sha256,
                version: v.version,
                world: v.world,
                size: v.size,
                installed_at: v.installed_at,
            }
        });
    }
    let mut reports: Vec<PluginReport> = state
        .store
        .plugin_states()
        .await?
        .into_iter()
        .map(|s| PluginReport {
            channel_ids: channels.remove(&s.name).unwrap_or_default(),
            versions: versions.remove(&s.name).unwrap_or_default(),
            canary: canaries.remove(&s.name),
            name: s.name,
            active_sha256: s.active_sha256,
            previous_sha256: s.previous_sha256,
            quarantine_reason: s.quarantine_reason,
            cpu_budget_ms: s.cpu_budget_ms,
        })
        .collect();
    // Installed but never activated: listed too (no version active), so
    // an upload is seen, with its signer, before anyone activates it.
    reports.extend(versions.into_iter().map(|(name, versions)| PluginReport {
        channel_ids: channels.remove(&name).unwrap_or_default(),
        versions,
        name,
        active_sha256: None,
        previous_sha256: None,
        quarantine_reason: None,
        cpu_budget_ms: None,
        canary: None,
    }));
    Ok(reports)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    /// The installed version to activate.
    pub sha256: String,
}

#[utoipa::path(post, path = "/v1/admin/plugins/{name}/activate", tag = "plugins", request_body = Activate,
    responses((status = 200, body = PluginReport), (status = 422, body = super::error::ErrorBody)), security(("admin_key" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Activate>,
) -> ApiResult<Json<PluginReport>> {
    Ok(Json(activate_version(&state, &name, &req.sha256).await?))
}

/// Makes an installed version the plugin's active one (lifting a
/// quarantine); the engine picks it up at once.
pub(crate) async fn activate_version(
    state: &AppState,
    name: &str,
    sha256: &str,
) -> ApiResult<PluginReport> {
    state.registry.activate(name, sha256).await?;
    state.engine.wake();
    report(state, name).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RollbackTo {
    /// An installed version to return to; without it, the version active
    /// before the current one.
    pub sha256: Option<String>,
}

/// Walks back through the plugin's activations: each rollback returns to
/// the version active before the current one (a second goes one further);
/// `?sha256=` names the version instead. 409 when there is nothing earlier.
#[utoipa::path(post, path = "/v1/admin/plugins/{name}/rollback", tag = "plugins", params(RollbackTo),
    responses((status = 200, body = PluginReport), (status = 409, body = super::error::ErrorBody)), security(("admin_key" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
    ApiQuery(to): ApiQuery<RollbackTo>,
) -> ApiResult<Json<PluginReport>> {
    Ok(Json(roll_back(&state, &name, to.sha256.as_deref()).await?))
}

/// Returns to the version active before the current one (or `to`).
pub(crate) async fn roll_back(
    state: &AppState,
    name: &str,
    to: Option<&str>,
) -> ApiResult<PluginReport> {
    state.registry.rollback(name, to).await?;
    state.engine.wake();
    report(state, name).await
}

#[utoipa::path(post, path = "/v1/admin/plugins/{name}/disable", tag = "plugins",
    responses((status = 200, body = PluginReport), (status = 404, body = super::error::ErrorBody)), security(("admin_key" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<PluginReport>> {
    Ok(Json(disable_plugin(&state, &name).await?))
}

/// Takes the plugin out of service (no active version).
pub(crate) async fn disable_plugin(state: &AppState, name: &str) -> ApiResult<PluginReport> {
    state.registry.disable(name).await?;
    report(state, name).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    /// CPU budget of one call of this plugin, in milliseconds (1 to
    /// 10,000); `null` returns it to the server's `--plugin-cpu-ms`.
    pub cpu_budget_ms: Option<i64>,
}

/// Gives a plugin its own limits (every version, every instance).
#[utoipa::path(put, path = "/v1/admin/plugins/{name}/limits", tag = "plugins", request_body = PluginLimits,
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = PluginReport), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn set_limits(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PluginLimits>,
) -> ApiResult<Json<PluginReport>> {
    if let Some(ms) = req.cpu_budget_ms
        && !(1..=10_000).contains(&ms)
    {
        return Err(ApiError::invalid(
            "cpu_budget_ms",
            "a whole number of milliseconds from 1 to 10000, or null",
        ));
    }
    state
        .registry
        .set_cpu_budget(&name, req.cpu_budget_ms)
        .await?;
    Ok(Json(report(&state, &name).await?))
}

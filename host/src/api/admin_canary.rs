//! Canary versions of a plugin (admin key): start one on a share of
//! members or on some tenants, end it, promote it; and how each plugin's
//! latest canary stands, for `GET /v1/admin/plugins`.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::admin_plugins::{PluginReport, report};
use super::auth::AdminAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::plugins::{CanaryJudgement, CanaryRoute};
use crate::store::{CanaryRow, Id, StoreError};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCanary {
    /// The installed version to try (not the active one).
    pub sha256: String,
    /// The share of members, 1 to 99, whose sends it takes: chosen by a
    /// stable hash of each member, so a member's retries and journey steps
    /// stay on one version. Give this or `tenants`.
    pub percent: Option<i64>,
    /// Or: the tenants whose sends it takes, all of them.
    pub tenants: Option<Vec<Id>>,
}

/// A plugin's latest canary.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CanaryReport {
    pub id: Id,
    pub sha256: String,
    /// Its manifest's version, e.g. `1.1.0`.
    pub version: Option<String>,
    /// The version active when it started, which it is compared with.
    pub baseline_sha256: String,
    /// `running`; or how it ended: `rolled_back` (worse than the active
    /// version: `reason` says how), `promoted`, `aborted` (ended by an
    /// admin, or another version was activated) or `replaced` (by a newer
    /// canary).
    #[schema(example = "running")]
    pub state: String,
    /// The share of members it takes, or
    pub percent: Option<i64>,
    /// the tenants whose sends it takes.
    pub tenants: Option<Vec<Id>>,
    /// Since when it runs (or ran).
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: i64,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<i64>,
    /// Why it ended (a rollback's names both versions' figures).
    pub reason: Option<String>,
    /// Its sends and the active version's over the judging window: as of
    /// now while it runs (on the instance answering: each judges its own
    /// sends), else those it ended on.
    pub figures: Option<CanaryJudgement>,
}

/// Each plugin's latest canary (running or ended), by plugin name.
pub(super) async fn canary_reports(state: &AppState) -> ApiResult<HashMap<String, CanaryReport>> {
    let versions: HashMap<String, String> = state
        .store
        .plugin_versions()
        .await?
        .into_iter()
        .map(|v| (v.sha256, v.version))
        .collect();
    Ok(state
        .store
        .latest_canaries()
        .await?
        .into_iter()
        .map(|row| {
            let live = state
                .registry
                .canary(&row.name)
                .filter(|run| run.id == row.id);
            let figures = match live {
                Some(run) => Some(run.judgement()),
                None => row
                    .figures_json
                    .as_deref()
                    .and_then(|json| serde_json::from_str(json).ok()),
            };
            (row.name.clone(), canary_report(row, &versions, figures))
        })
        .collect())
}

fn canary_report(
    row: CanaryRow,
    versions: &HashMap<String, String>,
    figures: Option<CanaryJudgement>,
) -> CanaryReport {
    CanaryReport {
        version: versions.get(&row.sha256).cloned(),
        tenants: row.tenants(),
        id: row.id,
        sha256: row.sha256,
        baseline_sha256: row.baseline_sha256,
        state: row.state,
        percent: row.percent,
        started_at: row.started_at,
        ended_at: row.ended_at,
        reason: row.reason,
        figures,
    }
}

/// Routes a share of the plugin's sends (`percent` of members, or every
/// send of `tenants`) to another installed version, judged against the
/// active one: past the server's limits it is rolled back by itself.
/// A running canary is replaced (ramping up: start the same version with a
/// higher percent; the members it had keep it).
#[utoipa::path(post, path = "/v1/admin/plugins/{name}/canary", tag = "plugins",
    request_body = StartCanary,
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = PluginReport), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn start(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<StartCanary>,
) -> ApiResult<Json<PluginReport>> {
    let route = route(&state, &req).await?;
    state
        .registry
        .start_canary(&name, &req.sha256, route)
        .await?;
    Ok(Json(report(&state, &name).await?))
}

/// The request's route, or the field at fault.
async fn route(state: &AppState, req: &StartCanary) -> ApiResult<CanaryRoute> {
    match (req.percent, &req.tenants) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "tenants",
            "give either percent or tenants, not both",
        )),
        (None, None) => Err(ApiError::invalid(
            "percent",
            "give the share of members (percent, 1 to 99) or the tenants the canary takes",
        )),
        (Some(p), None) if !(1..=99).contains(&p) => Err(ApiError::invalid(
            "percent",
            "a whole percent of members from 1 to 99 (100 is an activation)",
        )),
        (Some(p), None) => Ok(CanaryRoute::Percent(p as u8)),
        (None, Some(tenants)) => {
            if tenants.is_empty() {
                return Err(ApiError::invalid("tenants", "name at least one tenant"));
            }
            for (i, id) in tenants.iter().enumerate() {
                match state.store.tenant(*id).await {
                    Err(StoreError::NotFound) => {
                        return Err(ApiError::invalid(
                            &format!("tenants[{i}]"),
                            format!("unknown tenant {id}"),
                        ));
                    }
                    other => other?,
                };
            }
            Ok(CanaryRoute::Tenants(
                tenants.iter().copied().collect::<BTreeSet<_>>(),
            ))
        }
    }
}

/// Ends the running canary: its members' next sends go to the active
/// version (messages it sent keep being verified by it).
#[utoipa::path(delete, path = "/v1/admin/plugins/{name}/canary", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn abort(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.registry.abort_canary(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends `name`'s running canary; answers the plugin as it now is (the
/// console's).
pub(crate) async fn end_canary(state: &AppState, name: &str) -> ApiResult<PluginReport> {
    state.registry.abort_canary(name).await?;
    report(state, name).await
}

/// Makes the running canary the active version, as an activation does
/// (every instance follows; `rollback` returns to the version before it).
#[utoipa::path(post, path = "/v1/admin/plugins/{name}/canary/promote", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = PluginReport), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn promote(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<PluginReport>> {
    Ok(Json(promote_canary(&state, &name).await?))
}

/// Promotes `name`'s running canary (the API's and the console's).
pub(crate) async fn promote_canary(state: &AppState, name: &str) -> ApiResult<PluginReport> {
    state
        .registry
        .promote_canary(name, "promoted by an admin")
        .await?;
    state.engine.wake();
    report(state, name).await
}

//! Tenant management (admin key only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{AdminAuth, TenantAuth};
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};
use crate::domain::phone::Region;
use crate::domain::send_window::{Hours, parse_timezone};
use crate::store::Tenant;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: Tenant,
    /// The tenant's API key. Shown once: only its hash is stored.
    pub api_key: String,
}

/// A new random API key: 256 bits, hex, with a recognisable prefix.
pub fn new_api_key() -> String {
    format!("hrld_{}", hex::encode(rand::rng().random::<[u8; 32]>()))
}

#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = CreatedTenant), (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<CreatedTenant>)> {
    let name = req.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let api_key = new_api_key();
    let tenant = state.store.create_tenant(name, &api_key).await?;
    tracing::info!(tenant = tenant.id, name, "tenant created");
    Ok((StatusCode::CREATED, Json(CreatedTenant { tenant, api_key })))
}

#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageQuery),
    responses((status = 200, body = Page<Tenant>)), security(("admin_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Tenant>>> {
    let all = state.store.list_tenants().await?;
    Ok(Json(Page::of_all(all, &page, 1000, |t| t.id)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// ISO country (e.g. `US`) assumed for numbers written without a
    /// country code in imports.
    pub default_region: Option<String>,
    /// IANA timezone: schedules are entered in it, and it is a contact's
    /// zone when neither the contact nor its number says otherwise.
    pub timezone: Option<String>,
    /// Sending hours in each contact's local time (`{"start": "08:00",
    /// "end": "21:00"}`).
    pub quiet_hours: Option<Hours>,
    /// Duplicate-outreach prevention: a member whose address any campaign
    /// of the tenant sent to within this many hours (0-8760) is not sent;
    /// 0 turns it off.
    pub duplicate_window_hours: Option<i64>,
    /// On: a contact active in another live campaign of the tenant is not
    /// enrolled when a campaign starts or takes contacts (its member shows
    /// `disqualified`, `active_in_other_campaign`). On for new tenants;
    /// off lets campaigns overlap on a contact.
    pub one_campaign_per_contact: Option<bool>,
}

#[utoipa::path(get, path = "/v1/tenant", tag = "tenants",
    responses((status = 200, body = Tenant)), security(("api_key" = [])))]
pub async fn me(TenantAuth(tenant): TenantAuth) -> Json<Tenant> {
    Json(tenant)
}

#[utoipa::path(patch, path = "/v1/tenant", tag = "tenants", request_body = TenantSettings,
    responses((status = 200, body = Tenant), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn update_settings(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<TenantSettings>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(apply_settings(&state, tenant, req).await?))
}

/// Checks and saves a tenant's own settings; answers the tenant as it now
/// is. Shared by the API and the console's settings page.
pub(crate) async fn apply_settings(
    state: &AppState,
    tenant: Tenant,
    req: TenantSettings,
) -> ApiResult<Tenant> {
    let region = req
        .default_region
        .as_deref()
        .map(|r| Region::parse(r).map(|_| r.trim().to_ascii_uppercase()))
        .transpose()
        .map_err(|why| ApiError::invalid("default_region", why))?;
    let timezone = req
        .timezone
        .as_deref()
        .map(|tz| {
            parse_timezone(tz)
                .map(|_| tz.trim().to_owned())
                .map_err(|why| ApiError::invalid("timezone", why))
        })
        .transpose()?;
    // Normalised (`8:00` is refused, `08:00` kept) by parsing.
    let quiet_hours = req
        .quiet_hours
        .as_ref()
        .map(|h| h.window().map(Hours::from_window))
        .transpose()
        .map_err(|why| ApiError::invalid("quiet_hours", why.to_string()))?;
    if let Some(h) = req.duplicate_window_hours
        && !(0..=8760).contains(&h)
    {
        return Err(ApiError::invalid(
            "duplicate_window_hours",
            "must be 0 (off) to 8760 hours",
        ));
    }
    state
        .store
        .update_tenant_settings(
            tenant.id,
            timezone.as_deref(),
            region.as_deref(),
            quiet_hours.as_ref(),
            req.duplicate_window_hours,
            req.one_campaign_per_contact,
        )
        .await?;
    let mut tenant = tenant;
    if region.is_some() {
        tenant.default_region = region;
    }
    if let Some(tz) = timezone {
        tenant.timezone = tz;
    }
    if let Some(h) = quiet_hours {
        tenant.quiet_hours = h;
    }
    if let Some(h) = req.duplicate_window_hours {
        tenant.duplicate_window_hours = h;
    }
    if let Some(on) = req.one_campaign_per_contact {
        tenant.one_campaign_per_contact = on;
    }
    Ok(tenant)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantFlags {
    /// Off: the tenant's sending campaigns pause (cause `feature_disabled`),
    /// scheduled ones wait, and `/v1/campaigns` answers 403 to everything
    /// but reads, `pause` and `cancel`.
    pub campaigns_enabled: bool,
}

/// Answers the tenant as it now is.
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "tenants", request_body = TenantFlags,
    params(("id" = i64, Path, description = "Tenant id")),
    responses((status = 200, body = Tenant), (status = 404, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn set_flags(
    State(state): State<AppState>,
    _: AdminAuth,
    axum::extract::Path(id): axum::extract::Path<crate::store::Id>,
    ApiJson(req): ApiJson<TenantFlags>,
) -> ApiResult<Json<Tenant>> {
    state
        .store
        .set_campaigns_enabled(id, req.campaigns_enabled)
        .await?;
    tracing::info!(
        tenant = id,
        campaigns_enabled = req.campaigns_enabled,
        "tenant flags changed"
    );
    if !req.campaigns_enabled {
        pause_for_disabled(&state, id).await?;
    }
    Ok(Json(state.store.tenant(id).await?))
}

/// Campaigns switched off: every campaign of the tenant that sends pauses
/// (claims waiting for their turn see it and go back to the queue), and
/// resuming waits for an administrator to switch them on again.
async fn pause_for_disabled(state: &AppState, tenant: crate::store::Id) -> ApiResult<()> {
    use crate::domain::lifecycle::{Action, AutoPause};
    for campaign in state.store.sending_campaigns(tenant).await? {
        match state
            .store
            .transition_campaign(
                tenant,
                campaign,
                Action::AutoPause(AutoPause::FeatureDisabled),
                Some("campaigns were switched off for this tenant by an administrator"),
            )
            .await
        {
            Ok(_) => tracing::info!(tenant, campaign, "campaign paused: campaigns switched off"),
            // Finished or paused meanwhile: nothing left to stop.
            Err(crate::store::StoreError::Conflict(_) | crate::store::StoreError::Refused(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// What a tenant whose campaigns are switched off may still do: read them,
/// and pause or cancel them.
fn allowed_while_disabled(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::GET
        || method == axum::http::Method::HEAD
        || (method == axum::http::Method::POST
            && (path.ends_with("/pause") || path.ends_with("/cancel")))
}

/// Refuses the campaign endpoints of a tenant whose campaigns are switched
/// off (but reads, pause and cancel), before any handler runs, with a
/// message saying who can change it.
pub async fn campaigns_gate(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.uri().path().starts_with("/v1/campaigns") {
        let (mut parts, body) = request.into_parts();
        if let Ok(TenantAuth(tenant)) =
            <TenantAuth as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
            && !tenant.campaigns_enabled
            && !allowed_while_disabled(&parts.method, parts.uri.path())
        {
            return ApiError::Forbidden(
                "campaigns are switched off for this tenant (reads, pause and cancel still work); an administrator can switch them on"
                    .into(),
            )
            .into_response();
        }
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    next.run(request).await
}

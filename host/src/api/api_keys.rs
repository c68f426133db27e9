//! A tenant's named API keys: created with scopes and an optional expiry,
//! listed (never with the key), revoked. The key is shown once, at
//! creation; only its hash is stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::{ApiJson, ApiQuery};
use super::paging::{Page, PageQuery, id_cursor, limit};
use super::scopes::parse_scopes;
use super::tenants::new_api_key;
use crate::store::{ApiKey, Id, now_ms};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// For people: what or who uses it.
    pub name: String,
    /// `read` (every GET), `send` (campaigns, lists, contacts, imports,
    /// media, templates, reviews), `admin` (channels, settings, reply
    /// endpoint, do-not-contact list, keys, audit log).
    pub scopes: Vec<String>,
    /// RFC 3339; refused (401) from then on. Absent: never expires.
    pub expires_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself: shown this once.
    pub api_key: String,
}

/// The longest key name.
const MAX_NAME: usize = 200;

#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(
            "name",
            format!("1 to {MAX_NAME} characters"),
        ));
    }
    let scopes: Vec<String> = parse_scopes(&req.scopes, "scopes")?
        .into_iter()
        .map(|s| s.name().to_owned())
        .collect();
    let expires_at = req
        .expires_at
        .as_deref()
        .map(|text| {
            crate::rfc3339::parse(text)
                .ok_or_else(|| ApiError::invalid("expires_at", "not an RFC 3339 instant"))
        })
        .transpose()?;
    if expires_at.is_some_and(|at| at <= now_ms()) {
        return Err(ApiError::invalid("expires_at", "already past"));
    }
    let api_key = new_api_key();
    let key = state
        .store
        .create_api_key(tenant.id, name, &api_key, &scopes, expires_at)
        .await?;
    tracing::info!(tenant = tenant.id, key = key.id, scopes = ?key.scopes, "API key created");
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key, api_key })))
}

#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, body = Page<ApiKey>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiKey>>> {
    let limit = limit(q.limit, 100, 1000);
    let after = id_cursor(q.cursor.as_deref())?;
    let rows = state
        .store
        .list_api_keys(tenant.id, after, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(rows, limit, |k| k.id.to_string())))
}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = i64, Path, description = "The key")),
    responses((status = 200, body = ApiKey), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<ApiKey>> {
    let key = state.store.revoke_api_key(tenant.id, id).await?;
    tracing::info!(tenant = tenant.id, key = id, "API key revoked");
    Ok(Json(key))
}

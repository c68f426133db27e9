//! The publisher keys this server trusts to sign plugins (admin key):
//! listed (those of `--trusted-keys` and those added here), added and
//! removed. Added keys live in the database, so every instance trusts
//! them at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AdminAuth;
use super::error::{ApiError, ApiResult};
use super::json::{ApiJson, ApiQuery};
use super::paging::{Page, PageQuery};
use crate::plugins::trust::{KeySource, TrustError, TrustedKey};

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrustedKeyView {
    /// The first 16 hex digits of the sha256 of the key's 32 bytes.
    pub key_id: String,
    /// Shown as "signed by" beside each version the key signs.
    pub publisher: String,
    /// The 32-byte Ed25519 public key, base64.
    pub public_key: String,
    /// `file` (`--trusted-keys`, removed by editing the file) or `api`.
    #[schema(example = "api")]
    pub source: &'static str,
    /// When it was added through the API.
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub added_at: Option<i64>,
}

impl From<TrustedKey> for TrustedKeyView {
    fn from(k: TrustedKey) -> Self {
        Self {
            key_id: k.key_id,
            publisher: k.publisher,
            public_key: k.public_key,
            source: match k.source {
                KeySource::File => "file",
                KeySource::Api => "api",
            },
            added_at: k.added_at,
        }
    }
}

impl From<TrustError> for ApiError {
    fn from(e: TrustError) -> Self {
        match e {
            TrustError::Invalid { field, message } => ApiError::invalid(field, message),
            TrustError::Conflict(m) => ApiError::Conflict(m),
            TrustError::NotFound(_) => ApiError::NotFound("no such trusted key"),
            TrustError::Store(e) => e.into(),
        }
    }
}

#[utoipa::path(get, path = "/v1/admin/trusted-keys", tag = "plugins", params(PageQuery),
    responses((status = 200, body = Page<TrustedKeyView>)), security(("admin_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TrustedKeyView>>> {
    let keys = state.registry.trust().keys().await?;
    let views = keys.into_iter().map(TrustedKeyView::from).collect();
    Ok(Json(Page::of_all(views, &page, 200, |k| k.key_id.clone())?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustedKey {
    /// The name shown beside each version the key signs (1 to 100
    /// characters).
    pub publisher: String,
    /// The 32-byte Ed25519 public key, base64 (the first word of the
    /// `.pub` file `herald plugin keygen` writes).
    pub public_key: String,
}

/// Trusts a publisher's key on every instance. 409 if it is trusted
/// already.
#[utoipa::path(post, path = "/v1/admin/trusted-keys", tag = "plugins", request_body = NewTrustedKey,
    responses((status = 201, body = TrustedKeyView), (status = 409, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn add(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(req): ApiJson<NewTrustedKey>,
) -> ApiResult<(StatusCode, Json<TrustedKeyView>)> {
    let key = state
        .registry
        .trust()
        .add(&req.publisher, &req.public_key)
        .await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// Stops trusting a key added through the API: uploads it signs are
/// refused from now on; versions it signed stay installed, shown with
/// `key_trusted: false`. A key of `--trusted-keys` is a 409.
#[utoipa::path(delete, path = "/v1/admin/trusted-keys/{key_id}", tag = "plugins",
    params(("key_id" = String, Path, description = "The key's id")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.registry.trust().remove(&key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

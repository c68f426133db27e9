//! Media uploads for MMS (and WhatsApp header media), and their public URLs
//! for providers to fetch.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiQuery;
use crate::domain::media::{ACCEPTED, MAX_MEDIA_BYTES, sniff};
use crate::store::{Id, Media, NewMedia, StoreError};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The original file name, kept for people (optional).
    pub filename: Option<String>,
}

#[utoipa::path(post, path = "/v1/media", tag = "media", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The file's bytes (≤ 100 MB); its type is sniffed from them"),
    responses((status = 201, body = Media), (status = 413, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(params): ApiQuery<UploadParams>,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Media>)> {
    // Read with the limit here (not a tower layer) so that an upload over
    // it gets the JSON error every other refusal has.
    let too_large = || ApiError::TooLarge("the file is larger than the limit of 100 MB".into());
    if request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_MEDIA_BYTES)
    {
        super::upload::drain(request.into_body().into_data_stream()).await;
        return Err(too_large());
    }
    let body: Bytes = axum::body::to_bytes(request.into_body(), MAX_MEDIA_BYTES)
        .await
        .map_err(|_| too_large())?;
    if body.is_empty() {
        return Err(ApiError::invalid("body", "the upload is empty"));
    }
    if body.len() > MAX_MEDIA_BYTES {
        return Err(ApiError::invalid("body", "larger than 100 MB"));
    }
    let content_type = sniff(&body).ok_or_else(|| {
        ApiError::invalid(
            "body",
            format!(
                "not a media type MMS providers accept; accepted: {}",
                ACCEPTED.join(", ")
            ),
        )
    })?;
    let sha256 = hex::encode(Sha256::digest(&body));
    let token = hex::encode(rand::rng().random::<[u8; 24]>());
    let media = state
        .store
        .insert_media(
            tenant.id,
            NewMedia {
                sha256: &sha256,
                content_type,
                bytes: &body,
                filename: params.filename.as_deref(),
                token: &token,
            },
        )
        .await?;
    tracing::info!(
        tenant = tenant.id,
        media = media.id,
        content_type,
        size = media.size,
        "media uploaded"
    );
    Ok((StatusCode::CREATED, Json(media)))
}

#[utoipa::path(get, path = "/v1/media/{id}", tag = "media",
    responses((status = 200, body = Media), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<Media>> {
    Ok(Json(state.store.media(tenant.id, id).await?))
}

/// `GET /media/{token}`: public, for providers. The token is the secret.
pub async fn serve(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.store.media_content(&token).await {
        Ok((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                // Content-addressed: the bytes behind a token never change.
                (
                    header::CACHE_CONTROL,
                    "public, max-age=86400, immutable".to_owned(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(StoreError::NotFound) => ApiError::NotFound("no such media").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

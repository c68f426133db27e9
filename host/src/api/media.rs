//! Media uploads for MMS (and WhatsApp header media), and their public URLs
//! for providers to fetch.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiQuery;
use super::{media_spool, upload};
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
    // Refuse a declared size over the limit before reading anything; an
    // undeclared (chunked) one is refused at the first byte too many.
    let limit = MAX_MEDIA_BYTES as u64;
    if upload::declared_length(request.headers()).is_some_and(|n| n > limit) {
        upload::drain(request.into_body().into_data_stream()).await;
        return Err(upload::too_large(limit));
    }
    let spooled = media_spool::receive(
        state.importer.spool_dir(),
        request.into_body().into_data_stream(),
        limit,
    )
    .await?;
    if spooled.size == 0 {
        return Err(ApiError::invalid("body", "the upload is empty"));
    }
    let content_type = sniff(&spooled.head).ok_or_else(|| {
        ApiError::invalid(
            "body",
            format!(
                "not a media type MMS providers accept; accepted: {}",
                ACCEPTED.join(", ")
            ),
        )
    })?;
    if !state.store.media_blob_exists(&spooled.sha256).await? {
        let store = &state.store;
        let sha256 = &spooled.sha256;
        spooled
            .for_each_chunk(|seq, bytes| async move {
                Ok(store.put_media_chunk(sha256, seq, &bytes).await?)
            })
            .await?;
    }
    let token = hex::encode(rand::rng().random::<[u8; 24]>());
    let media = state
        .store
        .insert_media(
            tenant.id,
            NewMedia {
                sha256: &spooled.sha256,
                content_type,
                size: spooled.size as i64,
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
/// The bytes are streamed piece by piece from the database.
pub async fn serve(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let blob = match state.store.media_by_token(&token).await {
        Ok(blob) => blob,
        Err(StoreError::NotFound) => return ApiError::NotFound("no such media").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let store = state.store.clone();
    let sha256 = blob.sha256;
    let pieces = futures::stream::unfold(Some(-1i64), move |after| {
        let store = store.clone();
        let sha256 = sha256.clone();
        async move {
            match store.media_chunk_after(&sha256, after?).await {
                Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk.bytes)), Some(chunk.seq))),
                Ok(None) => None,
                Err(e) => {
                    // The length is already promised: cutting the body short
                    // tells the provider the fetch failed.
                    tracing::error!(sha256, error = %e, "media piece unreadable");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, blob.content_type),
            (header::CONTENT_LENGTH, blob.size.to_string()),
            // Content-addressed: the bytes behind a token never change.
            (
                header::CACHE_CONTROL,
                "public, max-age=86400, immutable".to_owned(),
            ),
        ],
        Body::from_stream(pieces),
    )
        .into_response()
}

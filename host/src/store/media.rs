//! Uploaded media (MMS attachments, WhatsApp header media).
//!
//! Stored in the database, content-addressed by SHA-256: every Herald
//! instance sharing the database can serve any file at its public URL
//! (providers fetch it from whichever instance the load balancer picks), a
//! backup of the database is complete, and identical uploads share one blob.
//! A blob's bytes are kept in pieces (`media_chunks`) so that storing and
//! serving a 100 MB file holds one piece in memory at a time. The pieces are
//! written first, each in its own short transaction (a slow disk never holds
//! the write lock for a whole file), and the blob row last: a blob that has
//! a row is complete, pieces without one are an interrupted upload that the
//! next upload of the same file reuses.
//! Each upload gets its own random token, the only thing in the public URL:
//! the hash of a known file would be guessable, the token is not.

use serde::Serialize;
use sqlx::FromRow;

use super::{Id, Store, StoreError, StoreResult, now_ms};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema, FromRow)]
pub struct Media {
    pub id: Id,
    pub sha256: String,
    /// Sniffed from the bytes, not taken from the upload's header.
    pub content_type: String,
    pub size: i64,
    pub filename: Option<String>,
    #[serde(skip)]
    pub token: String,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// An upload whose pieces are stored ([`Store::put_media_chunk`]).
pub struct NewMedia<'a> {
    pub sha256: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub filename: Option<&'a str>,
    pub token: &'a str,
}

/// What a public media URL serves, before its bytes.
#[derive(Debug, FromRow)]
pub struct MediaBlob {
    pub sha256: String,
    pub content_type: String,
    pub size: i64,
}

/// One stored piece of a blob.
#[derive(Debug, FromRow)]
pub struct MediaChunk {
    pub seq: i64,
    pub bytes: Vec<u8>,
}

const COLUMNS: &str = "m.id, m.sha256, b.content_type, b.size, m.filename, m.token, m.created_at";

impl Store {
    /// True when a complete blob with this hash is stored already.
    pub async fn media_blob_exists(&self, sha256: &str) -> StoreResult<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT sha256 FROM media_blobs WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Stores piece `seq` of blob `sha256` (idempotent: an identical upload
    /// running at the same time writes the same bytes).
    pub async fn put_media_chunk(&self, sha256: &str, seq: i64, bytes: &[u8]) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO media_chunks (sha256, seq, bytes) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256, seq) DO NOTHING",
        )
        .bind(sha256)
        .bind(seq)
        .bind(bytes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an upload whose pieces are all stored: the blob (once per
    /// hash) and the tenant's media row with its token.
    pub async fn insert_media(&self, tenant: Id, new: NewMedia<'_>) -> StoreResult<Media> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO media_blobs (sha256, content_type, size) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(new.sha256)
        .bind(new.content_type)
        .bind(new.size)
        .execute(&mut *tx)
        .await?;
        let id: Id = sqlx::query_scalar(
            "INSERT INTO media (tenant_id, sha256, token, filename, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(tenant)
        .bind(new.sha256)
        .bind(new.token)
        .bind(new.filename)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.media(tenant, id).await
    }

    pub async fn media(&self, tenant: Id, id: Id) -> StoreResult<Media> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM media m JOIN media_blobs b ON b.sha256 = m.sha256 \
             WHERE m.tenant_id = $1 AND m.id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The blob behind a public media URL.
    pub async fn media_by_token(&self, token: &str) -> StoreResult<MediaBlob> {
        sqlx::query_as(
            "SELECT b.sha256, b.content_type, b.size FROM media m \
             JOIN media_blobs b ON b.sha256 = m.sha256 WHERE m.token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The piece of blob `sha256` that follows piece `after` (-1: the first).
    pub async fn media_chunk_after(
        &self,
        sha256: &str,
        after: i64,
    ) -> StoreResult<Option<MediaChunk>> {
        Ok(sqlx::query_as(
            "SELECT seq, bytes FROM media_chunks WHERE sha256 = $1 AND seq > $2 \
             ORDER BY seq LIMIT 1",
        )
        .bind(sha256)
        .bind(after)
        .fetch_optional(&self.pool)
        .await?)
    }
}

//! Uploaded media (MMS attachments, WhatsApp header media).
//!
//! Stored in the database, content-addressed by SHA-256: every Herald
//! instance sharing the database can serve any file at its public URL
//! (providers fetch it from whichever instance the load balancer picks), a
//! backup of the database is complete, and identical uploads share one blob.
//! Each upload gets its own random token, the only thing in the public URL:
//! the hash of a known file would be guessable, the token is not.

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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

pub struct NewMedia<'a> {
    pub sha256: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
    pub filename: Option<&'a str>,
    pub token: &'a str,
}

const COLUMNS: &str = "m.id, m.sha256, b.content_type, b.size, m.filename, m.token, m.created_at";

impl Store {
    pub async fn insert_media(&self, tenant: Id, new: NewMedia<'_>) -> StoreResult<Media> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO media_blobs (sha256, content_type, size, bytes) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(new.sha256)
        .bind(new.content_type)
        .bind(new.bytes.len() as i64)
        .bind(new.bytes)
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
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM media m JOIN media_blobs b ON b.sha256 = m.sha256 \
             WHERE m.tenant_id = $1 AND m.id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(Media {
            id: row.get(0),
            sha256: row.get(1),
            content_type: row.get(2),
            size: row.get(3),
            filename: row.get(4),
            token: row.get(5),
            created_at: row.get(6),
        })
    }

    /// The bytes behind a public media URL: (content type, bytes).
    pub async fn media_content(&self, token: &str) -> StoreResult<(String, Vec<u8>)> {
        let row = sqlx::query(
            "SELECT b.content_type, b.bytes FROM media m JOIN media_blobs b ON b.sha256 = m.sha256 \
             WHERE m.token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok((row.get(0), row.get(1)))
    }
}

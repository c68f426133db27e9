//! Receiving a media upload to disk as it streams in: the size limit is
//! enforced on the bytes received (413 at the first byte too many, whatever
//! the client declared), the SHA-256 is computed on the way, and the first
//! bytes are kept for type sniffing. Memory stays at one network chunk.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ApiError;
use super::upload::{drain, io_error, spool_path, too_large};
use crate::domain::media::{MEDIA_CHUNK_BYTES, SNIFF_BYTES};

/// An upload written to the spool; the file is removed when this is dropped,
/// stored or not.
pub struct SpooledMedia {
    path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// The first [`SNIFF_BYTES`] bytes (fewer for a smaller file).
    pub head: Vec<u8>,
}

impl Drop for SpooledMedia {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl SpooledMedia {
    /// Reads the file back in [`MEDIA_CHUNK_BYTES`] pieces, calling `each`
    /// with the piece's sequence number.
    pub async fn for_each_chunk<F, Fut>(&self, mut each: F) -> Result<(), ApiError>
    where
        F: FnMut(i64, Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Result<(), ApiError>>,
    {
        let mut file = tokio::fs::File::open(&self.path).await.map_err(io_error)?;
        let mut seq = 0i64;
        loop {
            let mut chunk = Vec::with_capacity(MEDIA_CHUNK_BYTES);
            // Reads until the piece is full or the file ends.
            (&mut file)
                .take(MEDIA_CHUNK_BYTES as u64)
                .read_to_end(&mut chunk)
                .await
                .map_err(io_error)?;
            if chunk.is_empty() {
                return Ok(());
            }
            let last = chunk.len() < MEDIA_CHUNK_BYTES;
            each(seq, chunk).await?;
            if last {
                return Ok(());
            }
            seq += 1;
        }
    }
}

/// Writes `body` to a new file in `dir`, refusing it past `limit` bytes.
pub async fn receive<S, E>(dir: &Path, mut body: S, limit: u64) -> Result<SpooledMedia, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = spool_path(dir, "media", "part");
    let file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("creating {}: {e}", path.display())))?;
    // From here on the guard removes the file on every way out.
    let mut spooled = SpooledMedia {
        path,
        size: 0,
        sha256: String::new(),
        head: Vec::new(),
    };
    let mut out = tokio::io::BufWriter::with_capacity(256 << 10, file);
    let mut hash = Sha256::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            field: Some("body".to_owned()),
            message: format!("the upload was interrupted: {e}"),
        })?;
        spooled.size += chunk.len() as u64;
        if spooled.size > limit {
            drain(&mut body).await;
            return Err(too_large(limit));
        }
        let wanted = SNIFF_BYTES.saturating_sub(spooled.head.len());
        spooled
            .head
            .extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        hash.update(&chunk);
        out.write_all(&chunk).await.map_err(io_error)?;
    }
    out.flush().await.map_err(io_error)?;
    spooled.sha256 = hex::encode(hash.finalize());
    Ok(spooled)
}

//! Receiving an uploaded CSV file to disk as it streams in: the size limit
//! is enforced on the bytes received (413 at the first byte too many), the
//! text must be UTF-8 (refused with the line where decoding failed), and a
//! UTF-8 byte-order mark is dropped. Memory stays at one chunk.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::error::ApiError;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The file as written to the spool.
pub struct Spooled {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Checks chunks as they arrive: UTF-8 across chunk boundaries, line count.
struct Utf8Check {
    /// An incomplete character at the end of the previous chunk.
    carry: Vec<u8>,
    line: u64,
}

impl Utf8Check {
    fn push(&mut self, chunk: &[u8]) -> Result<(), u64> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        match std::str::from_utf8(&data) {
            Ok(s) => self.line += count_lines(s.as_bytes()),
            Err(e) => {
                let good = e.valid_up_to();
                self.line += count_lines(&data[..good]);
                if e.error_len().is_some() {
                    return Err(self.line + 1);
                }
                // A character cut by the chunk boundary: finish it next time.
                self.carry = data[good..].to_vec();
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), u64> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(self.line + 1)
        }
    }
}

fn count_lines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Writes `body` to a new file in `dir`, at most `limit` bytes. On any
/// refusal the partial file is removed.
pub async fn spool<S, E>(dir: &Path, body: S, limit: u64, field: &str) -> Result<Spooled, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = spool_path(dir, "upload", "csv");
    let result = write(&path, body, limit, field).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result.map(|bytes| Spooled { path, bytes })
}

async fn write<S, E>(path: &Path, mut body: S, limit: u64, field: &str) -> Result<u64, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::Internal(format!("creating {}: {e}", path.display())))?;
    let mut out = tokio::io::BufWriter::with_capacity(256 << 10, file);
    let mut check = Utf8Check {
        carry: Vec::new(),
        line: 0,
    };
    let mut received: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let not_utf8 = |line: u64| {
        ApiError::invalid(
            field,
            format!(
                "the file is not UTF-8: decoding failed on line {line}; save it as \
                 \"CSV UTF-8\" and upload again"
            ),
        )
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            field: Some(field.to_owned()),
            message: format!("the upload was interrupted: {e}"),
        })?;
        received += chunk.len() as u64;
        if received > limit {
            drain(&mut body).await;
            return Err(too_large(limit));
        }
        // Hold the first bytes back until the BOM question is settled.
        let mut data: &[u8] = &chunk;
        if head.len() < BOM.len() {
            let take = (BOM.len() - head.len()).min(data.len());
            head.extend_from_slice(&data[..take]);
            data = &data[take..];
            if head.len() < BOM.len() {
                continue;
            }
            let keep: &[u8] = if head == BOM { &[] } else { &head };
            check.push(keep).map_err(not_utf8)?;
            out.write_all(keep).await.map_err(io_error)?;
        }
        check.push(data).map_err(not_utf8)?;
        out.write_all(data).await.map_err(io_error)?;
    }
    if head.len() < BOM.len() {
        check.push(&head).map_err(not_utf8)?;
        out.write_all(&head).await.map_err(io_error)?;
    }
    check.finish().map_err(not_utf8)?;
    out.flush().await.map_err(io_error)?;
    Ok(received)
}

/// A new file name in the spool `dir`: unique across processes sharing it.
pub fn spool_path(dir: &Path, kind: &str, extension: &str) -> PathBuf {
    dir.join(format!(
        "{kind}-{}-{}.{extension}",
        std::process::id(),
        hex::encode(rand::random::<[u8; 8]>())
    ))
}

/// The length a request declares, if it declares one.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// The refusal of an upload past `limit` bytes.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge {
        field: "file",
        message: format!("the file is larger than the limit of {} MB", limit >> 20),
    }
}

/// Most bytes read and thrown away after refusing an upload as too large.
const DRAIN_CAP: u64 = 256 << 20;

/// Reads the rest of a refused upload and discards it (up to a cap), so the
/// client, still sending, receives the error instead of a connection reset:
/// hyper closes a connection whose request body was left unread, and the
/// kernel then resets it under the client's feet, losing the response.
pub async fn drain<S, E>(mut body: S)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut read = 0u64;
    while let Some(Ok(chunk)) = body.next().await {
        read += chunk.len() as u64;
        if read > DRAIN_CAP {
            break;
        }
    }
}

pub fn io_error(e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("the upload spool: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_latin1_byte_across_chunks() {
        let mut c = Utf8Check {
            carry: Vec::new(),
            line: 0,
        };
        assert!(c.push(b"phone,name\n+14155550100,Jos").is_ok());
        assert!(c.push(b"\xC3").is_ok(), "a character cut in two waits");
        assert!(c.push(b"\xA9\n").is_ok());
        assert_eq!(c.push(b"+14155550101,Ren\xE9\n"), Err(3));
    }

    #[test]
    fn a_file_ending_mid_character_is_refused() {
        let mut c = Utf8Check {
            carry: Vec::new(),
            line: 0,
        };
        assert!(c.push(b"a\n\xE2\x82").is_ok());
        assert_eq!(c.finish(), Err(2));
    }
}

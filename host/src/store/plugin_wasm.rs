//! A plugin version's bytes, stored in pieces of at most [`CHUNK_BYTES`]
//! (migration 0035). Written whole, an 18 MB component went to the database
//! as one value, copied on its way (the driver's arguments, then SQLite's
//! own copy or PostgreSQL's protocol buffer): three copies resident at once
//! made the server's first start its peak RSS (128 MiB, against 89 MiB for
//! the same start without the insert). In pieces, each copy is one piece.

use futures::TryStreamExt;
use sqlx::Row;

use super::{Store, StoreError, StoreResult};

/// The largest piece of a component stored in one row.
const CHUNK_BYTES: usize = 1 << 20;

/// Stores `wasm`'s pieces for version `sha256`, in the caller's transaction.
pub(super) async fn put_chunks(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    sha256: &str,
    wasm: &[u8],
) -> StoreResult<()> {
    for (seq, piece) in wasm.chunks(CHUNK_BYTES).enumerate() {
        sqlx::query("INSERT INTO plugin_wasm_chunks (sha256, seq, bytes) VALUES ($1, $2, $3)")
            .bind(sha256)
            .bind(seq as i64)
            .bind(piece)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// A stored version's bytes: its pieces in order, or, for a version
    /// stored before pieces existed, the whole value it was stored as.
    pub async fn plugin_wasm(&self, sha256: &str) -> StoreResult<Vec<u8>> {
        let size: Option<i64> =
            sqlx::query_scalar("SELECT size FROM plugin_versions WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?;
        let size = size.ok_or(StoreError::NotFound)?;
        let mut wasm = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Appended piece by piece: never the pieces and their sum at once.
        let mut pieces =
            sqlx::query("SELECT bytes FROM plugin_wasm_chunks WHERE sha256 = $1 ORDER BY seq")
                .bind(sha256)
                .fetch(&self.pool);
        while let Some(row) = pieces.try_next().await? {
            let piece: Vec<u8> = row.get("bytes");
            wasm.extend_from_slice(&piece);
        }
        drop(pieces);
        if !wasm.is_empty() {
            return Ok(wasm);
        }
        Ok(
            sqlx::query_scalar("SELECT wasm FROM plugin_versions WHERE sha256 = $1")
                .bind(sha256)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::super::{NewPluginVersion, now_ms};
    use super::CHUNK_BYTES;

    fn version<'a>(sha256: &'a str, wasm: &'a [u8]) -> NewPluginVersion<'a> {
        NewPluginVersion {
            sha256,
            name: "piecewise",
            version: "1.0.0",
            world: "herald:provider@1.4.0",
            manifest_json: "{}",
            wasm,
            signature: None,
        }
    }

    /// A component larger than a piece comes back byte for byte, stored as
    /// several rows none larger than a piece; storing it again adds none.
    #[tokio::test]
    async fn a_large_component_is_stored_in_pieces_and_read_back_whole() {
        for db in test_store::backends().await {
            let store = &db.store;
            // Two and a half pieces of bytes that differ from piece to
            // piece, so an order mix-up would show.
            let wasm: Vec<u8> = (0..CHUNK_BYTES * 5 / 2)
                .map(|i| (i % 251) as u8 ^ (i / CHUNK_BYTES) as u8)
                .collect();
            store
                .put_plugin_version(version("big", &wasm))
                .await
                .unwrap();
            store
                .put_plugin_version(version("big", &wasm))
                .await
                .unwrap();
            assert_eq!(store.plugin_wasm("big").await.unwrap(), wasm, "{}", db.url);
            let (pieces, largest): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), CAST(MAX(LENGTH(bytes)) AS BIGINT) FROM plugin_wasm_chunks WHERE sha256 = 'big'",
            )
            .fetch_one(&store.pool)
            .await
            .unwrap();
            assert_eq!(pieces, 3, "{}", db.url);
            assert_eq!(largest, CHUNK_BYTES as i64, "{}", db.url);
            let versions = store.plugin_versions().await.unwrap();
            let stored = versions.iter().find(|v| v.sha256 == "big").unwrap();
            assert_eq!(stored.size, wasm.len() as i64, "{}", db.url);
        }
    }

    /// A version stored before pieces existed (its bytes whole in
    /// `plugin_versions.wasm`) still loads.
    #[tokio::test]
    async fn a_version_stored_whole_before_pieces_still_loads() {
        for db in test_store::backends().await {
            let store = &db.store;
            let wasm = b"\0asm\x0d\0\x01\0 an older version".to_vec();
            sqlx::query(
                "INSERT INTO plugin_versions (sha256, name, version, world, manifest_json, wasm, \
                 size, installed_at) VALUES ('old', 'older', '0.9.0', 'herald:provider@1.0.0', \
                 '{}', $1, $2, $3)",
            )
            .bind(&wasm)
            .bind(wasm.len() as i64)
            .bind(now_ms())
            .execute(&store.pool)
            .await
            .unwrap();
            assert_eq!(store.plugin_wasm("old").await.unwrap(), wasm, "{}", db.url);
            assert!(
                store.plugin_wasm("missing").await.is_err(),
                "{}: an unknown version is not found",
                db.url
            );
        }
    }
}

//! Signed plugin packages in the database: the publisher keys trusted
//! through the admin API, and each installed version's verified signature
//! (written with the version, in `put_plugin_version`'s transaction).

use sqlx::Row;

use super::{Store, StoreError, StoreResult, now_ms};

/// A publisher key trusted through the admin API.
#[derive(Clone, Debug)]
pub struct TrustedKeyRow {
    pub key_id: String,
    pub publisher: String,
    pub public_key: String,
    pub added_at: i64,
}

/// A verified signature to store with its version.
pub struct NewPluginSignature<'a> {
    pub key_id: &'a str,
    pub publisher: &'a str,
    pub public_key: &'a str,
    pub manifest_sha256: &'a str,
    pub signature: &'a str,
}

/// Who signed an installed version.
#[derive(Clone, Debug)]
pub struct PluginSignatureRow {
    pub sha256: String,
    pub key_id: String,
    pub publisher: String,
    pub verified_at: i64,
}

fn key_from_row(r: &sqlx::any::AnyRow) -> TrustedKeyRow {
    TrustedKeyRow {
        key_id: r.get(0),
        publisher: r.get(1),
        public_key: r.get(2),
        added_at: r.get(3),
    }
}

impl Store {
    pub async fn trusted_keys(&self) -> StoreResult<Vec<TrustedKeyRow>> {
        let rows = sqlx::query(
            "SELECT key_id, publisher, public_key, added_at FROM plugin_trusted_keys \
             ORDER BY added_at, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    /// The trusted key with these bytes (base64), if any.
    pub async fn trusted_key(&self, public_key: &str) -> StoreResult<Option<TrustedKeyRow>> {
        let row = sqlx::query(
            "SELECT key_id, publisher, public_key, added_at FROM plugin_trusted_keys \
             WHERE public_key = $1",
        )
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(key_from_row))
    }

    /// `Conflict` when the key is trusted already.
    pub async fn add_trusted_key(&self, key: &TrustedKeyRow) -> StoreResult<()> {
        let added = sqlx::query(
            "INSERT INTO plugin_trusted_keys (key_id, publisher, public_key, added_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&key.key_id)
        .bind(&key.publisher)
        .bind(&key.public_key)
        .bind(key.added_at)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(format!(
                "key {} is already trusted",
                key.key_id
            )));
        }
        Ok(())
    }

    pub async fn remove_trusted_key(&self, key_id: &str) -> StoreResult<()> {
        let removed = sqlx::query("DELETE FROM plugin_trusted_keys WHERE key_id = $1")
            .bind(key_id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The signer of every signed version.
    pub async fn plugin_signatures(&self) -> StoreResult<Vec<PluginSignatureRow>> {
        let rows = sqlx::query(
            "SELECT sha256, key_id, publisher, verified_at FROM plugin_signatures ORDER BY sha256",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PluginSignatureRow {
                sha256: r.get(0),
                key_id: r.get(1),
                publisher: r.get(2),
                verified_at: r.get(3),
            })
            .collect())
    }
}

/// Records a version's signature; a later verified signature of the same
/// bytes (another publisher, or a key trusted since) replaces it.
pub(super) async fn put_signature(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    sha256: &str,
    s: &NewPluginSignature<'_>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO plugin_signatures (sha256, key_id, publisher, public_key, manifest_sha256, \
         signature, verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO UPDATE \
         SET key_id = excluded.key_id, publisher = excluded.publisher, \
         public_key = excluded.public_key, manifest_sha256 = excluded.manifest_sha256, \
         signature = excluded.signature, verified_at = excluded.verified_at",
    )
    .bind(sha256)
    .bind(s.key_id)
    .bind(s.publisher)
    .bind(s.public_key)
    .bind(s.manifest_sha256)
    .bind(s.signature)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

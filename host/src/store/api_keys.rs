//! A tenant's named API keys (scopes, expiry, revocation, last use) and the
//! audit log of security-relevant changes. Keys are stored as SHA-256
//! hashes, like the tenant's first key (`tenants`).

use serde::Serialize;
use sqlx::Row;

use super::tenants::hash_key;
use super::{Id, Store, StoreError, StoreResult, now_ms};

/// A named key as its tenant sees it: never the key itself.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Id,
    pub name: String,
    /// What the key may do: `read`, `send`, `admin`.
    pub scopes: Vec<String>,
    /// After this instant the key is refused (401); null: never.
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<i64>,
    /// Within a minute.
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<i64>,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<i64>,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// A named key presented with a request, and its tenant.
pub struct PresentedKey {
    pub tenant_id: Id,
    pub key: ApiKey,
}

/// One security-relevant change.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: Id,
    /// The tenant it concerns; null for the server's own (plugins).
    pub tenant_id: Option<Id>,
    /// Who: `admin`, `tenant key` (the first key) or `key {id} ({name})`.
    pub actor: String,
    /// What: the method and route, e.g. `PATCH /v1/channels/{id}`.
    pub action: String,
    /// Which: the request path, and `#id` of what a creation made.
    pub target: String,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
}

const KEY_COLUMNS: &str =
    "id, tenant_id, name, scopes, expires_at, last_used_at, revoked_at, created_at";

fn key_from_row(r: &sqlx::any::AnyRow) -> ApiKey {
    ApiKey {
        id: r.get("id"),
        name: r.get("name"),
        scopes: r
            .get::<String, _>("scopes")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        expires_at: r.get("expires_at"),
        last_used_at: r.get("last_used_at"),
        revoked_at: r.get("revoked_at"),
        created_at: r.get("created_at"),
    }
}

impl Store {
    pub async fn create_api_key(
        &self,
        tenant: Id,
        name: &str,
        raw_key: &str,
        scopes: &[String],
        expires_at: Option<i64>,
    ) -> StoreResult<ApiKey> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (tenant_id, name, key_hash, scopes, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
        ))
        .bind(tenant)
        .bind(name)
        .bind(hash_key(raw_key))
        .bind(scopes.join(","))
        .bind(expires_at)
        .bind(now_ms())
        .fetch_one(&self.writer)
        .await?;
        Ok(key_from_row(&row))
    }

    /// A tenant's keys in creation order, after the id `after`.
    pub async fn list_api_keys(
        &self,
        tenant: Id,
        after: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(tenant)
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    /// Revokes a key (at once, for every instance); revoking twice keeps
    /// the first instant.
    pub async fn revoke_api_key(&self, tenant: Id, id: Id) -> StoreResult<ApiKey> {
        let row = sqlx::query(&format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE tenant_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}"
        ))
        .bind(tenant)
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&self.writer)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(key_from_row(&row))
    }

    /// The named key a request presented, revoked or expired ones included
    /// (the caller says which it is).
    pub async fn presented_key(&self, raw_key: &str) -> StoreResult<Option<PresentedKey>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(hash_key(raw_key))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| PresentedKey {
            tenant_id: r.get("tenant_id"),
            key: key_from_row(&r),
        }))
    }

    pub async fn touch_api_key(&self, id: Id, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn record_audit(
        &self,
        tenant: Option<Id>,
        actor: &str,
        action: &str,
        target: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, target, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Newest first: one tenant's entries, or (`None`) every entry; after
    /// the cursor `before` (an id), up to `limit`.
    pub async fn audit_log(
        &self,
        tenant: Option<Id>,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, actor, action, target, at FROM audit_log \
             WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get("id"),
                tenant_id: r.get("tenant_id"),
                actor: r.get("actor"),
                action: r.get("action"),
                target: r.get("target"),
                at: r.get("at"),
            })
            .collect())
    }
}

//! Tenants and their API keys. Keys are random 256-bit tokens, so a SHA-256
//! of the key is a safe, fast lookup hash (no password stretching needed).

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Id, Store, StoreResult, now_ms};
use crate::domain::send_window::Hours;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: Id,
    pub name: String,
    pub timezone: String,
    /// ISO country assumed for numbers written without a country code.
    pub default_region: Option<String>,
    /// Off: the tenant's campaign endpoints answer 403 (an admin switch).
    pub campaigns_enabled: bool,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Messages go out only between these hours in each contact's local
    /// time (default 08:00-21:00); a campaign may override them.
    pub quiet_hours: Hours,
    /// A member whose address any campaign of the tenant sent to within
    /// this many hours is not sent (`duplicate_outreach`); 0 = off.
    pub duplicate_window_hours: i64,
    /// A contact active in one live campaign is not enrolled in another
    /// (`active_in_other_campaign`); on for new tenants (seed 003's rule).
    pub one_campaign_per_contact: bool,
}

/// Its secret's value stays out of logs and panic messages.
impl std::fmt::Debug for ReplySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySettings")
            .field("reply_url", &self.reply_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[sealed]"),
            )
            .finish()
    }
}

/// Where the tenant's inbound replies are forwarded, and the key signing them.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ReplySettings {
    pub reply_url: Option<String>,
    /// HMAC-SHA256 key of the `X-Herald-Signature` header on forwarded replies.
    pub webhook_secret: Option<String>,
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Store {
    pub async fn create_tenant(&self, name: &str, api_key: &str) -> StoreResult<Tenant> {
        let now = now_ms();
        let id: Id = sqlx::query_scalar(
            "INSERT INTO tenants (name, api_key_hash, created_at, one_campaign_per_contact) \
             VALUES ($1, $2, $3, 1) RETURNING id",
        )
        .bind(name)
        .bind(hash_key(api_key))
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(Tenant {
            id,
            name: name.to_owned(),
            timezone: "UTC".into(),
            default_region: None,
            campaigns_enabled: true,
            created_at: now,
            quiet_hours: Hours {
                start: "08:00".into(),
                end: "21:00".into(),
            },
            duplicate_window_hours: 0,
            one_campaign_per_contact: true,
        })
    }

    pub async fn tenant_by_key(&self, api_key: &str) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(
            "SELECT id, name, timezone, created_at, default_region, campaigns_enabled, \
             quiet_hours_start, quiet_hours_end, duplicate_window_hours, one_campaign_per_contact \
             FROM tenants WHERE api_key_hash = $1",
        )
        .bind(hash_key(api_key))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| tenant_from_row(&r)))
    }

    /// Changes a tenant's own settings; `None` leaves a value as it is.
    pub async fn update_tenant_settings(
        &self,
        id: Id,
        timezone: Option<&str>,
        default_region: Option<&str>,
        quiet_hours: Option<&Hours>,
        duplicate_window_hours: Option<i64>,
        one_campaign_per_contact: Option<bool>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE tenants SET timezone = COALESCE($1, timezone), \
             default_region = COALESCE($2, default_region), \
             quiet_hours_start = COALESCE($3, quiet_hours_start), \
             quiet_hours_end = COALESCE($4, quiet_hours_end), \
             duplicate_window_hours = COALESCE($5, duplicate_window_hours), \
             one_campaign_per_contact = COALESCE($6, one_campaign_per_contact) WHERE id = $7",
        )
        .bind(timezone)
        .bind(default_region)
        .bind(quiet_hours.map(|h| h.start.as_str()))
        .bind(quiet_hours.map(|h| h.end.as_str()))
        .bind(duplicate_window_hours)
        .bind(one_campaign_per_contact.map(i64::from))
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Sets (or clears) where replies are forwarded. A tenant gets its
    /// webhook secret the first time it sets an endpoint; `rotate` replaces it.
    pub async fn set_reply_endpoint(
        &self,
        tenant: Id,
        url: Option<&str>,
        new_secret: &str,
        rotate: bool,
    ) -> StoreResult<ReplySettings> {
        sqlx::query(
            "UPDATE tenants SET reply_url = $1, webhook_secret = CASE \
             WHEN $2 OR webhook_secret IS NULL THEN $3 ELSE webhook_secret END WHERE id = $4",
        )
        .bind(url)
        .bind(rotate)
        .bind(self.seal_value(new_secret))
        .bind(tenant)
        .execute(&self.writer)
        .await?;
        self.reply_settings(tenant).await
    }

    pub async fn reply_settings(&self, tenant: Id) -> StoreResult<ReplySettings> {
        let row = sqlx::query("SELECT reply_url, webhook_secret FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(&self.pool)
            .await?;
        Ok(ReplySettings {
            reply_url: row.get("reply_url"),
            webhook_secret: self.open_value(row.get("webhook_secret"))?,
        })
    }

    /// The tenant's campaigns that send or are about to (running, retrying,
    /// waiting for their sender, or stopped by a fault that may clear).
    pub async fn sending_campaigns(&self, tenant: Id) -> StoreResult<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE tenant_id = $1 \
             AND status IN ('running', 'retrying', 'pending', 'stopped') ORDER BY id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Admin: switches campaigns on or off for a tenant.
    pub async fn set_campaigns_enabled(&self, id: Id, enabled: bool) -> StoreResult<()> {
        let changed = sqlx::query("UPDATE tenants SET campaigns_enabled = $1 WHERE id = $2")
            .bind(enabled as i64)
            .bind(id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(super::StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(tenant_from_row).collect())
    }

    /// Admin: one tenant by id.
    pub async fn tenant(&self, id: Id) -> StoreResult<Tenant> {
        let row = sqlx::query(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(super::StoreError::NotFound)?;
        Ok(tenant_from_row(&row))
    }
}

const TENANT_COLUMNS: &str = "id, name, timezone, created_at, default_region, \
    campaigns_enabled, quiet_hours_start, quiet_hours_end, duplicate_window_hours, \
    one_campaign_per_contact";

fn tenant_from_row(r: &sqlx::any::AnyRow) -> Tenant {
    Tenant {
        id: r.get(0),
        name: r.get(1),
        timezone: r.get(2),
        created_at: r.get(3),
        default_region: r.get(4),
        campaigns_enabled: r.get::<i64, _>(5) != 0,
        quiet_hours: Hours {
            start: r.get(6),
            end: r.get(7),
        },
        duplicate_window_hours: r.get(8),
        one_campaign_per_contact: r.get::<i64, _>(9) != 0,
    }
}

//! Channels: a plugin, its configuration, its secrets and a sender address.
//! Secrets are stored here and only ever read by the plugin runtime's host
//! imports; they are never returned by the API.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Channel {
    pub id: Id,
    #[serde(skip)]
    pub tenant_id: Id,
    pub name: String,
    pub plugin: String,
    pub sender: String,
    pub config: BTreeMap<String, String>,
    /// Names of the secrets set on the channel; values are never returned.
    #[serde(rename = "secrets")]
    pub secret_names: Vec<String>,
    #[serde(skip)]
    pub secrets: BTreeMap<String, String>,
    /// Hosts the plugin may call for this channel, replacing the manifest's list.
    pub allowed_hosts: Option<Vec<String>>,
    /// An installed version this channel uses instead of the active one.
    pub pinned_sha256: Option<String>,
    /// Messages per second its sender may send, shared by every campaign on
    /// the channel; `None`: the default for the kind of message.
    pub rate_per_second: Option<i64>,
    pub created_at: i64,
}

pub struct NewChannel {
    pub name: String,
    pub plugin: String,
    pub sender: String,
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub pinned_sha256: Option<String>,
    pub rate_per_second: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, name, plugin, sender, config_json, secrets_json, \
                       allowed_hosts_json, created_at, pinned_sha256, rate_per_second";

impl Store {
    pub async fn create_channel(&self, tenant: Id, new: NewChannel) -> StoreResult<Channel> {
        let now = now_ms();
        let id: Id = sqlx::query_scalar(
            "INSERT INTO channels (tenant_id, name, plugin, sender, config_json, secrets_json, \
             allowed_hosts_json, created_at, pinned_sha256, rate_per_second) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(tenant)
        .bind(&new.name)
        .bind(&new.plugin)
        .bind(&new.sender)
        .bind(to_json(&new.config))
        .bind(to_json(&new.secrets))
        .bind(new.allowed_hosts.as_ref().map(to_json))
        .bind(now)
        .bind(&new.pinned_sha256)
        .bind(new.rate_per_second)
        .fetch_one(&self.writer)
        .await?;
        Ok(Channel {
            id,
            tenant_id: tenant,
            name: new.name,
            plugin: new.plugin,
            sender: new.sender,
            secret_names: new.secrets.keys().cloned().collect(),
            config: new.config,
            secrets: new.secrets,
            allowed_hosts: new.allowed_hosts,
            pinned_sha256: new.pinned_sha256,
            rate_per_second: new.rate_per_second,
            created_at: now,
        })
    }

    /// Replaces a channel's settings (the API merges a patch into the
    /// current channel first). Sends pick the change up within a second.
    pub async fn update_channel(&self, tenant: Id, id: Id, c: &NewChannel) -> StoreResult<Channel> {
        let changed = sqlx::query(
            "UPDATE channels SET name = $1, plugin = $2, sender = $3, config_json = $4, \
             secrets_json = $5, allowed_hosts_json = $6, pinned_sha256 = $7, \
             rate_per_second = $10 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&c.name)
        .bind(&c.plugin)
        .bind(&c.sender)
        .bind(to_json(&c.config))
        .bind(to_json(&c.secrets))
        .bind(c.allowed_hosts.as_ref().map(to_json))
        .bind(&c.pinned_sha256)
        .bind(tenant)
        .bind(id)
        .bind(c.rate_per_second)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.channel(tenant, id).await
    }

    pub async fn channel(&self, tenant: Id, id: Id) -> StoreResult<Channel> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        channel_from_row(&row)
    }

    /// Unscoped lookup for webhooks, which arrive without a tenant key; the
    /// plugin's signature check is what authenticates them.
    pub async fn channel_for_webhook(&self, id: Id) -> StoreResult<Channel> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        channel_from_row(&row)
    }

    pub async fn list_channels(&self, tenant: Id) -> StoreResult<Vec<Channel>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps of strings serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
}

fn channel_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Channel> {
    let secrets: BTreeMap<String, String> = from_json(&r.get::<String, _>(6))?;
    let allowed: Option<String> = r.get(7);
    Ok(Channel {
        id: r.get(0),
        tenant_id: r.get(1),
        name: r.get(2),
        plugin: r.get(3),
        sender: r.get(4),
        config: from_json(&r.get::<String, _>(5))?,
        secret_names: secrets.keys().cloned().collect(),
        secrets,
        allowed_hosts: allowed.as_deref().map(from_json).transpose()?,
        created_at: r.get(8),
        pinned_sha256: r.get(9),
        rate_per_second: r.get(10),
    })
}

//! Channels: a plugin, its configuration, its secrets and a sender address.
//! Secrets are stored here and only ever read by the plugin runtime's host
//! imports; they are never returned by the API.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};

#[derive(Clone, Serialize, utoipa::ToSchema)]
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
    /// Shared: every send's call context takes them (a copy per send was
    /// a measured cost of the send path).
    #[serde(skip)]
    pub secrets: Arc<BTreeMap<String, String>>,
    /// Hosts the plugin may call for this channel, replacing the manifest's list.
    pub allowed_hosts: Option<Vec<String>>,
    /// An installed version this channel uses instead of the active one.
    pub pinned_sha256: Option<String>,
    /// Messages per second its sender may send, shared by every campaign on
    /// the channel; `None`: the default for the kind of message.
    pub rate_per_second: Option<i64>,
    /// Counts edits of what a send goes out with (plugin, version pin,
    /// sender, configuration, secrets, allowed hosts). Each send records the
    /// revision it used; its callbacks and lookups use that revision's
    /// settings (see `channel_revisions`).
    pub revision: i64,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// Written out by hand so that a channel in a log line or a panic message
/// shows its secrets' names, never their values.
impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("sender", &self.sender)
            .field("config", &self.config)
            .field("secrets", &self.secret_names)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("pinned_sha256", &self.pinned_sha256)
            .field("rate_per_second", &self.rate_per_second)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
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

pub(super) const COLUMNS: &str = "id, tenant_id, name, plugin, sender, config_json, \
    secrets_json, allowed_hosts_json, created_at, pinned_sha256, rate_per_second, revision";

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
        .bind(self.seal_secrets(&new.secrets))
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
            secrets: Arc::new(new.secrets),
            allowed_hosts: new.allowed_hosts,
            pinned_sha256: new.pinned_sha256,
            rate_per_second: new.rate_per_second,
            revision: 1,
            created_at: now,
        })
    }

    /// Replaces a channel's settings (the API merges a patch into the
    /// current channel first). Sends pick the change up within a second.
    /// A change to what a send goes out with keeps the replaced settings as
    /// a revision, for the callbacks and lookups of the sends they made.
    pub async fn update_channel(&self, tenant: Id, id: Id, c: &NewChannel) -> StoreResult<Channel> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = self.channel_from_row(&row)?;
        let sends_differently = current.plugin != c.plugin
            || current.pinned_sha256 != c.pinned_sha256
            || current.sender != c.sender
            || current.config != c.config
            || *current.secrets != c.secrets
            || current.allowed_hosts != c.allowed_hosts;
        if sends_differently {
            // Wall-clock, as the send start it is compared with.
            let sealed = self.seal_secrets(&current.secrets);
            super::channel_revisions::keep(&mut tx, &current, &sealed, crate::clock::real_now_ms())
                .await?;
        }
        sqlx::query(
            "UPDATE channels SET name = $1, plugin = $2, sender = $3, config_json = $4, \
             secrets_json = $5, allowed_hosts_json = $6, pinned_sha256 = $7, \
             rate_per_second = $10, revision = $11 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&c.name)
        .bind(&c.plugin)
        .bind(&c.sender)
        .bind(to_json(&c.config))
        .bind(self.seal_secrets(&c.secrets))
        .bind(c.allowed_hosts.as_ref().map(to_json))
        .bind(&c.pinned_sha256)
        .bind(tenant)
        .bind(id)
        .bind(c.rate_per_second)
        .bind(current.revision + sends_differently as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
        self.channel_from_row(&row)
    }

    /// Unscoped lookup for webhooks, which arrive without a tenant key; the
    /// plugin's signature check is what authenticates them.
    pub async fn channel_for_webhook(&self, id: Id) -> StoreResult<Channel> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.channel_from_row(&row)
    }

    pub async fn list_channels(&self, tenant: Id) -> StoreResult<Vec<Channel>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channels WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.channel_from_row(r)).collect()
    }
}

pub(super) fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps of strings serialise")
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
}

impl Store {
    pub(super) fn channel_from_row(&self, r: &sqlx::any::AnyRow) -> StoreResult<Channel> {
        let secrets = self.open_secrets(&r.get::<String, _>("secrets_json"))?;
        let allowed: Option<String> = r.get("allowed_hosts_json");
        Ok(Channel {
            id: r.get("id"),
            tenant_id: r.get("tenant_id"),
            name: r.get("name"),
            plugin: r.get("plugin"),
            sender: r.get("sender"),
            config: from_json(&r.get::<String, _>("config_json"))?,
            secret_names: secrets.keys().cloned().collect(),
            secrets: Arc::new(secrets),
            allowed_hosts: allowed.as_deref().map(from_json).transpose()?,
            created_at: r.get("created_at"),
            pinned_sha256: r.get("pinned_sha256"),
            rate_per_second: r.get("rate_per_second"),
            revision: r.get("revision"),
        })
    }
}

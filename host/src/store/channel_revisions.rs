//! A channel's earlier settings. A provider switch (or any edit of what a
//! send goes out with) applies to the sends not yet called; the sends
//! already made keep the plugin, version and configuration they used: each
//! member records the revision and plugin version of its send, and the
//! receipts and lookups for it are handled with that revision's settings.

use std::sync::Arc;

use sqlx::Row;

use super::channels::{COLUMNS, from_json, to_json};
use super::{Id, Store, StoreError, StoreResult};
use crate::store::Channel;

/// What a send went out with, recorded on its member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentWith {
    pub channel_revision: i64,
    pub plugin_sha256: String,
}

/// Keeps `current`'s settings as its revision, about to be replaced.
pub(super) async fn keep(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    current: &Channel,
    sealed_secrets: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_revisions (channel_id, revision, plugin, pinned_sha256, sender, \
         config_json, secrets_json, allowed_hosts_json, replaced_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(current.id)
    .bind(current.revision)
    .bind(&current.plugin)
    .bind(&current.pinned_sha256)
    .bind(&current.sender)
    .bind(to_json(&current.config))
    .bind(sealed_secrets)
    .bind(current.allowed_hosts.as_ref().map(to_json))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const REVISION_COLUMNS: &str = "revision, plugin, pinned_sha256, sender, config_json, \
                                secrets_json, allowed_hosts_json";

/// `current` with an earlier revision's settings in place of its own (name
/// and rate stay the channel's: they do not change what a send was).
fn overlay(store: &Store, current: &Channel, r: &sqlx::any::AnyRow) -> StoreResult<Channel> {
    let secrets = store.open_secrets(&r.get::<String, _>("secrets_json"))?;
    let allowed: Option<String> = r.get("allowed_hosts_json");
    Ok(Channel {
        revision: r.get("revision"),
        plugin: r.get("plugin"),
        pinned_sha256: r.get("pinned_sha256"),
        sender: r.get("sender"),
        config: from_json(&r.get::<String, _>("config_json"))?,
        secret_names: secrets.keys().cloned().collect(),
        secrets: Arc::new(secrets),
        allowed_hosts: allowed.as_deref().map(from_json).transpose()?,
        ..current.clone()
    })
}

impl Store {
    /// The channel as it was at `revision` (the current settings when that
    /// is the current revision).
    pub async fn channel_at_revision(
        &self,
        tenant: Id,
        id: Id,
        revision: i64,
    ) -> StoreResult<Channel> {
        let current = self.channel(tenant, id).await?;
        if current.revision == revision {
            return Ok(current);
        }
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM channel_revisions \
             WHERE channel_id = $1 AND revision = $2"
        ))
        .bind(id)
        .bind(revision)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        overlay(self, &current, &row)
    }

    /// The revision whose settings a send begun at `at_ms` used: the oldest
    /// one replaced after it, or the current one. For sends whose outcome
    /// was never written (a crash during the call).
    pub async fn channel_revision_at(&self, tenant: Id, id: Id, at_ms: i64) -> StoreResult<i64> {
        let current = self.channel(tenant, id).await?;
        let earlier: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(revision) FROM channel_revisions WHERE channel_id = $1 AND replaced_at > $2",
        )
        .bind(id)
        .bind(at_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(earlier.unwrap_or(current.revision))
    }

    /// A channel's revisions replaced since `since_ms`, newest first (at
    /// most `limit`): a webhook the current plugin refuses may be a
    /// callback for a send made before a switch.
    pub async fn earlier_revisions(
        &self,
        id: Id,
        since_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<Channel>> {
        let Some(row) = sqlx::query(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(Vec::new());
        };
        let current = self.channel_from_row(&row)?;
        let rows = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM channel_revisions \
             WHERE channel_id = $1 AND replaced_at >= $2 ORDER BY revision DESC LIMIT $3"
        ))
        .bind(id)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| overlay(self, &current, r)).collect()
    }
}

//! The stored secrets (channel secrets, earlier revisions' secrets, reply
//! webhook secrets) as sealed values (`crate::sealing`): sealed on write,
//! opened on read, checked at start, and sealed again under a new key by
//! `herald secrets rotate`.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::Row;

use super::channels::{from_json, to_json};
use super::{Id, Store, StoreResult};
use crate::sealing::Keyring;

/// One stored secret: where it is and its stored text.
struct StoredSecret {
    place: Place,
    stored: String,
}

/// Which row and column a stored secret lives in.
#[derive(Debug)]
enum Place {
    Channel(Id),
    Revision { channel: Id, revision: i64 },
    ReplyWebhook { tenant: Id },
}

impl Place {
    fn update_sql(&self) -> &'static str {
        match self {
            Self::Channel(_) => "UPDATE channels SET secrets_json = $1 WHERE id = $2",
            Self::Revision { .. } => {
                "UPDATE channel_revisions SET secrets_json = $1 WHERE channel_id = $2 AND revision = $3"
            }
            Self::ReplyWebhook { .. } => "UPDATE tenants SET webhook_secret = $1 WHERE id = $2",
        }
    }
}

/// What a pass over the stored secrets did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SealCounts {
    /// Sealed now: stored in clear before sealing existed.
    pub sealed_from_clear: usize,
    /// Sealed again under the sealing key (rotation).
    pub resealed: usize,
    /// Already sealed under the sealing key.
    pub unchanged: usize,
}

impl Store {
    /// A channel's secrets as they are stored: sealed JSON.
    pub(super) fn seal_secrets(&self, secrets: &BTreeMap<String, String>) -> String {
        self.keys.seal(&to_json(secrets))
    }

    /// A channel's secrets from their stored form.
    pub(super) fn open_secrets(&self, stored: &str) -> StoreResult<BTreeMap<String, String>> {
        from_json(&self.keys.open(stored)?)
    }

    /// A reply webhook secret as stored.
    pub(super) fn seal_value(&self, value: &str) -> String {
        self.keys.seal(value)
    }

    /// A reply webhook secret from its stored form.
    pub(super) fn open_value(&self, stored: Option<String>) -> StoreResult<Option<String>> {
        Ok(stored.map(|s| self.keys.open(&s)).transpose()?)
    }

    /// At start: every stored secret opens with the key file (or the start
    /// fails, naming the key it needs); secrets stored in clear by an
    /// earlier version are sealed now.
    pub(super) async fn check_sealed_secrets(&self) -> anyhow::Result<()> {
        let counts = self.seal_stored(false).await?;
        if counts.sealed_from_clear > 0 {
            tracing::warn!(
                count = counts.sealed_from_clear,
                "secrets stored in clear by an earlier version are sealed now"
            );
        }
        Ok(())
    }

    /// Seals every stored secret again under the keyring's sealing key
    /// (after `sealing::put_new_key_first`), in one transaction.
    pub async fn reseal_secrets(&self) -> anyhow::Result<SealCounts> {
        self.seal_stored(true).await
    }

    async fn seal_stored(&self, reseal: bool) -> anyhow::Result<SealCounts> {
        let mut tx = self.write_tx().await?;
        let mut stored = Vec::new();
        for r in sqlx::query("SELECT id, secrets_json FROM channels")
            .fetch_all(&mut *tx)
            .await?
        {
            stored.push(StoredSecret {
                place: Place::Channel(r.get("id")),
                stored: r.get("secrets_json"),
            });
        }
        for r in sqlx::query("SELECT channel_id, revision, secrets_json FROM channel_revisions")
            .fetch_all(&mut *tx)
            .await?
        {
            stored.push(StoredSecret {
                place: Place::Revision {
                    channel: r.get("channel_id"),
                    revision: r.get("revision"),
                },
                stored: r.get("secrets_json"),
            });
        }
        for r in
            sqlx::query("SELECT id, webhook_secret FROM tenants WHERE webhook_secret IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?
        {
            stored.push(StoredSecret {
                place: Place::ReplyWebhook {
                    tenant: r.get("id"),
                },
                stored: r.get("webhook_secret"),
            });
        }
        let sealing_key = self.keys.sealing_key_id();
        let mut counts = SealCounts::default();
        for secret in stored {
            let plain = if Keyring::is_sealed(&secret.stored) {
                let plain = self.keys.open(&secret.stored).with_context(|| {
                    format!(
                        "the stored secret of {:?} does not open with the secrets key file \
                         (its sealing key is {sealing_key})",
                        secret.place
                    )
                })?;
                if !reseal || secret.stored.contains(&format!(":{sealing_key}:")) {
                    counts.unchanged += 1;
                    continue;
                }
                counts.resealed += 1;
                plain
            } else {
                counts.sealed_from_clear += 1;
                secret.stored
            };
            let sealed = self.keys.seal(&plain);
            let q = sqlx::query(secret.place.update_sql()).bind(sealed);
            let q = match secret.place {
                Place::Channel(id) => q.bind(id),
                Place::Revision { channel, revision } => q.bind(channel).bind(revision),
                Place::ReplyWebhook { tenant } => q.bind(tenant),
            };
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

//! The plugin registry's persistent state: installed versions (bytes, in
//! `plugin_wasm`, and manifest, keyed by sha256) and the active version per
//! plugin name (its canaries: `plugin_canaries`).

use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};

/// An installed plugin version, without its bytes.
#[derive(Clone, Debug)]
pub struct PluginVersionRow {
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub world: String,
    pub manifest_json: String,
    pub size: i64,
    pub installed_at: i64,
}

/// Which version of a plugin name is active.
#[derive(Clone, Debug)]
pub struct PluginStateRow {
    pub name: String,
    pub active_sha256: Option<String>,
    pub previous_sha256: Option<String>,
    pub quarantine_reason: Option<String>,
    /// This plugin's CPU budget per call, set by an admin (`None`: the
    /// server's default).
    pub cpu_budget_ms: Option<i64>,
}

/// A version to store.
pub struct NewPluginVersion<'a> {
    pub sha256: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub world: &'a str,
    pub manifest_json: &'a str,
    pub wasm: &'a [u8],
    /// Its verified signature, stored in the same transaction.
    pub signature: Option<super::NewPluginSignature<'a>>,
}

impl Store {
    /// Stores a version (idempotent: the same bytes are stored once) and
    /// its signature, if it has one.
    pub async fn put_plugin_version(&self, v: NewPluginVersion<'_>) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        // The row first, its bytes only where this transaction added it:
        // every start installs the bundled plugins again, and two
        // instances may install the same version at once.
        let added = sqlx::query(
            "INSERT INTO plugin_versions (sha256, name, version, world, manifest_json, wasm, \
             size, installed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(v.sha256)
        .bind(v.name)
        .bind(v.version)
        .bind(v.world)
        .bind(v.manifest_json)
        // The bytes go in pieces (see `plugin_wasm`).
        .bind(Vec::<u8>::new())
        .bind(v.wasm.len() as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if added {
            super::plugin_wasm::put_chunks(&mut tx, v.sha256, v.wasm).await?;
        }
        if let Some(signature) = &v.signature {
            super::plugin_trust::put_signature(&mut tx, v.sha256, signature).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn plugin_versions(&self) -> StoreResult<Vec<PluginVersionRow>> {
        let rows = sqlx::query(
            "SELECT sha256, name, version, world, manifest_json, size, installed_at \
             FROM plugin_versions ORDER BY name, installed_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PluginVersionRow {
                sha256: r.get(0),
                name: r.get(1),
                version: r.get(2),
                world: r.get(3),
                manifest_json: r.get(4),
                size: r.get(5),
                installed_at: r.get(6),
            })
            .collect())
    }

    pub async fn plugin_states(&self) -> StoreResult<Vec<PluginStateRow>> {
        let rows = sqlx::query(
            "SELECT name, active_sha256, previous_sha256, quarantine_reason, cpu_budget_ms \
             FROM plugins ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(state_from_row).collect())
    }

    /// Sets (or, with `None`, clears) a plugin's own CPU budget per call.
    pub async fn set_plugin_cpu_budget(&self, name: &str, ms: Option<i64>) -> StoreResult<()> {
        let changed = sqlx::query("UPDATE plugins SET cpu_budget_ms = $1 WHERE name = $2")
            .bind(ms)
            .bind(name)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn plugin_state(&self, name: &str) -> StoreResult<Option<PluginStateRow>> {
        let row = sqlx::query(
            "SELECT name, active_sha256, previous_sha256, quarantine_reason, cpu_budget_ms \
             FROM plugins WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(state_from_row))
    }

    /// Makes `sha256` the active version of `name`, recorded as its newest
    /// activation (what a later rollback returns from). Clears a
    /// quarantine.
    pub async fn activate_plugin(&self, name: &str, sha256: &str) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        super::plugin_canaries::end_running_on_activation(&mut tx, name, sha256, now).await?;
        record_activation(&mut tx, name, sha256, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rollback: the current activation is marked rolled back and the
    /// newest one below it that names another version becomes active
    /// again; a disabled plugin gets its last active version back. Answers
    /// the version now active, or `None` when there is nothing to return to.
    pub async fn roll_back_plugin(&self, name: &str) -> StoreResult<Option<String>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let active: Option<Option<String>> =
            sqlx::query_scalar("SELECT active_sha256 FROM plugins WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(active) = active else {
            return Err(StoreError::NotFound);
        };
        let stack: Vec<(Id, String)> = sqlx::query(
            "SELECT id, sha256 FROM plugin_activations WHERE name = $1 AND rolled_back = 0 \
             ORDER BY id DESC",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| (r.get("id"), r.get("sha256")))
        .collect();
        let target = match &active {
            // Disabled: back to what was active.
            None => stack.first().map(|(_, sha)| sha.clone()),
            Some(current) => {
                let below = stack.iter().position(|(_, sha)| sha != current);
                if let Some(below) = below {
                    // Every activation above it (the current one, and any
                    // repeat of it) is rolled back.
                    for (id, _) in &stack[..below] {
                        sqlx::query("UPDATE plugin_activations SET rolled_back = 1 WHERE id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                below.map(|i| stack[i].1.clone())
            }
        };
        let Some(target) = target else {
            tx.rollback().await?;
            return Ok(None);
        };
        set_active(&mut tx, name, &target, now).await?;
        super::plugin_canaries::end_running_on_activation(&mut tx, name, &target, now).await?;
        tx.commit().await?;
        Ok(Some(target))
    }

    /// No active version: channels on this plugin cannot send until one is
    /// activated (their campaigns pause with the reason).
    /// A running canary ends with it (aborted).
    pub async fn disable_plugin(&self, name: &str) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE plugins SET previous_sha256 = COALESCE(active_sha256, previous_sha256), \
             active_sha256 = NULL, updated_at = $1 WHERE name = $2",
        )
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        super::plugin_canaries::end_running(
            &mut tx,
            name,
            super::plugin_canaries::CanaryEnd::Aborted,
            "the plugin was disabled",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn quarantine_plugin(&self, name: &str, reason: &str) -> StoreResult<()> {
        sqlx::query("UPDATE plugins SET quarantine_reason = $1, updated_at = $2 WHERE name = $3")
            .bind(reason)
            .bind(now_ms())
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Tells other instances sharing the database that a plugin's state
    /// changed (PostgreSQL NOTIFY; a single SQLite process needs nothing).
    pub async fn notify_plugins_changed(&self, name: &str) -> StoreResult<()> {
        if self.backend == super::Backend::Postgres {
            sqlx::query("SELECT pg_notify('herald_plugins', $1)::text")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Channel ids per plugin name (which channels use which plugin).
    pub async fn channels_by_plugin(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT plugin, id FROM channels ORDER BY plugin, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// Makes `sha256` the plugin's active version and records the activation
/// (what a later rollback walks back from).
pub(super) async fn record_activation(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    sha256: &str,
    now: i64,
) -> StoreResult<()> {
    set_active(tx, name, sha256, now).await?;
    sqlx::query("INSERT INTO plugin_activations (name, sha256, activated_at) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(sha256)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The plugin's active version (the previous one kept for display).
async fn set_active(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    sha256: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO plugins (name, active_sha256, previous_sha256, quarantine_reason, updated_at) \
         VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (name) DO UPDATE SET \
         previous_sha256 = CASE WHEN plugins.active_sha256 = excluded.active_sha256 \
           THEN plugins.previous_sha256 ELSE COALESCE(plugins.active_sha256, plugins.previous_sha256) END, \
         active_sha256 = excluded.active_sha256, quarantine_reason = NULL, \
         updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(sha256)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn state_from_row(r: &sqlx::any::AnyRow) -> PluginStateRow {
    PluginStateRow {
        name: r.get(0),
        active_sha256: r.get(1),
        previous_sha256: r.get(2),
        quarantine_reason: r.get(3),
        cpu_budget_ms: r.get(4),
    }
}

/// Names of plugins changed by other instances, as PostgreSQL announces
/// them. Reconnects on its own; `None` for SQLite (one process).
pub async fn listen_plugin_changes(
    store: &Store,
    url: &str,
) -> anyhow::Result<Option<tokio::sync::mpsc::Receiver<String>>> {
    if store.backend != super::Backend::Postgres {
        return Ok(None);
    }
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen("herald_plugins").await?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(n) => {
                    if tx.send(n.payload().to_owned()).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "plugin change listener interrupted; reconnecting");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(Some(rx))
}

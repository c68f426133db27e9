//! Canary versions of plugins in the database: one row per canary, the
//! running one routed by every instance, the ended ones kept with how and
//! why they ended. Promotion is an activation (same statements, same
//! transaction as the canary's end), and any other activation, rollback or
//! disable ends the running canary, whose comparison it voids.

use sqlx::FromRow;

use super::{Id, Store, StoreError, StoreResult, now_ms};

/// How a canary ended (`state` in the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryEnd {
    /// The judge found it worse than the active version.
    RolledBack,
    /// It became the active version.
    Promoted,
    /// An admin ended it, or the active version changed under it.
    Aborted,
    /// A newer canary of the same plugin took its place.
    Replaced,
}

impl CanaryEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RolledBack => "rolled_back",
            Self::Promoted => "promoted",
            Self::Aborted => "aborted",
            Self::Replaced => "replaced",
        }
    }
}

/// A canary as stored.
#[derive(Clone, Debug, FromRow)]
pub struct CanaryRow {
    pub id: Id,
    /// The plugin's name.
    pub name: String,
    /// The canary version.
    pub sha256: String,
    /// The version active when it started: what it is compared with.
    pub baseline_sha256: String,
    /// The share of members it sends for (1-99), or
    pub percent: Option<i64>,
    /// the tenants whose sends it takes (a JSON array of ids).
    pub tenants_json: Option<String>,
    /// `running`, or how it ended ([`CanaryEnd`]).
    pub state: String,
    pub reason: Option<String>,
    /// The judgement it ended on (JSON), when it had one.
    pub figures_json: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

impl CanaryRow {
    /// The tenants it routes, if it routes by tenant.
    pub fn tenants(&self) -> Option<Vec<Id>> {
        self.tenants_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
    }
}

/// A version of a plugin.
#[derive(Clone, Debug, FromRow)]
pub struct NamedVersion {
    pub name: String,
    pub sha256: String,
}

/// A canary to start.
pub struct NewCanary<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
    pub baseline_sha256: &'a str,
    pub percent: Option<i64>,
    pub tenants: Option<&'a [Id]>,
}

const COLUMNS: &str = "id, name, sha256, baseline_sha256, percent, tenants_json, state, reason, \
    figures_json, started_at, ended_at";

impl Store {
    /// Starts a canary; a running one of the same plugin ends as replaced
    /// (in the same transaction, so there is never none or two).
    pub async fn start_canary(&self, c: NewCanary<'_>) -> StoreResult<Id> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        end_running(
            &mut tx,
            c.name,
            CanaryEnd::Replaced,
            "replaced by a newer canary",
            now,
        )
        .await?;
        let tenants = c
            .tenants
            .map(|t| serde_json::to_string(t).expect("ids serialise"));
        let id = sqlx::query_scalar(
            "INSERT INTO plugin_canaries (name, sha256, baseline_sha256, percent, tenants_json, \
             state, started_at) VALUES ($1, $2, $3, $4, $5, 'running', $6) RETURNING id",
        )
        .bind(c.name)
        .bind(c.sha256)
        .bind(c.baseline_sha256)
        .bind(c.percent)
        .bind(tenants)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id: Id = match id {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "another canary of {} started at the same moment",
                    c.name
                )));
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(id)
    }

    /// Every running canary (at most one per plugin).
    pub async fn running_canaries(&self) -> StoreResult<Vec<CanaryRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM plugin_canaries WHERE state = 'running' ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Each plugin's newest canary, running or ended.
    pub async fn latest_canaries(&self) -> StoreResult<Vec<CanaryRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM plugin_canaries c WHERE id = \
             (SELECT MAX(id) FROM plugin_canaries l WHERE l.name = c.name) ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every version that was ever a canary: their sends' callbacks and
    /// lookups are answered by them.
    pub async fn canary_versions(&self) -> StoreResult<Vec<NamedVersion>> {
        Ok(
            sqlx::query_as("SELECT DISTINCT name, sha256 FROM plugin_canaries ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Ends canary `id` if it still runs; `false` when it had ended
    /// already (another instance's judge, or an admin, was first).
    pub async fn end_canary(
        &self,
        id: Id,
        how: CanaryEnd,
        reason: &str,
        figures_json: Option<&str>,
    ) -> StoreResult<bool> {
        let ended = sqlx::query(
            "UPDATE plugin_canaries SET state = $1, reason = $2, figures_json = $3, ended_at = $4 \
             WHERE id = $5 AND state = 'running'",
        )
        .bind(how.as_str())
        .bind(reason)
        .bind(figures_json)
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(ended == 1)
    }

    /// Makes running canary `id` its plugin's active version, recorded as
    /// an activation like any other, in one transaction. `None` when it no
    /// longer runs.
    pub async fn promote_canary(
        &self,
        id: Id,
        reason: &str,
        figures_json: Option<&str>,
    ) -> StoreResult<Option<NamedVersion>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let promoted: Option<NamedVersion> = sqlx::query_as(
            "UPDATE plugin_canaries SET state = 'promoted', reason = $1, figures_json = $2, \
             ended_at = $3 WHERE id = $4 AND state = 'running' RETURNING name, sha256",
        )
        .bind(reason)
        .bind(figures_json)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(promoted) = promoted else {
            tx.rollback().await?;
            return Ok(None);
        };
        super::plugins::record_activation(&mut tx, &promoted.name, &promoted.sha256, now).await?;
        tx.commit().await?;
        Ok(Some(promoted))
    }
}

/// Ends `name`'s running canary, if any, inside a transaction that changes
/// its plugin's active version (or starts another canary).
pub(super) async fn end_running(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    how: CanaryEnd,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE plugin_canaries SET state = $1, reason = $2, ended_at = $3 \
         WHERE name = $4 AND state = 'running'",
    )
    .bind(how.as_str())
    .bind(reason)
    .bind(now)
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// After `name`'s active version became `sha256` by an activation or a
/// rollback: a canary of that very version counts as promoted, any other
/// is aborted (it was compared with a version no longer active).
pub(super) async fn end_running_on_activation(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    sha256: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE plugin_canaries SET \
           state = CASE WHEN sha256 = $1 THEN 'promoted' ELSE 'aborted' END, \
           reason = CASE WHEN sha256 = $1 THEN 'activated by an admin' \
             ELSE 'the active version changed to ' || $1 END, \
           ended_at = $2 \
         WHERE name = $3 AND state = 'running'",
    )
    .bind(sha256)
    .bind(now)
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

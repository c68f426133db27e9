//! Herald processes sharing the database: each writes a heartbeat, and
//! counts the others by theirs. Wall-clock time, not the business clock:
//! liveness is about real seconds, whatever the test clock says.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Store, StoreResult};

/// An instance not seen for this long is gone.
pub const INSTANCE_STALE_MS: i64 = 5_000;
/// Rows of instances gone this long are deleted.
const FORGET_AFTER_MS: i64 = 3_600_000;

pub(super) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Store {
    /// Records that `instance` is alive and answers how many instances are
    /// (itself included).
    pub async fn heartbeat(&self, instance: &str) -> StoreResult<u32> {
        let now = wall_ms();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO herald_instances (instance_id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (instance_id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(instance)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM herald_instances WHERE seen_at < $1")
            .bind(now - FORGET_AFTER_MS)
            .execute(&mut *tx)
            .await?;
        let live: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM herald_instances WHERE seen_at > $1")
                .bind(now - INSTANCE_STALE_MS)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(u32::try_from(live).unwrap_or(u32::MAX).max(1))
    }
}

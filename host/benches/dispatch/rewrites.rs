//! How `members` rows were rewritten during a run on PostgreSQL: in place
//! (HOT, no index entry written) or as a new version with an entry in
//! every index of the table. Migration 0036 exists to make the start of a
//! call and its delivery receipt the former.

use std::time::{Duration, Instant};

use sqlx::Connection;

/// Rows of `members` updated, and of those in place, so far.
#[derive(Clone, Copy, Default)]
pub struct Rewrites {
    pub updated: i64,
    pub in_place: i64,
}

impl Rewrites {
    pub fn since(self, before: Rewrites) -> Rewrites {
        Rewrites {
            updated: self.updated - before.updated,
            in_place: self.in_place - before.in_place,
        }
    }
}

/// The server's counters for `members` (`None` on SQLite). Backends
/// report their counts about once a second, and when idle a little
/// later: the counters are read until they hold still for two seconds
/// (at most 15).
pub async fn of_members(database_url: &str) -> Option<Rewrites> {
    if !database_url.starts_with("postgres") {
        return None;
    }
    let mut conn = sqlx::PgConnection::connect(database_url).await.ok()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last: Option<(i64, i64)> = None;
    loop {
        // A new snapshot of the statistics for each read.
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut conn)
            .await
            .ok()?;
        let now: (i64, i64) = sqlx::query_as(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'members'",
        )
        .fetch_one(&mut conn)
        .await
        .ok()?;
        if last == Some(now) || Instant::now() > deadline {
            return Some(Rewrites {
                updated: now.0,
                in_place: now.1,
            });
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

//! Each campaign's member counts by channel and status (migration 0030),
//! kept by triggers on every write to `members` so that progress reads a
//! few rows instead of counting a campaign's members. On PostgreSQL the
//! triggers append deltas (several writers at once never wait for a
//! shared counter); [`Store::fold_tallies`] folds them into
//! `member_tallies` every second. SQLite's triggers update the tallies in
//! place (one writer), and its deltas table stays empty.

use std::time::Duration;

use super::{Backend, Store, StoreResult};

/// Deltas folded per statement at most: a fold stays short however far
/// behind it is.
const FOLD_BATCH: i64 = 20_000;
/// How often the deltas are folded.
pub const FOLD_EVERY: Duration = Duration::from_secs(1);

/// The tally rows of the campaigns `filter` selects (a condition on
/// `campaign_id`), folded or not, as a subquery aliased `t` with columns
/// campaign_id, channel_key, status, members, sent, replied, opted_out.
pub(super) fn tally_rows(filter: &str) -> String {
    const COLUMNS: &str = "campaign_id, channel_key, status, members, sent, replied, opted_out";
    format!(
        "(SELECT {COLUMNS} FROM member_tallies WHERE {filter} \
         UNION ALL SELECT {COLUMNS} FROM member_tally_deltas WHERE {filter}) t"
    )
}

impl Store {
    /// Folds up to [`FOLD_BATCH`] deltas into the tallies; the number of
    /// tally rows written. Deltas another instance is folding are skipped, and the
    /// tallies are written in key order, so folds never deadlock.
    pub async fn fold_tallies(&self) -> StoreResult<u64> {
        if self.backend() != Backend::Postgres {
            return Ok(0);
        }
        let folded = sqlx::query(
            "WITH moved AS (DELETE FROM member_tally_deltas WHERE id IN \
               (SELECT id FROM member_tally_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
               RETURNING campaign_id, channel_key, status, members, sent, replied, opted_out) \
             INSERT INTO member_tallies AS t \
               (campaign_id, channel_key, status, members, sent, replied, opted_out) \
             SELECT campaign_id, channel_key, status, SUM(members), SUM(sent), SUM(replied), \
               SUM(opted_out) FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
             ON CONFLICT (campaign_id, channel_key, status) DO UPDATE SET \
               members = t.members + excluded.members, sent = t.sent + excluded.sent, \
               replied = t.replied + excluded.replied, \
               opted_out = t.opted_out + excluded.opted_out",
        )
        .bind(FOLD_BATCH)
        .execute(&self.writer)
        .await?;
        Ok(folded.rows_affected())
    }
}

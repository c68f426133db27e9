//! The query planner's statistics. Plans on the send path change with
//! them: SQLite analysed while `members` held a few dozen rows (a first
//! test campaign) plans a later 100,000-member campaign's outcome and
//! receipt batches as full scans of `members`, and PostgreSQL plans a
//! table that grew within minutes as the near-empty table it saw last.

use sqlx::FromRow;

use super::{Backend, Store, StoreResult};

/// SQLite always plans `members` as a table of at least this many rows:
/// a plan right for a large table is also right for a small one (an index
/// lookup on a few rows is as quick as a scan), but not the other way
/// round, and the statistics lag behind a campaign's start.
const MEMBERS_PLANNED_AT_LEAST: i64 = 1_000_000;

/// One index's line of `sqlite_stat1`: "rows, then rows per key prefix".
#[derive(FromRow)]
struct IndexStat {
    idx: Option<String>,
    stat: String,
}

impl Store {
    /// Refreshes SQLite's planner statistics where they are stale
    /// (`PRAGMA optimize`, cheap when nothing changed), at start, after
    /// large imports and campaign starts, and periodically. On PostgreSQL
    /// autovacuum does this, or Herald where it is off (`store::vacuum`).
    pub async fn optimize(&self) -> StoreResult<()> {
        if self.backend == Backend::Sqlite {
            // Bounded, as SQLite advises for long-lived connections.
            sqlx::query("PRAGMA analysis_limit = 1000")
                .execute(&self.writer)
                .await?;
            sqlx::query("PRAGMA optimize").execute(&self.writer).await?;
            self.plan_members_as_large().await?;
        }
        Ok(())
    }

    /// Refreshes the statistics of `members` after a large campaign start:
    /// until then the planner sees the table as it was before (often near
    /// empty) and plans the send path's and the members pages' queries for
    /// that.
    pub(super) async fn refresh_member_stats(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Postgres => self.analyze("members").await,
            Backend::Sqlite => {
                sqlx::query("PRAGMA analysis_limit = 1000")
                    .execute(&self.writer)
                    .await?;
                sqlx::query("ANALYZE members").execute(&self.writer).await?;
                self.plan_members_as_large().await
            }
        }
    }

    /// Refreshes PostgreSQL's planner statistics of `tables` (a list of
    /// table names) after they grew faster than autovacuum follows: a
    /// table that grew from empty within minutes still looks empty to the
    /// planner. SQLite's are kept by [`Store::optimize`].
    pub(super) async fn analyze(&self, tables: &str) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query(&format!("ANALYZE {tables}"))
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Raises the row count of `members`' statistics to
    /// [`MEMBERS_PLANNED_AT_LEAST`], keeping the rows per key (how selective
    /// each index is), and has SQLite read them again.
    async fn plan_members_as_large(&self) -> StoreResult<()> {
        let analysed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
                .fetch_one(&self.writer)
                .await?;
        if analysed == 0 {
            return Ok(());
        }
        let stats: Vec<IndexStat> =
            sqlx::query_as("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'members'")
                .fetch_all(&self.writer)
                .await?;
        let mut raised = 0;
        for s in stats {
            let Some(stat) = raised_row_count(&s.stat, MEMBERS_PLANNED_AT_LEAST) else {
                continue;
            };
            sqlx::query("UPDATE sqlite_stat1 SET stat = $1 WHERE tbl = 'members' AND idx IS $2")
                .bind(stat)
                .bind(s.idx)
                .execute(&self.writer)
                .await?;
            raised += 1;
        }
        if raised > 0 {
            // The planner reads sqlite_stat1 with the schema, not per query.
            sqlx::query("ANALYZE sqlite_schema")
                .execute(&self.writer)
                .await?;
            tracing::debug!(
                indexes = raised,
                "members planned as a large table whatever its statistics say"
            );
        }
        Ok(())
    }
}

/// `stat` ("rows per-prefix…" [options]) with its row count raised to
/// `floor`, or `None` if it is already at least that.
fn raised_row_count(stat: &str, floor: i64) -> Option<String> {
    let mut words = stat.split(' ');
    let rows: i64 = words.next()?.parse().ok()?;
    if rows >= floor {
        return None;
    }
    Some(
        std::iter::once(floor.to_string())
            .chain(words.map(str::to_owned))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::raised_row_count;

    #[test]
    fn a_small_tables_row_count_is_raised_and_its_selectivity_kept() {
        assert_eq!(
            raised_row_count("60 20 1", 1_000_000).as_deref(),
            Some("1000000 20 1")
        );
        assert_eq!(
            raised_row_count("60 60 1 unordered", 1_000).as_deref(),
            Some("1000 60 1 unordered")
        );
        assert_eq!(raised_row_count("2000000 20 1", 1_000_000), None);
        assert_eq!(raised_row_count("garbage", 10), None);
    }
}

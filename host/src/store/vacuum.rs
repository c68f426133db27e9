//! Vacuuming Herald's tables on a PostgreSQL server that does not do it
//! itself. A campaign rewrites each member several times (claimed, sending,
//! sent, delivered) and two of those updates cannot be HOT (the claim and
//! the outcome change indexed columns; migration 0036), so every message
//! leaves dead row versions and index entries behind. With `autovacuum = off` (a server setting an operator may have
//! chosen, or a table's `autovacuum_enabled = false`) nothing ever removes
//! them: in a 1,000,000-member campaign `members` grew to 3 million dead
//! rows, PostgreSQL's CPU per message doubled and the campaign grid's p99
//! went past 50 ms (dispatch benchmark). Where autovacuum runs, this does
//! nothing: PostgreSQL knows best when to vacuum.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, Executor, FromRow};

use super::{Backend, Store, StoreResult};

/// A table is vacuumed once this share of its rows is dead (migration
/// 0028's threshold for `members`, which autovacuum would apply)...
const DEAD_SHARE: f64 = 0.02;
/// ...and at least this many: a small table churned all the time (leases,
/// heartbeats) is cheap to vacuum but need not be every check.
const DEAD_AT_LEAST: i64 = 1_000;
/// Statistics are refreshed once this share of the rows changed since
/// they were last analysed (0028's analyze threshold)...
const CHANGED_SHARE: f64 = 0.02;
const CHANGED_AT_LEAST: i64 = 1_000;
/// ...and insert-only tables (member events) are vacuumed once this share
/// was inserted since their last vacuum, so their visibility map lets
/// index-only scans skip the heap (autovacuum's own default).
const INSERTED_SHARE: f64 = 0.2;
const INSERTED_AT_LEAST: i64 = 1_000;

/// One of Herald's tables as PostgreSQL's statistics see it.
#[derive(FromRow)]
struct TableActivity {
    name: String,
    /// Live rows (estimated).
    live: i64,
    dead: i64,
    changed_since_analyze: i64,
    inserted_since_vacuum: i64,
    /// 1 when autovacuum will not look at this table: off on the server,
    /// or disabled for the table.
    unattended: i64,
}

/// What a table needs, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upkeep {
    /// `VACUUM (ANALYZE)`: dead rows to remove (or a visibility map to set).
    Vacuum,
    /// `ANALYZE` only: many rows changed, few are dead (inserts).
    Analyze,
}

impl Upkeep {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Upkeep::Vacuum => "vacuum",
            Upkeep::Analyze => "analyze",
        }
    }
}

/// A table due for upkeep, and which.
#[derive(Debug)]
pub struct TableUpkeep {
    pub table: String,
    pub upkeep: Upkeep,
}

/// What one round of upkeep did: each due table is kept up on its own, so
/// one that fails (an expression index whose function errors as ANALYZE
/// evaluates it, a table dropped meanwhile) neither ends the round nor,
/// being first in name order, keeps every later table from ever being
/// vacuumed.
#[derive(Debug, Default)]
pub struct UpkeepRound {
    pub kept: Vec<TableUpkeep>,
    /// With PostgreSQL's error; tried again at the next check.
    pub failed: Vec<(TableUpkeep, String)>,
}

/// Whether PostgreSQL maintains the tables itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutovacuumState {
    Runs,
    /// `autovacuum = off`: Herald vacuums its tables itself.
    Off,
    /// `track_counts = off`: neither autovacuum nor Herald can tell which
    /// tables need it.
    Blind,
}

impl Store {
    /// How PostgreSQL's autovacuum is set (`None` on SQLite, which needs
    /// none of this).
    pub async fn autovacuum_state(&self) -> StoreResult<Option<AutovacuumState>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let (autovacuum, track_counts): (String, String) =
            sqlx::query_as("SELECT current_setting('autovacuum'), current_setting('track_counts')")
                .fetch_one(&self.pool)
                .await?;
        Ok(Some(if track_counts != "on" {
            AutovacuumState::Blind
        } else if autovacuum != "on" {
            AutovacuumState::Off
        } else {
            AutovacuumState::Runs
        }))
    }

    /// Vacuums or analyses each of Herald's tables that autovacuum does
    /// not attend to and that has passed the thresholds above; returns
    /// what was done and what failed. Nothing on SQLite or where
    /// autovacuum runs. An error only when the tables could not be looked
    /// at (or the upkeep connection not opened).
    pub async fn keep_up_unattended_tables(&self) -> StoreResult<UpkeepRound> {
        let mut round = UpkeepRound::default();
        if self.backend != Backend::Postgres {
            return Ok(round);
        }
        let tables: Vec<TableActivity> = sqlx::query_as(
            "SELECT CAST(s.relname AS TEXT) AS name, s.n_live_tup AS live, s.n_dead_tup AS dead, \
             s.n_mod_since_analyze AS changed_since_analyze, \
             s.n_ins_since_vacuum AS inserted_since_vacuum, \
             CASE WHEN current_setting('autovacuum') <> 'on' OR EXISTS ( \
               SELECT 1 FROM unnest(c.reloptions) o \
               WHERE lower(o) IN ('autovacuum_enabled=false', 'autovacuum_enabled=off', \
                 'autovacuum_enabled=no', 'autovacuum_enabled=0', 'autovacuum_enabled=f')) \
             THEN 1 ELSE 0 END AS unattended \
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
             WHERE s.schemaname = current_schema() ORDER BY s.relname",
        )
        .fetch_all(&self.pool)
        .await?;
        let due: Vec<TableUpkeep> = tables
            .iter()
            .filter(|t| t.unattended == 1)
            .filter_map(|t| {
                upkeep_due(t).map(|upkeep| TableUpkeep {
                    table: t.name.clone(),
                    upkeep,
                })
            })
            .collect();
        if due.is_empty() {
            return Ok(round);
        }
        // A connection of its own: a vacuum of a large table takes seconds,
        // which would hold one of the pool's connections from the send
        // path, and is expected, not the slow statement sqlx warns about.
        let options = (*self.pool.connect_options())
            .clone()
            .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(1));
        let mut conn = options.connect().await?;
        for k in due {
            let name = quoted(&k.table);
            // SKIP_LOCKED: another instance vacuuming the same table does
            // it for both. Outside a transaction (VACUUM refuses one).
            let sql = match k.upkeep {
                Upkeep::Vacuum => format!("VACUUM (ANALYZE, SKIP_LOCKED) {name}"),
                Upkeep::Analyze => format!("ANALYZE (SKIP_LOCKED) {name}"),
            };
            match conn.execute(sql.as_str()).await {
                Ok(_) => round.kept.push(k),
                Err(e) => round.failed.push((k, e.to_string())),
            }
        }
        // The round's work is done and reported whatever the goodbye does.
        let _ = conn.close().await;
        Ok(round)
    }
}

/// What `table` needs by the thresholds above, if anything.
fn upkeep_due(table: &TableActivity) -> Option<Upkeep> {
    let past = |count: i64, share: f64, at_least: i64| {
        count > at_least.max((table.live as f64 * share) as i64)
    };
    if past(table.dead, DEAD_SHARE, DEAD_AT_LEAST)
        || past(
            table.inserted_since_vacuum,
            INSERTED_SHARE,
            INSERTED_AT_LEAST,
        )
    {
        Some(Upkeep::Vacuum)
    } else if past(table.changed_since_analyze, CHANGED_SHARE, CHANGED_AT_LEAST) {
        Some(Upkeep::Analyze)
    } else {
        None
    }
}

/// `name` as a PostgreSQL identifier (it comes from the catalogue, but a
/// table named with a quote must not break the statement).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::{TableActivity, TableUpkeep, Upkeep, quoted, upkeep_due};

    fn table(live: i64, dead: i64, changed: i64, inserted: i64) -> TableActivity {
        TableActivity {
            name: "members".into(),
            live,
            dead,
            changed_since_analyze: changed,
            inserted_since_vacuum: inserted,
            unattended: 1,
        }
    }

    #[test]
    fn a_table_is_vacuumed_past_two_percent_dead_and_analysed_past_two_percent_changed() {
        // 1,000,000 rows: 2% is 20,000.
        assert_eq!(upkeep_due(&table(1_000_000, 20_000, 0, 0)), None);
        assert_eq!(
            upkeep_due(&table(1_000_000, 20_001, 0, 0)),
            Some(Upkeep::Vacuum)
        );
        assert_eq!(
            upkeep_due(&table(1_000_000, 0, 20_001, 0)),
            Some(Upkeep::Analyze)
        );
        // Insert-only: vacuumed past 20% inserted, analysed before that.
        assert_eq!(
            upkeep_due(&table(1_000_000, 0, 150_000, 150_000)),
            Some(Upkeep::Analyze)
        );
        assert_eq!(
            upkeep_due(&table(1_000_000, 0, 200_001, 200_001)),
            Some(Upkeep::Vacuum)
        );
        // A small table waits for 1,000 dead rows, not 2% of 100.
        assert_eq!(upkeep_due(&table(100, 999, 0, 0)), None);
        assert_eq!(upkeep_due(&table(100, 1_001, 0, 0)), Some(Upkeep::Vacuum));
    }

    #[test]
    fn a_table_name_is_quoted_as_an_identifier() {
        assert_eq!(quoted("members"), "\"members\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }

    /// Dead rows (and vacuums) of `table` in PostgreSQL's statistics.
    async fn dead_and_vacuums(conn: &mut sqlx::PgConnection, table: &str) -> (i64, i64) {
        sqlx::query_as(
            "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables \
             WHERE relname = $1 AND schemaname = current_schema()",
        )
        .bind(table)
        .fetch_optional(conn)
        .await
        .unwrap()
        .unwrap_or((0, 0))
    }

    /// Two tables autovacuum leaves alone, both past the threshold; the
    /// first in name order fails its ANALYZE (its expression index's
    /// function raises once the vacuum's connection has the setting). The
    /// second is vacuumed all the same, and the first is reported failed,
    /// not the round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_whose_upkeep_fails_does_not_keep_the_others_from_theirs() {
        let Some(db) = crate::store::test_store::postgres().await else {
            eprintln!("HERALD_SKIP_POSTGRES set: skipped");
            return;
        };
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION herald_test_boom(v BIGINT) RETURNS BIGINT LANGUAGE plpgsql IMMUTABLE AS $$ \
             BEGIN IF current_setting('herald.test_boom', true) = 'on' THEN \
               RAISE EXCEPTION 'boom: this index cannot be analysed'; END IF; RETURN v; END $$; \
             CREATE TABLE a_boom (v BIGINT) WITH (autovacuum_enabled = false); \
             CREATE INDEX a_boom_v ON a_boom (herald_test_boom(v)); \
             CREATE TABLE b_fine (v BIGINT) WITH (autovacuum_enabled = false); \
             INSERT INTO a_boom SELECT g FROM generate_series(1, 3000) g; \
             INSERT INTO b_fine SELECT g FROM generate_series(1, 3000) g; \
             DELETE FROM a_boom WHERE v > 1000; DELETE FROM b_fine WHERE v > 1000;",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        // The marker that both are due: their 2,000 dead rows counted
        // (statistics reach the shared counters within a second or so).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (a, b) = (
                dead_and_vacuums(&mut conn, "a_boom").await,
                dead_and_vacuums(&mut conn, "b_fine").await,
            );
            if a.0 >= 2_000 && b.0 >= 2_000 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "dead rows never counted: a_boom {a:?}, b_fine {b:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // New connections only: the upkeep's own.
        let name = db.url.rsplit('/').next().unwrap();
        sqlx::raw_sql(&format!(
            "ALTER DATABASE {name} SET herald.test_boom = 'on'"
        ))
        .execute(&mut conn)
        .await
        .unwrap();

        let round = db.store.keep_up_unattended_tables().await.unwrap();
        let kept: Vec<&str> = round.kept.iter().map(|k| k.table.as_str()).collect();
        assert!(kept.contains(&"b_fine"), "{round:?}");
        assert!(!kept.contains(&"a_boom"), "{round:?}");
        let failed: Vec<&(TableUpkeep, String)> = round
            .failed
            .iter()
            .filter(|(f, _)| f.table == "a_boom")
            .collect();
        assert_eq!(failed.len(), 1, "{round:?}");
        assert_eq!(failed[0].0.upkeep, Upkeep::Vacuum);
        assert!(failed[0].1.contains("boom"), "{round:?}");
        // PostgreSQL's own word that b_fine was vacuumed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (dead, vacuums) = dead_and_vacuums(&mut conn, "b_fine").await;
            if vacuums > 0 {
                assert!(dead < 2_000, "the vacuum left {dead} dead rows");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "b_fine never vacuumed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

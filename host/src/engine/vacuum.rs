//! Keeps Herald's PostgreSQL tables vacuumed when the server's autovacuum
//! does not (see `store::vacuum`): a periodic check, one catalogue query
//! when nothing is due.

use std::sync::Arc;
use std::time::Duration;

use crate::store::AutovacuumState;

use super::Engine;

/// How often the tables are checked. A vacuum of a 1,000,000-member table
/// takes about a second of the database's CPU; autovacuum itself looks at
/// a database once a minute (`autovacuum_naptime`), which kept `members`
/// at a tenth of its size in dead rows during the benchmark's largest
/// campaign. Half that: a 2% threshold is reached within seconds at full
/// speed, and a table rewritten faster than it is vacuumed is what costs.
const CHECK_EVERY: Duration = Duration::from_secs(30);

pub(super) async fn run(engine: Arc<Engine>) {
    let store = engine.store.clone();
    match store.autovacuum_state().await {
        // SQLite has nothing of this kind to keep up.
        Ok(None) => return,
        Ok(Some(AutovacuumState::Runs)) => {}
        Ok(Some(AutovacuumState::Off)) => tracing::info!(
            every_s = CHECK_EVERY.as_secs(),
            "PostgreSQL's autovacuum is off: Herald vacuums and analyses its own tables"
        ),
        Ok(Some(AutovacuumState::Blind)) => {
            tracing::warn!(
                "PostgreSQL's track_counts is off: neither autovacuum nor Herald can tell which tables need vacuuming; a large campaign's dead rows will slow every query on members (turn track_counts on)"
            );
            return;
        }
        Err(e) => tracing::warn!(error = %e, "reading PostgreSQL's autovacuum setting failed"),
    }
    // Also where autovacuum runs: a reload may turn it off, and a table
    // may be left out on its own (`autovacuum_enabled = false`).
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if engine.draining() {
            return;
        }
        let started = std::time::Instant::now();
        match store.keep_up_unattended_tables().await {
            Ok(round) => {
                for k in &round.kept {
                    metrics::counter!("herald_table_upkeep_total", "table" => k.table.clone(), "upkeep" => k.upkeep.as_str(), "result" => "done")
                        .increment(1);
                }
                for (f, error) in &round.failed {
                    metrics::counter!("herald_table_upkeep_total", "table" => f.table.clone(), "upkeep" => f.upkeep.as_str(), "result" => "failed")
                        .increment(1);
                    tracing::warn!(table = %f.table, upkeep = f.upkeep.as_str(), %error,
                        "keeping up a table autovacuum does not attend to failed; the other tables were kept up, this one is tried again at the next check");
                }
                if !round.kept.is_empty() {
                    tracing::debug!(tables = ?round.kept, took_ms = started.elapsed().as_millis() as u64, "vacuumed tables autovacuum does not attend to");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "vacuuming tables autovacuum does not attend to failed; retrying at the next check")
            }
        }
    }
}

//! SQLite's WAL checkpoints, off the writer: a checkpoint copies the pages
//! the write-ahead log holds back into the database file and syncs both.
//! Left to SQLite, the connection whose commit fills the log (1,000 pages)
//! does it inside that commit: the single writer, with every claim, start
//! of send, outcome and receipt queued behind it. On the dispatch
//! benchmark the writer's thread spent a fifth of its time in `pwrite`,
//! and made every `fsync`, while the send path waited for it.
//!
//! Here a read connection checkpoints in the background (`PASSIVE`: it
//! never waits for, nor blocks, the writer or the readers), and the
//! writer checkpoints itself only as a backstop, should the log grow past
//! [`WRITER_CHECKPOINTS_AT`] pages because this task fell behind.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the background checkpoint runs. Each copies the pages
/// written since the last one once, however often they were rewritten.
pub(super) const EVERY: Duration = Duration::from_millis(500);

/// The writer's own checkpoint threshold (pages of 4 KiB: 64 MiB of
/// log), far above what [`EVERY`] lets accumulate.
pub(super) const WRITER_CHECKPOINTS_AT: u32 = 16_384;

/// The background checkpoint's task; it stops with the store.
pub(super) struct Checkpointer(tokio::task::AbortHandle);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpointer {
    /// Starts checkpointing through `readers` every [`EVERY`].
    pub(super) fn start(readers: AnyPool) -> Self {
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&readers)
                    .await
                {
                    // The writer's own checkpoint takes over past its
                    // threshold: the log cannot grow without bound.
                    tracing::warn!(error = %e, "background WAL checkpoint failed; retrying");
                }
            }
        });
        Self(task.abort_handle())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::store::Store;

    /// A committed write reaches the database file itself within a few of
    /// [`super::EVERY`], with no commit after it and far below the
    /// writer's own threshold: the background checkpoint copied it.
    #[tokio::test]
    async fn committed_writes_reach_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.db");
        let store = Store::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        let marker = format!("checkpointed-{}", std::process::id());
        store.put_setting("marker", &marker).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let file = std::fs::read(&path).unwrap();
            if file.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the write is still only in the log 10 s after its commit"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // And the write-ahead log holds it too: it was committed there
        // first, not written to the file by the writer directly.
        let log = std::fs::read(dir.path().join("herald.db-wal")).unwrap();
        assert!(log.windows(marker.len()).any(|w| w == marker.as_bytes()));
    }

    /// The writer leaves checkpoints to the background (its threshold is
    /// far above the log's usual size) and keeps temporary tables and
    /// statement journals in memory.
    #[tokio::test]
    async fn the_writer_neither_checkpoints_nor_writes_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite:{}", dir.path().join("h.db").display()))
            .await
            .unwrap();
        let at: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(at, i64::from(super::WRITER_CHECKPOINTS_AT));
        let temp: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(temp, 2, "temp_store = MEMORY");
    }
}

//! Import jobs: a spooled CSV file read on a blocking thread and written
//! batch by batch, each batch committed with the job's checkpoint. A job
//! left unfinished by a dead process is taken over once its lease expires
//! and resumes after its last committed batch.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::import_reader;
use crate::domain::phone::Region;
use crate::store::{BatchResult, Id, ImportJob, ImportStatus, Store};

/// How long a runner's claim on a job lasts without a committed batch.
/// Batches commit every few milliseconds, so this only delays the takeover
/// of a job whose process died.
const LEASE: Duration = Duration::from_secs(10);
/// How often (in batches of 2,000 rows) the database's planner statistics
/// are refreshed while an import grows the contacts table.
const STATS_EVERY_BATCHES: u64 = 25;

pub struct Importer {
    store: Store,
    owner: String,
    spool_dir: PathBuf,
    /// Woken when a job reaches a final state (for `?wait=true`).
    finished: Notify,
}

impl Importer {
    pub fn new(store: Store, owner: String, data_dir: &Path) -> anyhow::Result<Arc<Self>> {
        let spool_dir = data_dir.join("imports");
        std::fs::create_dir_all(&spool_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the import spool {}: {e}",
                spool_dir.display()
            )
        })?;
        Ok(Arc::new(Self {
            store,
            owner,
            spool_dir,
            finished: Notify::new(),
        }))
    }

    /// Where uploads are spooled.
    pub fn spool_dir(&self) -> &Path {
        &self.spool_dir
    }

    /// Takes over unfinished jobs now and whenever a lease expires.
    pub fn start(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                while this.clone().run_next(None).await {}
                tokio::time::sleep(LEASE / 4).await;
            }
        });
    }

    /// Runs job `id` in the background (just created by an upload).
    pub fn spawn(self: &Arc<Self>, id: Id) {
        let this = self.clone();
        tokio::spawn(async move {
            this.run_next(Some(id)).await;
        });
    }

    /// Waits until job `id` is final or `timeout` passes; returns it.
    pub async fn wait(
        &self,
        tenant: Id,
        id: Id,
        timeout: Duration,
    ) -> crate::store::StoreResult<ImportJob> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.finished.notified();
            let job = self.store.import_job(tenant, id).await?;
            if job.status.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(job);
            }
            // A job finished by another instance sends no notification here.
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }

    /// Claims one job (that one, or any free one) and runs it to its end.
    /// Returns whether a job was run.
    async fn run_next(self: Arc<Self>, id: Option<Id>) -> bool {
        let job = match self
            .store
            .claim_import_job(&self.owner, LEASE.as_millis() as i64, id)
            .await
        {
            Ok(Some(job)) => job,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(error = %e, "claiming an import job failed");
                return false;
            }
        };
        let span = tracing::info_span!(
            "import",
            job = job.id,
            tenant = job.tenant_id,
            list = job.list_id
        );
        let _enter = span.enter();
        let (status, error) = match self.run(&job).await {
            Ok(status) => (status, None),
            Err(why) => {
                tracing::error!(error = why, "import failed");
                (ImportStatus::Failed, Some(why))
            }
        };
        drop(_enter);
        if status != ImportStatus::Running {
            if let Err(e) = self
                .store
                .finish_import_job(job.id, status, error.as_deref())
                .await
            {
                tracing::error!(job = job.id, error = %e, "recording the end of an import failed");
            }
            // The spool is only needed to resume; a final job has no use for it.
            let _ = std::fs::remove_file(&job.spool_path);
            // Many new rows: give SQLite's planner fresh statistics.
            if let Err(e) = self.store.optimize().await {
                tracing::warn!(error = %e, "refreshing the query planner's statistics failed");
            }
            self.finished.notify_waiters();
        }
        true
    }

    /// Streams the file through the reader into batch commits. Returns the
    /// final status, or `Running` when another runner took the job over.
    async fn run(&self, job: &ImportJob) -> Result<ImportStatus, String> {
        let path = PathBuf::from(&job.spool_path);
        if !path.exists() {
            return Err(format!(
                "the uploaded file {} is gone (spooled on another instance, or deleted); upload it again",
                path.display()
            ));
        }
        let region = job
            .default_region
            .as_deref()
            .map(Region::parse)
            .transpose()?;
        tracing::info!(
            bytes = job.bytes_total,
            resume_at_row = job.checkpoint.record,
            dry_run = job.dry_run,
            "import running"
        );
        let (tx, mut rx) = mpsc::channel(2);
        let overrides = job.mapping.clone();
        let resume = job.checkpoint;
        let reader = tokio::task::spawn_blocking(move || {
            import_reader::read_batches(&path, &overrides, region, resume, tx)
        });
        let mut counts = job.counts;
        let started = std::time::Instant::now();
        let mut batches = 0u64;
        // Batches being written, oldest first; committed strictly in order.
        let depth = self.store.import_batches_in_flight();
        let mut in_flight = VecDeque::with_capacity(depth);
        let mut reading = true;
        loop {
            while reading && in_flight.len() < depth {
                let Some(batch) = rx.recv().await else {
                    reading = false;
                    break;
                };
                batches += 1;
                if batches.is_multiple_of(STATS_EVERY_BATCHES)
                    && let Err(e) = self.store.refresh_import_stats().await
                {
                    tracing::warn!(error = %e, "refreshing planner statistics failed");
                }
                let (store, job) = (self.store.clone(), job.clone());
                in_flight.push_back(tokio::spawn(async move {
                    store.prepare_import_batch(&job, &batch).await
                }));
            }
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            let committed = match oldest.await {
                Ok(Ok(prepared)) => self
                    .store
                    .commit_import_batch(job, &self.owner, prepared, LEASE.as_millis() as i64)
                    .await
                    .map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("the batch writer task failed: {e}")),
            };
            if let Ok(BatchResult::Committed(c)) = &committed {
                counts.add(c);
                continue;
            }
            // Stopping: batches not committed roll back as they are dropped.
            in_flight.iter().for_each(|h| h.abort());
            drop(rx);
            let _ = reader.await;
            return match committed {
                Err(e) => Err(format!("writing a batch failed: {e}")),
                _ => {
                    tracing::info!(
                        rows = counts.total,
                        "import stopped: cancelled or taken over"
                    );
                    Ok(self.current_status(job).await)
                }
            };
        }
        match reader.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(format!("the reader thread failed: {e}")),
        }
        tracing::info!(
            rows = counts.total,
            imported = counts.imported,
            updated = counts.updated,
            unchanged = counts.unchanged,
            rejected = counts.rejected,
            duplicates = counts.duplicates,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "import finished"
        );
        Ok(ImportStatus::Completed)
    }

    /// After a refused batch: cancelled stays cancelled; a job another
    /// runner owns now is left to it.
    async fn current_status(&self, job: &ImportJob) -> ImportStatus {
        match self.store.import_job(job.tenant_id, job.id).await {
            Ok(j) if j.status == ImportStatus::Cancelled => ImportStatus::Cancelled,
            _ => ImportStatus::Running,
        }
    }
}

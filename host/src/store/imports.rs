//! Import jobs: their settings, checkpoint and counters, and the rejected
//! rows that make up the validation report. Writing a batch of rows lives in
//! `import_batch.rs`.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            _ => Self::Failed,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// How many rows went where. `total` = `imported + updated + unchanged +
/// rejected + duplicates`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportCounts {
    /// Data rows processed so far.
    pub total: i64,
    /// New contacts created (or, in a dry run, that would be).
    pub imported: i64,
    /// Existing contacts whose values changed.
    pub updated: i64,
    /// Existing contacts the file matched exactly.
    pub unchanged: i64,
    /// Rows refused for their content (missing address, invalid number or
    /// email, wrong number of cells).
    pub rejected: i64,
    /// Rows refused as repeats: of an earlier row, or of an existing contact.
    pub duplicates: i64,
}

impl ImportCounts {
    pub fn add(&mut self, other: &ImportCounts) {
        self.total += other.total;
        self.imported += other.imported;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
        self.duplicates += other.duplicates;
    }
}

/// Where the next unprocessed row starts, as the CSV reader reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub byte: i64,
    pub line: i64,
    pub record: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: Id,
    pub list_id: Id,
    pub campaign_id: Option<Id>,
    pub status: ImportStatus,
    pub dry_run: bool,
    /// `update` or `skip` for rows matching an existing contact.
    pub existing: String,
    pub default_region: Option<String>,
    /// Explicit column mapping given with the upload (header -> role).
    pub mapping: BTreeMap<String, String>,
    pub filename: Option<String>,
    pub bytes_total: i64,
    /// Bytes of the file processed and committed.
    pub bytes_done: i64,
    pub counts: ImportCounts,
    /// Why the job failed, when it did.
    pub error: Option<String>,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<i64>,
    #[serde(skip)]
    pub tenant_id: Id,
    #[serde(skip)]
    pub spool_path: String,
    #[serde(skip)]
    pub checkpoint: Checkpoint,
}

pub struct NewImportJob {
    pub list_id: Id,
    pub campaign_id: Option<Id>,
    pub dry_run: bool,
    pub existing: String,
    pub default_region: Option<String>,
    pub mapping: BTreeMap<String, String>,
    pub filename: Option<String>,
    pub spool_path: String,
    pub bytes_total: i64,
}

/// One row of the validation report.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// Line of the row in the file's records, the header being row 1.
    pub row: i64,
    /// Machine reason, e.g. `invalid_number`, `duplicate_in_file`.
    pub reason: String,
    pub message: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

const JOB_COLUMNS: &str = "id, tenant_id, list_id, campaign_id, status, dry_run, existing, \
    default_region, mapping_json, filename, spool_path, bytes_total, checkpoint_byte, \
    checkpoint_line, checkpoint_record, rows_total, imported, updated, unchanged, rejected, \
    duplicates, error, created_at, finished_at";

impl Store {
    pub async fn create_import_job(&self, tenant: Id, new: NewImportJob) -> StoreResult<ImportJob> {
        let id: Id = sqlx::query_scalar(
            "INSERT INTO import_jobs (tenant_id, list_id, campaign_id, status, dry_run, existing, \
             default_region, mapping_json, filename, spool_path, bytes_total, created_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(tenant)
        .bind(new.list_id)
        .bind(new.campaign_id)
        .bind(new.dry_run as i64)
        .bind(&new.existing)
        .bind(&new.default_region)
        .bind(serde_json::to_string(&new.mapping).expect("string map"))
        .bind(&new.filename)
        .bind(&new.spool_path)
        .bind(new.bytes_total)
        .bind(now_ms())
        .fetch_one(&self.writer)
        .await?;
        self.import_job(tenant, id).await
    }

    pub async fn import_job(&self, tenant: Id, id: Id) -> StoreResult<ImportJob> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(job_from_row(&row))
    }

    /// A tenant's import jobs older than `before` (all when `None`),
    /// newest first.
    pub async fn import_jobs(
        &self,
        tenant: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ImportJob>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE tenant_id = $1 \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $2"
        ))
        .bind(tenant)
        .bind(limit)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    /// Takes an unfinished job whose lease is free (new, or its runner died):
    /// it becomes `running` under `owner` until `lease_ms` from now; each
    /// committed batch renews the lease.
    pub async fn claim_import_job(
        &self,
        owner: &str,
        lease_ms: i64,
        id: Option<Id>,
    ) -> StoreResult<Option<ImportJob>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let sql = format!(
            "SELECT id FROM import_jobs WHERE status IN ('queued', 'running') \
             AND (lease_until IS NULL OR lease_until < $1) AND ($2 IS NULL OR id = $2) \
             ORDER BY id LIMIT 1{}",
            self.skip_locked()
        );
        let Some(id) = sqlx::query_scalar::<_, Id>(&sql)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query(
            "UPDATE import_jobs SET status = 'running', lease_owner = $1, lease_until = $2 \
             WHERE id = $3",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job_from_row(&row)))
    }

    /// Ends a job. Only a job still unfinished changes, so a cancel that won
    /// the race is kept.
    pub async fn finish_import_job(
        &self,
        id: Id,
        status: ImportStatus,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE import_jobs SET status = $1, error = $2, finished_at = $3, lease_owner = NULL, \
             lease_until = NULL WHERE id = $4 AND status IN ('queued', 'running')",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Stops a job at its next batch; what was committed stays.
    pub async fn cancel_import_job(&self, tenant: Id, id: Id) -> StoreResult<ImportJob> {
        let job = self.import_job(tenant, id).await?;
        if job.status.is_final() {
            return Err(StoreError::Conflict(format!(
                "the import is already {}",
                job.status.as_str()
            )));
        }
        self.finish_import_job(id, ImportStatus::Cancelled, None)
            .await?;
        self.import_job(tenant, id).await
    }

    /// Refreshes PostgreSQL's statistics of the tables an import grows. A
    /// table that grew from empty within minutes still looks empty to the
    /// planner until autovacuum catches up, and it then scans every contact
    /// for each batch's lookups (measured: 17 ms per batch at first, 570 ms
    /// at 900k contacts). SQLite's planner uses the indexes regardless.
    pub async fn refresh_import_stats(&self) -> StoreResult<()> {
        self.analyze("contacts, list_contacts").await
    }

    /// The rejected rows of a job, in row order, after row `after`.
    pub async fn import_rejections(
        &self,
        tenant: Id,
        job: Id,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<RejectedRow>> {
        let rows = sqlx::query(
            "SELECT row_number, reason, message, phone, email FROM import_rejections \
             WHERE tenant_id = $1 AND job_id = $2 AND row_number > $3 \
             ORDER BY row_number LIMIT $4",
        )
        .bind(tenant)
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| RejectedRow {
                row: r.get(0),
                reason: r.get(1),
                message: r.get(2),
                phone: r.get(3),
                email: r.get(4),
            })
            .collect())
    }
}

fn job_from_row(r: &sqlx::any::AnyRow) -> ImportJob {
    ImportJob {
        id: r.get(0),
        tenant_id: r.get(1),
        list_id: r.get(2),
        campaign_id: r.get(3),
        status: ImportStatus::parse(&r.get::<String, _>(4)),
        dry_run: r.get::<i64, _>(5) != 0,
        existing: r.get(6),
        default_region: r.get(7),
        mapping: serde_json::from_str(&r.get::<String, _>(8)).unwrap_or_default(),
        filename: r.get(9),
        spool_path: r.get(10),
        bytes_total: r.get(11),
        checkpoint: Checkpoint {
            byte: r.get(12),
            line: r.get(13),
            record: r.get(14),
        },
        bytes_done: r.get(12),
        counts: ImportCounts {
            total: r.get(15),
            imported: r.get(16),
            updated: r.get(17),
            unchanged: r.get(18),
            rejected: r.get(19),
            duplicates: r.get(20),
        },
        error: r.get(21),
        created_at: r.get(22),
        finished_at: r.get(23),
    }
}

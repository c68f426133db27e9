//! Writing one batch of imported rows: match each row to an existing contact
//! (phone first, then email), insert the new ones, update the changed ones,
//! add them all to the list (and the campaign), record the rejected rows and
//! move the job's checkpoint, all in one transaction. A crash therefore
//! leaves either the whole batch with its checkpoint, or none of it.
//! The transaction is prepared first and committed later, in file order, so
//! that PostgreSQL can write two batches at once.

use std::collections::HashMap;

use super::contacts::{Contact, contact_from_row};
use super::imports::{Checkpoint, ImportCounts, ImportJob, RejectedRow};
use super::json_rows::{json_rows, json_values};
use super::{Backend, Id, Store, StoreResult, now_ms};
use crate::domain::import::{ImportedContact, RowRejection};

/// What the reader made of a run of consecutive rows.
#[derive(Default)]
pub struct ImportBatch {
    /// Acceptable rows: (row number, contact).
    pub rows: Vec<(i64, ImportedContact)>,
    /// Refused rows: (row number, why, phone and email cells as written).
    pub rejected: Vec<(i64, RowRejection, Option<String>, Option<String>)>,
    /// Where the row after this batch starts.
    pub checkpoint: Checkpoint,
}

/// How a batch ended.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchResult {
    Committed(ImportCounts),
    /// The job was cancelled meanwhile; nothing of this batch was written.
    Cancelled,
}

/// The contact after applying a row: the file's values win, cells the file
/// leaves empty keep what the contact had.
fn merged(old: &Contact, row: &ImportedContact) -> Contact {
    let pick = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
    let mut fields = old.fields.clone();
    fields.extend(row.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    Contact {
        id: old.id,
        phone: pick(&row.phone, &old.phone),
        email: pick(&row.email, &old.email),
        first_name: pick(&row.first_name, &old.first_name),
        last_name: pick(&row.last_name, &old.last_name),
        timezone: pick(&row.timezone, &old.timezone),
        fields,
    }
}

enum Plan<'a> {
    Insert(&'a ImportedContact),
    Update(Contact),
    Unchanged(Id),
    Reject(i64, RowRejection, &'a ImportedContact),
}

/// A batch written inside its still-open transaction, waiting for its turn
/// to commit (see [`Store::commit_import_batch`]).
pub struct PreparedBatch {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    counts: ImportCounts,
    checkpoint: Checkpoint,
}

impl Store {
    /// How many batches an import may have written but not yet committed.
    /// PostgreSQL writes the next batch on a second connection while the
    /// previous one finishes (the rows of two batches never share a phone
    /// or an email: the reader refuses a row repeating an earlier one).
    /// SQLite has one writer, so a second batch would only wait for the lock.
    pub fn import_batches_in_flight(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        }
    }

    /// Writes one batch of job `job` (see the module docs) in a transaction
    /// left open for [`Store::commit_import_batch`]. A dry run only
    /// classifies the rows and records the report.
    pub async fn prepare_import_batch(
        &self,
        job: &ImportJob,
        batch: &ImportBatch,
    ) -> StoreResult<PreparedBatch> {
        let tenant = job.tenant_id;
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let existing = load_existing(&mut tx, self.backend, tenant, &batch.rows).await?;
        let skip_existing = job.existing == "skip";
        let mut counts = ImportCounts {
            total: (batch.rows.len() + batch.rejected.len()) as i64,
            ..Default::default()
        };
        for (_, why, _, _) in &batch.rejected {
            count_rejection(&mut counts, why);
        }
        let mut plans = Vec::with_capacity(batch.rows.len());
        for (row, contact) in &batch.rows {
            let plan = plan_row(*row, contact, &existing, skip_existing);
            match &plan {
                Plan::Insert(..) => counts.imported += 1,
                Plan::Update(_) => counts.updated += 1,
                Plan::Unchanged(_) => counts.unchanged += 1,
                Plan::Reject(_, why, _) => count_rejection(&mut counts, why),
            }
            plans.push(plan);
        }

        let report =
            |row: i64, why: &RowRejection, phone: &Option<String>, email: &Option<String>| {
                RejectedRow {
                    row,
                    reason: why.code().into(),
                    message: why.message(),
                    phone: phone.clone(),
                    email: email.clone(),
                }
            };
        let mut rejected: Vec<RejectedRow> = batch
            .rejected
            .iter()
            .map(|(row, why, phone, email)| report(*row, why, phone, email))
            .collect();
        for plan in &plans {
            if let Plan::Reject(row, why, c) = plan {
                rejected.push(report(*row, why, &c.phone, &c.email));
            }
        }
        insert_rejections(&mut tx, self.backend, tenant, job.id, &rejected).await?;

        if !job.dry_run {
            let new: Vec<&ImportedContact> = plans
                .iter()
                .filter_map(|p| match p {
                    Plan::Insert(c) => Some(*c),
                    _ => None,
                })
                .collect();
            let mut member_ids = insert_contacts(&mut tx, self.backend, tenant, now, &new).await?;
            for plan in &plans {
                match plan {
                    Plan::Update(c) => {
                        update_contact(&mut tx, now, c).await?;
                        member_ids.push(c.id);
                    }
                    Plan::Unchanged(id) => member_ids.push(*id),
                    _ => {}
                }
            }
            add_to_list(&mut tx, self.backend, tenant, job.list_id, &member_ids).await?;
            if let Some(campaign) = job.campaign_id {
                super::enrolment::enrol_in_tx(&mut tx, tenant, campaign, &member_ids, now).await?;
            }
        }
        Ok(PreparedBatch {
            tx,
            counts,
            checkpoint: batch.checkpoint,
        })
    }

    /// Moves the job's checkpoint past a prepared batch and commits both.
    /// Batches must be committed in file order: the checkpoint says every
    /// row before it is written. Nothing is committed unless `owner` still
    /// holds the job's lease and the job is still running (not cancelled,
    /// not taken over).
    pub async fn commit_import_batch(
        &self,
        job: &ImportJob,
        owner: &str,
        prepared: PreparedBatch,
        lease_ms: i64,
    ) -> StoreResult<BatchResult> {
        let PreparedBatch {
            mut tx,
            counts,
            checkpoint,
        } = prepared;
        let moved = sqlx::query(
            "UPDATE import_jobs SET checkpoint_byte = $1, checkpoint_line = $2, \
             checkpoint_record = $3, rows_total = rows_total + $4, imported = imported + $5, \
             updated = updated + $6, unchanged = unchanged + $7, rejected = rejected + $8, \
             duplicates = duplicates + $9, lease_until = $10 \
             WHERE id = $11 AND status = 'running' AND lease_owner = $12",
        )
        .bind(checkpoint.byte)
        .bind(checkpoint.line)
        .bind(checkpoint.record)
        .bind(counts.total)
        .bind(counts.imported)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.rejected)
        .bind(counts.duplicates)
        .bind(now_ms() + lease_ms)
        .bind(job.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(BatchResult::Cancelled);
        }
        tx.commit().await?;
        Ok(BatchResult::Committed(counts))
    }
}

fn count_rejection(counts: &mut ImportCounts, why: &RowRejection) {
    match why {
        RowRejection::DuplicateInFile { .. } | RowRejection::DuplicateOfExisting { .. } => {
            counts.duplicates += 1
        }
        _ => counts.rejected += 1,
    }
}

/// Existing contacts keyed by phone and by email.
struct ExistingIndex {
    by_phone: HashMap<String, Contact>,
    by_email: HashMap<String, Contact>,
}

fn plan_row<'a>(
    row: i64,
    c: &'a ImportedContact,
    existing: &ExistingIndex,
    skip_existing: bool,
) -> Plan<'a> {
    let by_phone = c.phone.as_ref().and_then(|p| existing.by_phone.get(p));
    let by_email = c.email.as_ref().and_then(|e| existing.by_email.get(e));
    let Some(target) = by_phone.or(by_email) else {
        return Plan::Insert(c);
    };
    // The row's email already belongs to another contact: merging would
    // give one address to two people.
    if let Some(owner) = by_email
        && owner.id != target.id
    {
        return Plan::Reject(
            row,
            RowRejection::DuplicateOfExisting {
                contact_id: owner.id,
            },
            c,
        );
    }
    // Matched by email only, but the contact has another phone: phone
    // decides identity, so this is a different person using a taken email.
    if by_phone.is_none() && c.phone.is_some() && target.phone.is_some() {
        return Plan::Reject(
            row,
            RowRejection::DuplicateOfExisting {
                contact_id: target.id,
            },
            c,
        );
    }
    if skip_existing {
        return Plan::Reject(
            row,
            RowRejection::DuplicateOfExisting {
                contact_id: target.id,
            },
            c,
        );
    }
    let merged = merged(target, c);
    if &merged == target {
        Plan::Unchanged(target.id)
    } else {
        Plan::Update(merged)
    }
}

async fn load_existing(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    tenant: Id,
    rows: &[(i64, ImportedContact)],
) -> StoreResult<ExistingIndex> {
    let mut index = ExistingIndex {
        by_phone: HashMap::new(),
        by_email: HashMap::new(),
    };
    let phones = rows.iter().filter_map(|(_, c)| c.phone.as_deref());
    let emails = rows.iter().filter_map(|(_, c)| c.email.as_deref());
    for (column, values) in [
        ("phone", json_values(phones)),
        ("email", json_values(emails)),
    ] {
        let sql = format!(
            "SELECT id, phone, email, first_name, last_name, timezone, fields_json \
             FROM contacts WHERE tenant_id = $1 AND {column} IN \
             (SELECT r.value ->> 'v' FROM {})",
            json_rows(backend, "$2")
        );
        for r in sqlx::query(&sql)
            .bind(tenant)
            .bind(values)
            .fetch_all(&mut **tx)
            .await?
        {
            let c = contact_from_row(&r);
            if let Some(p) = &c.phone {
                index.by_phone.insert(p.clone(), c.clone());
            }
            if let Some(e) = &c.email {
                index.by_email.insert(e.clone(), c);
            }
        }
    }
    Ok(index)
}

/// Inserts the new contacts; returns their ids.
async fn insert_contacts(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    tenant: Id,
    now: i64,
    contacts: &[&ImportedContact],
) -> StoreResult<Vec<Id>> {
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<_> = contacts
        .iter()
        .map(|c| {
            serde_json::json!({
                "phone": c.phone,
                "email": c.email,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "timezone": c.timezone,
                "fields": serde_json::to_string(&c.fields).expect("string map"),
            })
        })
        .collect();
    let sql = format!(
        "INSERT INTO contacts (tenant_id, phone, email, first_name, last_name, timezone, \
         fields_json, created_at, updated_at) \
         SELECT $1, r.value ->> 'phone', r.value ->> 'email', r.value ->> 'first_name', \
         r.value ->> 'last_name', r.value ->> 'timezone', r.value ->> 'fields', $2, $2 \
         FROM {} RETURNING id",
        json_rows(backend, "$3")
    );
    Ok(sqlx::query_scalar::<_, Id>(&sql)
        .bind(tenant)
        .bind(now)
        .bind(serde_json::Value::Array(rows).to_string())
        .fetch_all(&mut **tx)
        .await?)
}

async fn update_contact(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now: i64,
    c: &Contact,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE contacts SET phone = $1, email = $2, first_name = $3, last_name = $4, \
         timezone = $5, fields_json = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&c.phone)
    .bind(&c.email)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.timezone)
    .bind(serde_json::to_string(&c.fields).expect("string map"))
    .bind(now)
    .bind(c.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn add_to_list(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    tenant: Id,
    list: Id,
    contacts: &[Id],
) -> StoreResult<()> {
    if contacts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO list_contacts (list_id, contact_id, tenant_id) \
         SELECT $1, CAST(r.value ->> 'v' AS BIGINT), $2 FROM {} WHERE true \
         ON CONFLICT DO NOTHING",
        json_rows(backend, "$3")
    );
    sqlx::query(&sql)
        .bind(list)
        .bind(tenant)
        .bind(json_values(contacts.iter()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_rejections(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    tenant: Id,
    job: Id,
    rows: &[RejectedRow],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "row": r.row,
                "reason": r.reason,
                "message": r.message,
                "phone": r.phone,
                "email": r.email,
            })
        })
        .collect();
    let sql = format!(
        "INSERT INTO import_rejections (job_id, tenant_id, row_number, reason, message, \
         phone, email) \
         SELECT $1, $2, CAST(r.value ->> 'row' AS BIGINT), r.value ->> 'reason', \
         r.value ->> 'message', r.value ->> 'phone', r.value ->> 'email' FROM {} \
         WHERE true ON CONFLICT DO NOTHING",
        json_rows(backend, "$3")
    );
    sqlx::query(&sql)
        .bind(job)
        .bind(tenant)
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

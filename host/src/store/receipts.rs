//! Delivery receipts from providers, applied to members monotonically
//! (a duplicate or a late "sent" after "delivered" changes nothing). A receipt
//! that beats the send's own outcome to the database is parked in
//! `early_receipts` and applied when the outcome is recorded.

use sqlx::Row;

use super::json_rows::{json_int, json_rows, json_values};
use super::{Backend, Id, Store, StoreResult, now_ms};
use crate::domain::member::MemberStatus;

#[derive(Clone, Debug)]
pub struct Receipt {
    /// The channel the receipt came through: it applies only to messages
    /// sent on that channel (another channel's valid webhook naming this
    /// message id changes nothing).
    pub channel_id: Id,
    pub provider_message_id: String,
    pub status: MemberStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub at: i64,
}

impl Store {
    /// Applies receipts, in order, in one transaction (the engine batches
    /// callbacks with outcomes: `write_sends`). Answers, per receipt, the
    /// campaign of the member it changed, if any. A receipt for a message
    /// not yet recorded as sent is parked (see
    /// [`Self::apply_early_receipts`]).
    pub async fn apply_receipts(&self, receipts: &[(Id, Receipt)]) -> StoreResult<Vec<Option<Id>>> {
        let writes = super::SendWrites {
            receipts,
            ..Default::default()
        };
        let written = self.write_sends("", writes, 0).await?;
        Ok(written.receipts)
    }

    /// Forgets parked receipts older than `age_ms`: by then no send of ours
    /// is going to claim them (they belong to messages Herald never sent,
    /// e.g. another system on the same provider account).
    pub async fn prune_early_receipts(&self, age_ms: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM early_receipts WHERE at < $1")
            .bind(now_ms() - age_ms)
            .execute(&self.writer)
            .await?
            .rows_affected())
    }

    /// Serialises receipt application and outcome recording for one provider
    /// message id across PostgreSQL connections. SQLite has one writer.
    pub(super) async fn lock_message_id(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        provider_message_id: &str,
    ) -> StoreResult<()> {
        self.lock_message_ids(tx, &[provider_message_id]).await
    }

    /// [`Self::lock_message_id`] for several ids, in the order given, in
    /// one statement.
    pub(super) async fn lock_message_ids(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        sorted_ids: &[&str],
    ) -> StoreResult<()> {
        if self.backend == Backend::Postgres && !sorted_ids.is_empty() {
            // Counted, not returned: a row per lock cost a text value
            // decoded per message id (three per message) for nothing.
            sqlx::query(&format!(
                "SELECT COUNT(pg_advisory_xact_lock(hashtext(r.value ->> 'v'))::text) FROM {}",
                json_rows(self.backend, "$1")
            ))
            .bind(json_values(sorted_ids.iter()))
            .fetch_one(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// After a batch of sends is recorded: applies the receipts that raced
    /// ahead of them. A fixed number of statements for the whole batch
    /// (take the parked rows, apply them as one receipt batch; the caller
    /// locked the ids), whatever its size: applying them one message at a
    /// time (six statements each) was once the PostgreSQL send path's
    /// largest cost (`pg_stat_statements`, dispatch benchmark).
    pub(super) async fn apply_parked_receipts(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        accepted: &[(Id, Id, String)],
    ) -> StoreResult<()> {
        if accepted.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(Id, Id, String)> = accepted.iter().collect();
        sorted.sort_unstable_by(|a, b| a.2.cmp(&b.2));
        // Their message ids are locked already, with the transaction's
        // others (see `send_writes`).
        let parked = take_parked(tx, self.backend, &sorted).await?;
        if parked.is_empty() {
            return Ok(());
        }
        let mut receipts = Vec::new();
        let mut calls = Vec::new();
        for row in parked {
            if row.status == super::calls::PARKED_CALL {
                calls.push(row);
                continue;
            }
            let Some(status) = MemberStatus::parse(&row.status) else {
                continue;
            };
            receipts.push((
                row.tenant_id,
                Receipt {
                    channel_id: row.channel_id,
                    provider_message_id: row.provider_message_id,
                    status,
                    error_code: row.error_code,
                    error_message: row.error_message,
                    at: row.at,
                },
            ));
        }
        // In arrival order, folded per member as any receipt batch is; one
        // whose member is still not found (its send was recorded for
        // another channel) is parked again.
        super::receipt_batch::apply(tx, self.backend, &receipts).await?;
        for call in calls {
            let report = call.event_json.and_then(|e| serde_json::from_str(&e).ok());
            if let Some(report) = report {
                super::calls::apply_call(tx, call.tenant_id, &call.provider_message_id, &report)
                    .await?;
            }
        }
        Ok(())
    }
}

/// A receipt (or call report) parked before its send's outcome was
/// recorded, with the channel of the send it belongs to.
struct ParkedRow {
    tenant_id: Id,
    provider_message_id: String,
    status: String,
    error_code: Option<String>,
    error_message: Option<String>,
    at: i64,
    event_json: Option<String>,
    channel_id: Id,
}

/// Removes and answers, in arrival order, the receipts parked for the
/// sends `accepted` (tenant, channel, message id): those of the same
/// channel, or parked without one. Two statements for the batch.
async fn take_parked(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    accepted: &[&(Id, Id, String)],
) -> StoreResult<Vec<ParkedRow>> {
    let keys: Vec<_> = accepted
        .iter()
        .map(|(tenant, channel, pmid)| serde_json::json!({ "t": tenant, "c": channel, "p": pmid }))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT e.id, e.tenant_id, e.provider_message_id, e.status, e.error_code, \
         e.error_message, e.at, e.event_json, CAST(r.value ->> 'c' AS BIGINT) AS channel_id \
         FROM {} JOIN early_receipts e ON e.tenant_id = CAST(r.value ->> 't' AS BIGINT) \
         AND e.provider_message_id = r.value ->> 'p' \
         AND (e.channel_id IS NULL OR e.channel_id = CAST(r.value ->> 'c' AS BIGINT)) \
         ORDER BY e.id",
        json_rows(backend, "$1")
    ))
    .bind(serde_json::Value::Array(keys).to_string())
    .fetch_all(&mut **tx)
    .await?;
    let mut ids: Vec<Id> = Vec::with_capacity(rows.len());
    let mut parked = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Id = row.get("id");
        // The same message twice in a batch would find its rows twice.
        if ids.last() == Some(&id) {
            continue;
        }
        ids.push(id);
        parked.push(ParkedRow {
            tenant_id: row.get("tenant_id"),
            provider_message_id: row.get("provider_message_id"),
            status: row.get("status"),
            error_code: row.get("error_code"),
            error_message: row.get("error_message"),
            at: row.get("at"),
            event_json: row.get("event_json"),
            channel_id: row.get("channel_id"),
        });
    }
    if !ids.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM early_receipts WHERE id IN (SELECT {} FROM {})",
            json_int("v"),
            json_rows(backend, "$1")
        ))
        .bind(json_values(ids.iter()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(parked)
}

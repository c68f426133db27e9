//! Delivery receipts from providers, applied to members monotonically
//! (a duplicate or a late "sent" after "delivered" changes nothing). A receipt
//! that beats the send's own outcome to the database is parked in
//! `early_receipts` and applied when the outcome is recorded.

use sqlx::Row;

use super::json_rows::{json_rows, json_values};
use super::members::insert_events;
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
    /// Applies receipts, in order, in one transaction (the receipt writer
    /// batches callbacks). Answers, per receipt, the campaign of the member
    /// it changed, if any. A receipt for a message not yet recorded as sent
    /// is parked (see [`Self::apply_early_receipts`]).
    pub async fn apply_receipts(&self, receipts: &[(Id, Receipt)]) -> StoreResult<Vec<Option<Id>>> {
        let started = std::time::Instant::now();
        let mut tx = self.write_tx().await?;
        // Every message id's lock up front, in one order, so two
        // transactions locking several ids cannot deadlock.
        let mut ids: Vec<&str> = receipts
            .iter()
            .map(|(_, r)| r.provider_message_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.lock_message_ids(&mut tx, &ids).await?;
        let touched = super::receipt_batch::apply(&mut tx, self.backend, receipts).await?;
        tx.commit().await?;
        crate::metrics::db_seconds("apply_receipts", started.elapsed());
        Ok(touched)
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
            sqlx::query(&format!(
                "SELECT pg_advisory_xact_lock(hashtext(r.value ->> 'v'))::text FROM {}",
                json_rows(self.backend, "$1")
            ))
            .bind(json_values(sorted_ids.iter()))
            .fetch_all(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// After a batch of sends is recorded: applies the receipts that raced
    /// ahead of them. Two statements for the whole batch (lock the ids,
    /// find the parked ones) rather than two per message; only the few
    /// messages that have parked receipts take a closer look.
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
        // In one order (see `apply_receipts`), before looking.
        let ids: Vec<&str> = sorted.iter().map(|(_, _, pmid)| pmid.as_str()).collect();
        self.lock_message_ids(tx, &ids).await?;
        let keys: Vec<_> = sorted
            .iter()
            .map(|(tenant, channel, pmid)| serde_json::json!({ "t": tenant, "c": channel, "p": pmid }))
            .collect();
        let parked: Vec<(Id, Id, String)> = sqlx::query(&format!(
            "SELECT DISTINCT e.tenant_id, CAST(r.value ->> 'c' AS BIGINT), e.provider_message_id \
             FROM {} JOIN early_receipts e ON e.tenant_id = CAST(r.value ->> 't' AS BIGINT) \
             AND e.provider_message_id = r.value ->> 'p' \
             AND (e.channel_id IS NULL OR e.channel_id = CAST(r.value ->> 'c' AS BIGINT))",
            json_rows(self.backend, "$1")
        ))
        .bind(serde_json::Value::Array(keys).to_string())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        for (tenant, channel, pmid) in parked {
            self.apply_early_receipts(tx, tenant, channel, &pmid)
                .await?;
        }
        Ok(())
    }

    /// Applies, in arrival order, receipts parked before the member had its
    /// provider message id.
    async fn apply_early_receipts(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: Id,
        channel: Id,
        provider_message_id: &str,
    ) -> StoreResult<()> {
        self.lock_message_id(tx, provider_message_id).await?;
        let parked = sqlx::query(
            "SELECT status, error_code, error_message, at, event_json FROM early_receipts \
             WHERE tenant_id = $1 AND provider_message_id = $2 \
             AND (channel_id IS NULL OR channel_id = $3) ORDER BY id",
        )
        .bind(tenant)
        .bind(provider_message_id)
        .bind(channel)
        .fetch_all(&mut **tx)
        .await?;
        if parked.is_empty() {
            return Ok(());
        }
        let member = sqlx::query(
            "SELECT id, status FROM members WHERE tenant_id = $1 AND provider_message_id = $2",
        )
        .bind(tenant)
        .bind(provider_message_id)
        .fetch_one(&mut **tx)
        .await?;
        let member_id: Id = member.get(0);
        let mut current =
            MemberStatus::parse(&member.get::<String, _>(1)).unwrap_or(MemberStatus::Sent);
        for row in parked {
            let kind: String = row.get(0);
            if kind == super::calls::PARKED_CALL {
                let event: Option<String> = row.get(4);
                if let Some(report) = event.and_then(|e| serde_json::from_str(&e).ok()) {
                    super::calls::apply_call(tx, tenant, provider_message_id, &report).await?;
                }
                continue;
            }
            let Some(status) = MemberStatus::parse(&kind) else {
                continue;
            };
            let receipt = Receipt {
                channel_id: channel,
                provider_message_id: provider_message_id.to_owned(),
                status,
                error_code: row.get(1),
                error_message: row.get(2),
                at: row.get(3),
            };
            if apply_to_member(tx, tenant, member_id, current, &receipt).await? {
                current = status;
            }
        }
        sqlx::query("DELETE FROM early_receipts WHERE tenant_id = $1 AND provider_message_id = $2")
            .bind(tenant)
            .bind(provider_message_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Moves the member to the receipt's status if the rules allow it.
async fn apply_to_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: Id,
    member: Id,
    current: MemberStatus,
    receipt: &Receipt,
) -> StoreResult<bool> {
    if !current.accepts(receipt.status) {
        return Ok(false);
    }
    let now = now_ms();
    // A read receipt implies delivery, even when the delivered one was lost.
    let delivered_at = receipt.status.is_reached().then_some(receipt.at);
    let read_at = (receipt.status == MemberStatus::Read).then_some(receipt.at);
    sqlx::query(
        "UPDATE members SET status = $1, error_code = COALESCE($2, error_code), \
         error_message = COALESCE($3, error_message), delivered_at = COALESCE(delivered_at, $4), \
         read_at = COALESCE(read_at, $5), updated_at = $6, \
         retryable = CASE WHEN $1 = 'failed' THEN 1 ELSE retryable END \
         WHERE id = $7 AND status = $8",
    )
    .bind(receipt.status.as_str())
    .bind(&receipt.error_code)
    .bind(&receipt.error_message)
    .bind(delivered_at)
    .bind(read_at)
    .bind(now)
    .bind(member)
    .bind(current.as_str())
    .execute(&mut **tx)
    .await?;
    let detail = match &receipt.error_code {
        Some(code) => format!("receipt {} ({code})", receipt.status.as_str()),
        None => format!("receipt {}", receipt.status.as_str()),
    };
    insert_events(
        tx,
        now,
        &[(tenant, member, receipt.status.as_str(), detail)],
    )
    .await?;
    if receipt.status == MemberStatus::Failed {
        // Its fallback, if the campaign has one; else the journey ends.
        super::journeys::after_failure(tx, tenant, member, now).await?;
    }
    Ok(true)
}

//! Receipts awaited: every sent member has a row in `receipt_checks`
//! (migration 0036) from its send's outcome until its receipt, with the
//! time by which the receipt is due. Members still `sent` then are looked
//! up at the provider (`engine::reconciler`).
//!
//! Kept outside `members` so that a delivery receipt rewrites the member's
//! row in place: on PostgreSQL a rewrite that changes a column an index of
//! `members` names adds an entry to every index of the table, and an index
//! of sent members by due time named the status, which the receipt
//! changes. Here the receipt deletes one narrow row instead.

use std::collections::HashSet;

use sqlx::Row;

use super::json_rows::{id_subquery, json_int, json_rows, json_values};
use super::members::OverdueReceipt;
use super::{Backend, Id, Store, StoreResult, now_ms};

/// Expects the receipts of `members` (just sent) by `due_at`; a member
/// sent again (a follow-up) is due again from its new send.
pub(super) async fn expect(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    members: &[Id],
    due_at: i64,
) -> StoreResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    // `WHERE true`: SQLite's parser needs it before an upsert clause.
    let sql = format!(
        "INSERT INTO receipt_checks (member_id, due_at) SELECT {member}, CAST($2 AS BIGINT) \
         FROM {rows} WHERE true ON CONFLICT (member_id) DO UPDATE SET due_at = excluded.due_at",
        member = json_int("v"),
        rows = json_rows(backend, "$1"),
    );
    sqlx::query(&sql)
        .bind(json_values(members.iter()))
        .bind(due_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Stops expecting receipts for those of `members` that are no longer
/// `sent` (their receipt came, or their call ended).
pub(super) async fn settle(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    members: &[Id],
) -> StoreResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    // Each member by primary key, as the batch lists them.
    let sql = format!(
        "DELETE FROM receipt_checks WHERE member_id IN (SELECT m.id FROM members m \
         WHERE m.id IN ({ids}) AND m.status <> 'sent')",
        ids = id_subquery(backend, "$1"),
    );
    sqlx::query(&sql)
        .bind(json_values(members.iter()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Sent members whose receipt is overdue (the callback was lost, or came
    /// while no Herald was up), pushed `recheck_ms` into the future so each
    /// is looked up once per period, by one instance. Rows of members no
    /// longer sent (cancelled, deleted, sent again under a new row) are
    /// dropped on the way.
    pub async fn claim_overdue_receipts(
        &self,
        limit: i64,
        recheck_ms: i64,
    ) -> StoreResult<Vec<OverdueReceipt>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let due: Vec<Id> = sqlx::query_scalar(&format!(
            "UPDATE receipt_checks SET due_at = $1 WHERE member_id IN \
             (SELECT member_id FROM receipt_checks WHERE due_at <= $2 \
               ORDER BY due_at LIMIT $3{}) RETURNING member_id",
            self.skip_locked()
        ))
        .bind(now + recheck_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT tenant_id, id, campaign_id, provider_message_id, COALESCE(channel_id, \
               (SELECT channel_id FROM campaigns k WHERE k.id = members.campaign_id)) AS channel_id, \
               sent_channel_revision, sent_plugin_sha256 FROM members \
             WHERE id IN ({ids}) AND status = 'sent' AND provider_message_id IS NOT NULL",
            ids = id_subquery(self.backend, "$1"),
        ))
        .bind(json_values(due.iter()))
        .fetch_all(&mut *tx)
        .await?;
        let overdue: Vec<OverdueReceipt> = rows
            .iter()
            .map(|r| OverdueReceipt {
                tenant_id: r.get("tenant_id"),
                member_id: r.get("id"),
                campaign_id: r.get("campaign_id"),
                provider_message_id: r.get("provider_message_id"),
                channel_id: r.get("channel_id"),
                channel_revision: r.get("sent_channel_revision"),
                plugin_sha256: r.get("sent_plugin_sha256"),
            })
            .collect();
        if overdue.len() < due.len() {
            let still_sent: HashSet<Id> = overdue.iter().map(|o| o.member_id).collect();
            let gone: Vec<Id> = due
                .iter()
                .copied()
                .filter(|id| !still_sent.contains(id))
                .collect();
            sqlx::query(&format!(
                "DELETE FROM receipt_checks WHERE member_id IN ({})",
                id_subquery(self.backend, "$1")
            ))
            .bind(json_values(gone.iter()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(overdue)
    }
}

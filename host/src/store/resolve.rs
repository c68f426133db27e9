//! An operator's decision on members whose send's outcome is `unknown`
//! (a plugin that cannot look messages up, or a provider that could not be
//! asked): sent after all, failed, or send it again under the same key.

use sqlx::Row;

use super::credit_holds::{Settlement, settle_outcomes};
use super::receipt_checks;
use super::{Id, Selection, Store, StoreError, StoreResult, now_ms, placeholders};
use crate::domain::lifecycle::Status;

/// What the operator decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The provider has it, under this id: `sent`, its receipt awaited (and
    /// looked up) like any other send's.
    Sent { provider_message_id: String },
    /// It never went out: `failed` (retryable, so "retry failed" sends it
    /// under a new key).
    Failed,
    /// Send it again, same intent, same idempotency key.
    Resend,
}

impl Store {
    /// Applies `resolution` to the campaign's `unknown` members in
    /// `which`; returns how many changed. Their credit holds are settled:
    /// charged for `Sent`, released otherwise (a resend holds anew).
    pub async fn resolve_unknown(
        &self,
        tenant: Id,
        campaign: Id,
        which: Selection<'_>,
        resolution: &Resolution,
        receipt_due_ms: i64,
    ) -> StoreResult<u64> {
        let status = self.campaign(tenant, campaign).await?.status;
        if *resolution == Resolution::Resend
            && matches!(
                status,
                Status::Completed | Status::Cancelled | Status::Archived
            )
        {
            return Err(StoreError::Conflict(format!(
                "campaign {campaign} no longer sends; resolve them as failed, then retry failed"
            )));
        }
        let ids = match which {
            Selection::All => Vec::new(),
            Selection::Only([]) => return Ok(0),
            Selection::Only(ids) => ids.to_vec(),
        };
        let now = now_ms();
        let (set, event, charged) = match resolution {
            Resolution::Sent { .. } => (
                "status = 'sent', provider_message_id = $4, sent_at = COALESCE(sent_at, $1), \
                 next_attempt_at = $5, error_code = NULL, \
                 error_message = 'resolved by an operator: sent'",
                "resolved as sent",
                true,
            ),
            Resolution::Failed => (
                "status = 'failed', retryable = 1, next_attempt_at = $1, \
                 error_code = 'resolved_failed', \
                 error_message = 'resolved by an operator: never sent'",
                "resolved as failed",
                false,
            ),
            Resolution::Resend => (
                "status = 'queued', next_attempt_at = $1, error_code = NULL, \
                 error_message = 'resolved by an operator: sent again under the same key'",
                "resolved: send again",
                false,
            ),
        };
        // Sent binds two more: the provider's id and when to check on it.
        let first_id = if matches!(resolution, Resolution::Sent { .. }) {
            6
        } else {
            4
        };
        let only = if ids.is_empty() {
            String::new()
        } else {
            format!(" AND id IN ({})", placeholders(first_id, ids.len()))
        };
        let sql = format!(
            "UPDATE members SET {set}, reconcile_at = NULL, updated_at = $1 \
             WHERE tenant_id = $2 AND campaign_id = $3 AND status = 'unknown'{only} \
             RETURNING id, attempts"
        );
        let mut tx = self.write_tx().await?;
        let mut q = sqlx::query(&sql).bind(now).bind(tenant).bind(campaign);
        if let Resolution::Sent {
            provider_message_id,
        } = resolution
        {
            q = q.bind(provider_message_id).bind(now + receipt_due_ms);
        }
        for id in &ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let settled: Vec<Settlement> = rows
            .iter()
            .map(|r| Settlement {
                member: r.get("id"),
                attempt: r.get("attempts"),
                charged,
            })
            .collect();
        settle_outcomes(&mut tx, &settled).await?;
        if matches!(resolution, Resolution::Sent { .. }) {
            let sent: Vec<Id> = settled.iter().map(|s| s.member).collect();
            receipt_checks::expect(&mut tx, self.backend, &sent, now + receipt_due_ms).await?;
        }
        let events: Vec<_> = settled
            .iter()
            .map(|s| (tenant, s.member, "resolved", event.to_string()))
            .collect();
        super::members::insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

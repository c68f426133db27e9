//! Handing a claimed member back before anything was sent: the dispatcher
//! claimed it, then found it may not go yet (its tenant is out of credits,
//! its sender's rate limit is booked too far ahead). The member returns to
//! `queued` as it was, the claim's attempt given back, so holding it costs
//! none of its retries. The same happens to a claim whose campaign was
//! paused or cancelled while it waited for its sender's turn.

use super::members::insert_events;
use super::{Id, Store, StoreResult, now_ms};

impl Store {
    /// Returns a member claimed by `owner` to the queue, due at `due` (or
    /// when it was due), with an event saying why. False if the claim is no
    /// longer `owner`'s (its lease expired meanwhile).
    pub async fn release_claim(
        &self,
        tenant: Id,
        member: Id,
        owner: &str,
        due: Option<i64>,
        why: &str,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE members SET status = 'queued', attempts = attempts - 1, \
             lease_owner = NULL, lease_until = NULL, updated_at = $1, \
             next_attempt_at = COALESCE($2, next_attempt_at) \
             WHERE id = $3 AND tenant_id = $4 AND status IN ('claimed', 'sending') \
             AND lease_owner = $5",
        )
        .bind(now)
        .bind(due)
        .bind(member)
        .bind(tenant)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            insert_events(&mut tx, now, &[(tenant, member, "held", why.to_owned())]).await?;
        }
        tx.commit().await?;
        Ok(changed > 0)
    }

    /// Whether `campaign` still sends: what a claim waiting for its turn
    /// checks before it goes, so a pause stops it too.
    pub async fn campaign_sends(&self, campaign: Id) -> StoreResult<bool> {
        let sends: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE id = $1 AND status IN ('running', 'retrying')",
        )
        .bind(campaign)
        .fetch_optional(&self.pool)
        .await?;
        Ok(sends.is_some())
    }
}

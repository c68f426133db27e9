//! Campaign status changes. Every one, whether a user asks for it or the
//! engine reports it, is checked against the lifecycle table
//! (`domain::lifecycle`) and written compare-and-set, with its side effects
//! on members in the same transaction.

use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::lifecycle::{Action, Outcome, Status};

/// Members not yet sent: what a cancel cancels.
/// Members a cancel stops: not sent yet, including claims whose plugin call
/// has not started (the dispatcher finds them cancelled and leaves them).
const UNSENT: &str = "('queued', 'claimed', 'awaiting_approval', 'approved', 'disabled')";

impl Store {
    /// Applies `action` to a campaign. A refused action is
    /// `StoreError::Refused`, naming what is allowed; losing a race with
    /// another change is `StoreError::Conflict`. `detail` is the reason in
    /// words (shown as `status_reason`).
    pub async fn transition_campaign(
        &self,
        tenant: Id,
        id: Id,
        action: Action,
        detail: Option<&str>,
    ) -> StoreResult<Outcome> {
        let campaign = self.campaign(tenant, id).await?;
        let from = campaign.status;
        let outcome = from.apply(action)?;
        match outcome {
            // Running for the first time: its audience becomes members.
            Outcome::Becomes(Status::Running) if campaign.started_at.is_none() => {
                self.start_campaign(tenant, id, campaign.kind, from).await?;
            }
            Outcome::Becomes(to) => {
                self.set_status(tenant, id, from, to, action, detail)
                    .await?;
                if action == Action::RetryFailed {
                    // Nothing to retry: it is complete again at once.
                    self.complete_finished_campaigns(&[id]).await?;
                }
            }
            Outcome::Deleted => self.delete_campaign(tenant, id, from).await?,
        }
        Ok(outcome)
    }

    /// Campaigns stopped by a plugin fault, with their channel's plugin and
    /// pinned version: (tenant, campaign, plugin, pinned sha256).
    pub async fn stopped_campaigns(&self) -> StoreResult<Vec<(Id, Id, String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT k.tenant_id, k.id, c.plugin, c.pinned_sha256 FROM campaigns k \
             JOIN channels c ON c.id = k.channel_id WHERE k.status = 'stopped' ORDER BY k.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    async fn set_status(
        &self,
        tenant: Id,
        id: Id,
        from: Status,
        to: Status,
        action: Action,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        let now = now_ms();
        let finished = matches!(to, Status::Completed | Status::Cancelled);
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE campaigns SET status = $1, status_cause = $2, status_reason = $3, \
             finished_at = CASE WHEN $4 THEN $5 ELSE finished_at END \
             WHERE tenant_id = $6 AND id = $7 AND status = $8",
        )
        .bind(to.as_str())
        .bind(to.reason())
        .bind(detail)
        .bind(finished)
        .bind(now)
        .bind(tenant)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(changed_meanwhile());
        }
        if to == Status::Cancelled {
            sqlx::query(&format!(
                "UPDATE members SET status = 'cancelled', updated_at = $1, lease_owner = NULL, \
                 lease_until = NULL WHERE campaign_id = $2 AND status IN {UNSENT}"
            ))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            // Planned follow-ups go with it.
            sqlx::query(
                "UPDATE members SET next_step = NULL, next_step_at = NULL \
                 WHERE campaign_id = $1 AND next_step IS NOT NULL",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        if action == Action::RetryFailed {
            // A new intent: a new idempotency key (the claim makes one when
            // there is none), and the old provider id dropped so a late
            // receipt for the failed message cannot land on the new one.
            let rows = sqlx::query(
                "UPDATE members SET status = 'queued', next_attempt_at = $1, retryable = 0, \
                 provider_message_id = NULL, error_code = NULL, error_message = NULL, \
                 idempotency_key = NULL, updated_at = $1 \
                 WHERE campaign_id = $2 AND status = 'failed' AND retryable = 1 \
                 RETURNING tenant_id, id",
            )
            .bind(now)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let events: Vec<_> = rows
                .iter()
                .map(|r| (r.get(0), r.get(1), "retry", "retry failed".to_string()))
                .collect();
            super::members::insert_events(&mut tx, now, &events).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a campaign that is not live (or is over) with everything that
    /// hangs off it; an import that fed it keeps its history, unlinked.
    async fn delete_campaign(&self, tenant: Id, id: Id, from: Status) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let of_members = "(SELECT id FROM members WHERE campaign_id = $1)";
        for sql in [
            format!("DELETE FROM member_events WHERE member_id IN {of_members}"),
            format!("DELETE FROM conversation_messages WHERE member_id IN {of_members}"),
            format!("DELETE FROM receipt_checks WHERE member_id IN {of_members}"),
            "DELETE FROM sessions WHERE campaign_id = $1".to_string(),
            "DELETE FROM members WHERE campaign_id = $1".to_string(),
            "DELETE FROM campaign_tags WHERE campaign_id = $1".to_string(),
            "UPDATE import_jobs SET campaign_id = NULL WHERE campaign_id = $1".to_string(),
        ] {
            sqlx::query(&sql).bind(id).execute(&mut *tx).await?;
        }
        let deleted =
            sqlx::query("DELETE FROM campaigns WHERE tenant_id = $1 AND id = $2 AND status = $3")
                .bind(tenant)
                .bind(id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Err(changed_meanwhile());
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The statuses from which `action` leads to `to`, quoted for an SQL `IN`
/// list: for the engine's set-based changes (completion), which cannot read
/// and check each campaign first.
pub(super) fn sources(action: Action, to: Status) -> String {
    let mut names: Vec<String> = Status::ALL
        .into_iter()
        .filter(|s| s.apply(action) == Ok(Outcome::Becomes(to)))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    names.dedup();
    names.join(", ")
}

/// A compare-and-set status change lost to a concurrent one.
pub(super) fn changed_meanwhile() -> StoreError {
    StoreError::Conflict("the campaign changed status meanwhile; reload it".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_applies_to_the_statuses_the_table_says() {
        assert_eq!(
            sources(Action::AllFinal, Status::Completed),
            "'running', 'retrying'"
        );
    }
}

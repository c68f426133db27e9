//! Campaign end dates: once a campaign's `ends_at` has passed, nothing more
//! is sent (the claim also refuses it, so nothing goes out between two
//! passes of the scheduler), members not yet sent end `expired`, pending
//! follow-ups and fallbacks are dropped, and the campaign completes.

use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::lifecycle::Action;

impl Store {
    /// Ends every live campaign whose end date has passed. Answers (tenant,
    /// campaign, members expired) of those this call ended; another
    /// instance ending one first is not an error.
    pub async fn end_due_campaigns(&self) -> StoreResult<Vec<(Id, Id, u64)>> {
        let now = now_ms();
        let due = sqlx::query(
            "SELECT tenant_id, id FROM campaigns WHERE ends_at IS NOT NULL AND ends_at <= $1 \
             AND status NOT IN ('draft', 'completed', 'cancelled', 'archived') \
             ORDER BY ends_at LIMIT 50",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut ended = Vec::new();
        for r in due {
            let (tenant, id): (Id, Id) = (r.get(0), r.get(1));
            let expired = self.expire_members(id, now).await?;
            match self
                .transition_campaign(tenant, id, Action::EndDatePassed, Some("end date passed"))
                .await
            {
                Ok(_) => ended.push((tenant, id, expired)),
                // Finished meanwhile (e.g. its last member just completed).
                Err(StoreError::Conflict(_) | StoreError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ended)
    }

    /// Members of `campaign` not sent yet -> `expired`; pending next steps
    /// (follow-ups, fallbacks) of the others are dropped. Members in flight
    /// (claimed before the end) keep their outcome.
    async fn expire_members(&self, campaign: Id, now: i64) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "UPDATE members SET status = 'expired', next_step_at = NULL, \
             error_code = 'end_date_passed', \
             error_message = 'the campaign ended before this member''s turn', updated_at = $1 \
             WHERE campaign_id = $2 \
             AND status IN ('queued', 'awaiting_approval', 'approved', 'disabled') \
             RETURNING id, tenant_id",
        )
        .bind(now)
        .bind(campaign)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE members SET next_step_at = NULL, updated_at = $1 \
             WHERE campaign_id = $2 AND next_step_at IS NOT NULL",
        )
        .bind(now)
        .bind(campaign)
        .execute(&mut *tx)
        .await?;
        let events: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<Id, _>(1),
                    r.get::<Id, _>(0),
                    "expired",
                    "the campaign's end date passed before its turn".to_owned(),
                )
            })
            .collect();
        super::members::insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

//! The send path's writes, in one transaction: sends about to start
//! (`claimed` -> `sending`), the outcomes of sends, and the delivery
//! receipts of callbacks. Each came in transactions of its own, each
//! rewriting the same campaigns' tallies and the same index pages and
//! paying a transaction's fixed costs (on SQLite, the one writer's turn, a
//! WAL commit, a worker hop per statement); the engine's send writer
//! (`engine::send_writer`) takes whatever of the three is waiting and
//! writes it together.

use super::members::ClaimedMember;
use super::{Id, Receipt, SendOutcome, Store, StoreResult};

/// What one transaction of the send path writes.
#[derive(Clone, Copy, Default)]
pub struct SendWrites<'a> {
    /// Claims whose plugin calls start now (see [`Store::start_sends`]).
    pub starts: &'a [Id],
    /// Outcomes of sends (see [`Store::record_outcomes`]).
    pub outcomes: &'a [(ClaimedMember, SendOutcome)],
    /// Delivery receipts with their tenants (see [`Store::apply_receipts`]).
    pub receipts: &'a [(Id, Receipt)],
}

/// What [`Store::write_sends`] changed.
pub struct Written {
    /// The claims in `starts` that may go.
    pub started: Vec<Id>,
    /// The campaigns of the outcomes written, each once.
    pub campaigns: Vec<Id>,
    /// Per receipt, in order: the campaign of the member it changed.
    pub receipts: Vec<Option<Id>>,
}

impl Store {
    /// Writes `writes` in one transaction, for `owner`'s claims: the starts,
    /// then the outcomes, then the receipts, so a receipt for a send
    /// recorded in the same batch finds its member instead of being parked.
    /// An accepted member's receipt is due `receipt_due_ms` from now.
    pub async fn write_sends(
        &self,
        owner: &str,
        writes: SendWrites<'_>,
        receipt_due_ms: i64,
    ) -> StoreResult<Written> {
        let SendWrites {
            starts,
            outcomes,
            receipts,
        } = writes;
        let started_at = std::time::Instant::now();
        let mut tx = self.write_tx().await?;
        // Every message id's lock up front, in one order, so two
        // transactions locking several ids cannot deadlock.
        let mut ids: Vec<&str> = receipts
            .iter()
            .map(|(_, r)| r.provider_message_id.as_str())
            .chain(outcomes.iter().filter_map(|(_, o)| match o {
                SendOutcome::Accepted {
                    provider_message_id,
                    ..
                } => Some(provider_message_id.as_str()),
                _ => None,
            }))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.lock_message_ids(&mut tx, &ids).await?;
        let started = if starts.is_empty() {
            Vec::new()
        } else {
            self.start_sends_in(&mut tx, owner, starts).await?
        };
        if !outcomes.is_empty() {
            self.record_outcomes_in(&mut tx, owner, outcomes, receipt_due_ms)
                .await?;
        }
        let applied = if receipts.is_empty() {
            Vec::new()
        } else {
            super::receipt_batch::apply(&mut tx, self.backend, receipts).await?
        };
        tx.commit().await?;
        let statement = match (starts.is_empty(), outcomes.is_empty(), receipts.is_empty()) {
            (false, true, true) => "start_sends",
            (true, false, true) => "record_outcomes",
            (true, true, false) => "apply_receipts",
            _ => "send_writes",
        };
        crate::metrics::db_seconds(statement, started_at.elapsed());
        let mut campaigns: Vec<Id> = outcomes.iter().map(|(m, _)| m.campaign_id).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        Ok(Written {
            started,
            campaigns,
            receipts: applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::super::{Receipt, SendOutcome, SendRoom, now_ms};
    use super::SendWrites;
    use crate::domain::member::MemberStatus;

    /// Sends started, then a send's outcome and its delivery receipt that
    /// reach the writer together: they land together: the receipt finds the member the outcome
    /// records (not parked for later), and its campaign is answered, so
    /// the callback's completion check runs.
    #[tokio::test]
    async fn a_receipt_written_with_its_sends_outcome_applies_to_the_member() {
        for db in test_store::backends().await {
            let store = &db.store;
            let (campaign, _) = test_store::sendable_campaign(store, 2).await;
            let room = SendRoom {
                new_tenant: 10,
                new_plugin: 10,
                ..SendRoom::default()
            };
            let claimed = store.claim_due("here", 60_000, 2, &room).await.unwrap();
            assert_eq!(claimed.len(), 2, "both members claimed");
            let ids: Vec<_> = claimed.iter().map(|m| m.id).collect();
            let starts = SendWrites {
                starts: &ids,
                ..SendWrites::default()
            };
            let written = store.write_sends("here", starts, 60_000).await.unwrap();
            assert_eq!(written.started, ids, "both sends may start");
            let now = now_ms();
            let outcomes: Vec<_> = claimed
                .iter()
                .map(|m| {
                    let outcome = SendOutcome::Accepted {
                        provider_message_id: format!("SM{}", m.id),
                        at: now,
                        summary: "Hi".into(),
                    };
                    (m.clone(), outcome)
                })
                .collect();
            let first = &claimed[0];
            let receipt = Receipt {
                channel_id: first.channel_id,
                provider_message_id: format!("SM{}", first.id),
                status: MemberStatus::Delivered,
                error_code: None,
                error_message: None,
                at: now + 1,
            };
            let receipts = [(first.tenant_id, receipt)];
            let after_calls = SendWrites {
                outcomes: &outcomes,
                receipts: &receipts,
                ..SendWrites::default()
            };
            let written = store
                .write_sends("here", after_calls, 60_000)
                .await
                .unwrap();
            assert_eq!(written.campaigns, [campaign]);
            assert_eq!(written.receipts, [Some(campaign)]);
            let status = |id| {
                sqlx::query_scalar::<_, String>("SELECT status FROM members WHERE id = $1")
                    .bind(id)
                    .fetch_one(&store.pool)
            };
            assert_eq!(status(ids[0]).await.unwrap(), "delivered");
            assert_eq!(status(ids[1]).await.unwrap(), "sent");
        }
    }
}

//! Seed 001's Pending: a campaign with `wait_for_sender` that starts while
//! another campaign of its tenant is sending on the same channel waits in
//! `pending` (lifecycle `sender_busy`), and starts (`sender_free`) once no
//! other campaign sends there, the oldest waiting one first.

use sqlx::Row;

use super::{Id, Store, StoreResult};
use crate::domain::lifecycle::{Action, Outcome, Status};

/// Campaign statuses that hold a sender: sending, or next in line.
const HOLDING: &str = "('running', 'retrying', 'pending')";

/// Where `sender_busy` takes a campaign that has just started running.
fn waiting() -> Status {
    match Status::Running.apply(Action::SenderBusy) {
        Ok(Outcome::Becomes(s)) => s,
        _ => unreachable!("the lifecycle lets a running campaign wait for its sender"),
    }
}

/// In the transaction that starts campaign `id`: if it waits for its sender
/// and another campaign holds it, it becomes `pending` before any of its
/// members can be claimed (the claim only takes running campaigns).
pub(super) async fn hold_if_busy(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: Id,
    id: Id,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE campaigns SET status = $1, status_reason = $2 \
         WHERE tenant_id = $3 AND id = $4 AND status = 'running' AND wait_for_sender <> 0 \
         AND EXISTS (SELECT 1 FROM campaigns o WHERE o.tenant_id = $3 AND o.id <> $4 \
             AND o.channel_id = campaigns.channel_id AND o.status IN {HOLDING})"
    ))
    .bind(waiting().as_str())
    .bind("waiting for another campaign on the same sender")
    .bind(tenant)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Pending campaigns whose sender no other campaign is sending on, the
    /// oldest per (tenant, channel): (tenant, campaign).
    pub async fn pending_with_free_sender(&self) -> StoreResult<Vec<(Id, Id)>> {
        let rows = sqlx::query(
            "SELECT p.tenant_id, p.id, p.channel_id FROM campaigns p WHERE p.status = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM campaigns o WHERE o.tenant_id = p.tenant_id \
                 AND o.channel_id = p.channel_id AND o.id <> p.id \
                 AND o.status IN ('running', 'retrying')) \
             ORDER BY p.started_at, p.id LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut seen = std::collections::HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|r| seen.insert((r.get::<Id, _>(0), r.get::<Id, _>(2))))
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }
}

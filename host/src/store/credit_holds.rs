//! Credit reservations: held right before a send's plugin call, settled
//! once its outcome is written (charged when the provider took the message,
//! released otherwise).
//!
//! Each reservation is a row of `credit_holds` next to the balance it moved,
//! written in the same transaction, so it outlives the process that made
//! it; it is settled in the transaction that writes the send's outcome, so
//! a crash cannot fall between the two. A send whose outcome was not seen
//! (`unknown`: a timeout after the request left, or a crash mid-call) keeps
//! its hold until the provider is asked: charged if it has the message or
//! nobody can tell, released if it does not (the resend holds anew).

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::json_rows::{backend_of, json_array, json_int, json_rows};
use super::{Id, Store, StoreResult, now_ms};

/// What a reservation attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// The tenant is not metered: nothing was held.
    Unmetered,
    /// `amount` moved from available to reserved.
    Held,
    /// Not enough available; nothing changed.
    Insufficient { available: i64 },
}

/// One send's reservation request.
#[derive(Clone, Copy, Debug)]
pub struct Hold {
    pub tenant: Id,
    pub campaign: Id,
    pub member: Id,
    pub attempt: i64,
    pub amount: i64,
}

/// The end of one send's reservation: charged (the provider took the
/// message) or released (nothing went out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub member: Id,
    pub attempt: i64,
    pub charged: bool,
}

impl Store {
    /// Holds a send's cost, atomically: the statement that subtracts also
    /// checks there is enough, so no interleaving of sends (threads or
    /// instances) can take the balance below zero.
    pub async fn reserve_credits(&self, hold: Hold) -> StoreResult<Reserved> {
        // A read first: unmetered tenants (the default) never take SQLite's
        // write lock on the send path.
        let available: Option<i64> =
            sqlx::query_scalar("SELECT available FROM tenant_credits WHERE tenant_id = $1")
                .bind(hold.tenant)
                .fetch_optional(&self.pool)
                .await?;
        let Some(available) = available else {
            return Ok(Reserved::Unmetered);
        };
        if hold.amount <= 0 {
            return Ok(Reserved::Held);
        }
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let held: Option<i64> = sqlx::query_scalar(
            "UPDATE tenant_credits SET available = available - $2, reserved = reserved + $2, \
             updated_at = $3 WHERE tenant_id = $1 AND available >= $2 RETURNING available",
        )
        .bind(hold.tenant)
        .bind(hold.amount)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_none() {
            // Another send may have spent it since the read: report the
            // figure as read, which is only informative.
            return Ok(Reserved::Insufficient { available });
        }
        sqlx::query(
            "INSERT INTO credit_holds (member_id, attempt, tenant_id, campaign_id, amount, held_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hold.member)
        .bind(hold.attempt)
        .bind(hold.tenant)
        .bind(hold.campaign)
        .bind(hold.amount)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Reserved::Held)
    }

    /// Settles a batch of reservations in one transaction (see
    /// [`settle_outcomes`]); the engine settles inside its outcome write.
    #[cfg(test)]
    pub async fn settle_credits(&self, settlements: &[Settlement]) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        settle_outcomes(&mut tx, settlements).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Settles the reservations of sends whose outcomes are written in `tx`:
/// charged ones leave `reserved` for `charged` (one ledger row per
/// campaign), released ones go back to `available`. A send that held
/// nothing (unmetered tenant) or was settled already (by the lease
/// sweeper) is skipped: each reservation is settled once, with its outcome.
pub(super) async fn settle_outcomes(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    settlements: &[Settlement],
) -> StoreResult<()> {
    if settlements.is_empty() {
        return Ok(());
    }
    let charges: HashMap<(Id, i64), bool> = settlements
        .iter()
        .map(|s| ((s.member, s.attempt), s.charged))
        .collect();
    let backend = backend_of(tx);
    let holds: Vec<_> = charges
        .keys()
        .map(|(m, a)| serde_json::json!({ "m": m, "a": a }))
        .collect();
    // The batch as one JSON parameter: the same text every time, prepared
    // once (a `VALUES` list written into the SQL was parsed for every
    // outcome batch, whether or not anything was held).
    let rows = sqlx::query(&format!(
        "DELETE FROM credit_holds WHERE (member_id, attempt) IN \
         (SELECT {member}, {attempt} FROM {rows}) \
         RETURNING member_id, attempt, tenant_id, campaign_id, amount",
        member = json_int("m"),
        attempt = json_int("a"),
        rows = json_rows(backend, "$1"),
    ))
    .bind(json_array(&holds))
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    // tenant -> (released, charged, campaign -> (charged, messages))
    type PerCampaign = BTreeMap<Id, (i64, i64)>;
    let mut by_tenant: BTreeMap<Id, (i64, i64, PerCampaign)> = BTreeMap::new();
    for r in &rows {
        let (member, attempt, tenant, campaign, amount): (Id, i64, Id, Id, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let t = by_tenant.entry(tenant).or_default();
        if charges.get(&(member, attempt)).copied().unwrap_or(false) {
            t.1 += amount;
            let c = t.2.entry(campaign).or_default();
            c.0 += amount;
            c.1 += 1;
        } else {
            t.0 += amount;
        }
    }
    let now = now_ms();
    for (tenant, (released, charged, campaigns)) in by_tenant {
        let held = released + charged;
        // Never below zero, should records disagree (an admin reset).
        let available: Option<i64> = sqlx::query_scalar(
            "UPDATE tenant_credits SET \
             reserved = CASE WHEN reserved > $2 THEN reserved - $2 ELSE 0 END, \
             available = available + $3, charged = charged + $4, updated_at = $5 \
             WHERE tenant_id = $1 RETURNING available",
        )
        .bind(tenant)
        .bind(held)
        .bind(released)
        .bind(charged)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(available) = available else {
            continue;
        };
        for (campaign, (amount, messages)) in campaigns {
            sqlx::query(
                "INSERT INTO credit_ledger (tenant_id, at, kind, amount, campaign_id, \
                 messages, balance_after) VALUES ($1, $2, 'charge', $3, $4, $5, $6)",
            )
            .bind(tenant)
            .bind(now)
            .bind(-amount)
            .bind(campaign)
            .bind(messages)
            .bind(available)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

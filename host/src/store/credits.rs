//! Tenant credits in the database: the balance, top-ups, and the ledger
//! operators read (reservations and their settlement: `credit_holds`).
//!
//! The arithmetic is `domain::credits` (what a send costs; reserve/settle
//! semantics); here each step is one conditional statement, so concurrent
//! dispatchers (threads or instances) can never spend the same credit twice:
//! `available >= amount` is checked by the `UPDATE` that subtracts it.
//!
//! A tenant without a `tenant_credits` row is not metered (unlimited): its
//! sends reserve nothing. The first top-up creates the row.

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::lifecycle::{PauseReason, Status};

/// Campaigns a top-up resumes.
const PAUSED_FOR_CREDITS: Status = Status::Paused(PauseReason::InsufficientCredits);

/// The status reason of a campaign paused because its tenant ran out of
/// credits; a top-up resumes exactly these.
pub const INSUFFICIENT_CREDITS: &str = "insufficient credits";

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct CreditBalance {
    /// False: the tenant is unlimited (no credits configured); the figures
    /// below are then zero.
    pub metered: bool,
    /// Free to spend.
    pub available: i64,
    /// Held for sends in flight (charged or released when they finish).
    pub reserved: i64,
    /// Spent since metering began.
    pub charged: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: Id,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    /// `top_up`, `adjustment` (an admin's negative amount) or `charge`.
    pub kind: String,
    /// Signed: positive adds credits, negative takes them.
    pub amount: i64,
    /// Charges: the campaign that sent.
    pub campaign_id: Option<Id>,
    /// Charges: how many accepted sends this row covers.
    pub messages: Option<i64>,
    pub note: Option<String>,
    /// `available` right after this movement.
    pub balance_after: i64,
}

/// A top-up's result: the new balance and the campaigns it resumed.
#[derive(Debug)]
pub struct TopUp {
    pub balance: CreditBalance,
    pub resumed: Vec<Id>,
}

impl Store {
    pub async fn credit_balance(&self, tenant: Id) -> StoreResult<CreditBalance> {
        let row = sqlx::query(
            "SELECT available, reserved, charged FROM tenant_credits WHERE tenant_id = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| balance_from_row(&r)).unwrap_or_default())
    }

    /// Admin: adds `amount` credits (or takes them, if negative, never below
    /// zero), starting metering for a tenant that had none. When credits are
    /// then available, campaigns paused for insufficient credits resume in
    /// the same transaction.
    pub async fn adjust_credits(
        &self,
        tenant: Id,
        amount: i64,
        note: Option<&str>,
    ) -> StoreResult<TopUp> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let exists: Option<Id> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let row = if amount >= 0 {
            sqlx::query(
                "INSERT INTO tenant_credits (tenant_id, available, reserved, charged, updated_at) \
                 VALUES ($1, $2, 0, 0, $3) ON CONFLICT (tenant_id) DO UPDATE \
                 SET available = tenant_credits.available + excluded.available, \
                 updated_at = excluded.updated_at RETURNING available, reserved, charged",
            )
            .bind(tenant)
            .bind(amount)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        } else {
            let row = sqlx::query(
                "UPDATE tenant_credits SET available = available + $2, updated_at = $3 \
                 WHERE tenant_id = $1 AND available + $2 >= 0 \
                 RETURNING available, reserved, charged",
            )
            .bind(tenant)
            .bind(amount)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) => row,
                None => {
                    let available: Option<i64> = sqlx::query_scalar(
                        "SELECT available FROM tenant_credits WHERE tenant_id = $1",
                    )
                    .bind(tenant)
                    .fetch_optional(&mut *tx)
                    .await?;
                    return Err(StoreError::Conflict(format!(
                        "cannot take {} credits: {} available",
                        -amount,
                        available.unwrap_or(0)
                    )));
                }
            }
        };
        let balance = balance_from_row(&row);
        sqlx::query(
            "INSERT INTO credit_ledger (tenant_id, at, kind, amount, note, balance_after) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant)
        .bind(now)
        .bind(if amount >= 0 { "top_up" } else { "adjustment" })
        .bind(amount)
        .bind(note)
        .bind(balance.available)
        .execute(&mut *tx)
        .await?;
        let resumed: Vec<Id> = if balance.available > 0 {
            sqlx::query_scalar(
                "UPDATE campaigns SET status = $1, status_cause = NULL, status_reason = NULL \
                 WHERE tenant_id = $2 AND status = $3 AND status_cause = $4 RETURNING id",
            )
            .bind(Status::Running.as_str())
            .bind(tenant)
            .bind(PAUSED_FOR_CREDITS.as_str())
            .bind(PAUSED_FOR_CREDITS.reason())
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(TopUp { balance, resumed })
    }

    /// Resumes one campaign paused for insufficient credits (a top-up may
    /// have landed between a refused reservation and the pause). False if it
    /// is not paused for that reason.
    pub async fn resume_paused_for_credits(&self, tenant: Id, campaign: Id) -> StoreResult<bool> {
        let changed = sqlx::query(
            "UPDATE campaigns SET status = $1, status_cause = NULL, status_reason = NULL \
             WHERE tenant_id = $2 AND id = $3 AND status = $4 AND status_cause = $5",
        )
        .bind(Status::Running.as_str())
        .bind(tenant)
        .bind(campaign)
        .bind(PAUSED_FOR_CREDITS.as_str())
        .bind(PAUSED_FOR_CREDITS.reason())
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    /// The newest ledger rows first; `before` pages back (an id from the
    /// previous page).
    pub async fn credit_ledger(
        &self,
        tenant: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, kind, amount, campaign_id, messages, note, balance_after \
             FROM credit_ledger WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerEntry {
                id: r.get(0),
                at: r.get(1),
                kind: r.get(2),
                amount: r.get(3),
                campaign_id: r.get(4),
                messages: r.get(5),
                note: r.get(6),
                balance_after: r.get(7),
            })
            .collect())
    }
}

fn balance_from_row(r: &sqlx::any::AnyRow) -> CreditBalance {
    CreditBalance {
        metered: true,
        available: r.get(0),
        reserved: r.get(1),
        charged: r.get(2),
    }
}

#[cfg(test)]
#[path = "credits_tests.rs"]
mod tests;

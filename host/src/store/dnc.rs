//! The tenant's do-not-contact list: addresses never sent to.

use serde::Serialize;
use sqlx::Row;

use std::collections::BTreeMap;

use super::{Id, Store, StoreError, StoreResult, now_ms, placeholders};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DncEntry {
    /// E.164 phone number or lowercased email.
    pub address: String,
    /// `api`, `import`, or `reply:KEYWORD` for an opt-out by message.
    pub source: String,
    pub note: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// Adds addresses; ones already listed keep their first entry. Returns
    /// how many were new.
    pub async fn add_dnc(
        &self,
        tenant: Id,
        addresses: &[String],
        source: &str,
        note: Option<&str>,
    ) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut added = 0;
        for address in addresses {
            added += sqlx::query(
                "INSERT INTO do_not_contact (tenant_id, address, source, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, address) DO NOTHING",
            )
            .bind(tenant)
            .bind(address)
            .bind(source)
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    pub async fn remove_dnc(&self, tenant: Id, address: &str) -> StoreResult<()> {
        let removed =
            sqlx::query("DELETE FROM do_not_contact WHERE tenant_id = $1 AND address = $2")
                .bind(tenant)
                .bind(address)
                .execute(&self.pool)
                .await?
                .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn is_dnc(&self, tenant: Id, address: &str) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM do_not_contact WHERE tenant_id = $1 AND address = $2",
        )
        .bind(tenant)
        .bind(address)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Entries after `after` (by address), in address order.
    pub async fn dnc_page(
        &self,
        tenant: Id,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<DncEntry>> {
        let rows = sqlx::query(
            "SELECT address, source, note, created_at FROM do_not_contact \
             WHERE tenant_id = $1 AND address > $2 ORDER BY address LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DncEntry {
                address: r.get(0),
                source: r.get(1),
                note: r.get(2),
                created_at: r.get(3),
            })
            .collect())
    }
}

/// The do-not-contact check at send time: claimed members whose address the
/// tenant listed since they were enrolled end `disqualified` instead of
/// being sent (their attempt is given back). Returns them, with their
/// campaign.
pub(super) async fn disqualify_listed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    claimed: &[sqlx::any::AnyRow],
    now: i64,
) -> StoreResult<BTreeMap<Id, Id>> {
    let ids: Vec<Id> = claimed.iter().map(|r| r.get(0)).collect();
    let sql = format!(
        "UPDATE members SET status = 'disqualified', attempts = attempts - 1, \
         lease_owner = NULL, lease_until = NULL, error_code = 'do_not_contact', \
         error_message = 'the address is on the do-not-contact list', updated_at = $1 \
         WHERE id IN ({}) AND EXISTS (SELECT 1 FROM do_not_contact d \
           WHERE d.tenant_id = members.tenant_id AND d.address = members.address) \
         RETURNING id, tenant_id, campaign_id",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(&sql).persistent(false).bind(now);
    for id in &ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(&mut **tx).await?;
    let events: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.get::<Id, _>(1),
                r.get::<Id, _>(0),
                "disqualified",
                "on the do-not-contact list at send time".to_owned(),
            )
        })
        .collect();
    super::members::insert_events(tx, now, &events).await?;
    if !rows.is_empty() {
        tracing::info!(
            members = rows.len(),
            "sends skipped: addresses on the do-not-contact list"
        );
    }
    Ok(rows.iter().map(|r| (r.get(0), r.get(2))).collect())
}

//! The tenant's do-not-contact list: addresses never sent to.

use serde::Serialize;
use sqlx::Row;

use super::send_checks::SendCheck;
use super::{Id, Store, StoreError, StoreResult, now_ms};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DncEntry {
    /// E.164 phone number or lowercased email.
    pub address: String,
    /// `api`, `import`, or `reply:KEYWORD` for an opt-out by message.
    pub source: String,
    pub note: Option<String>,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
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
                .execute(&self.writer)
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
/// tenant listed since they were enrolled are not sent.
pub(super) const NOT_LISTED: SendCheck = SendCheck {
    code: "do_not_contact",
    message: "the address is on the do-not-contact list",
    stops_when: "EXISTS (SELECT 1 FROM do_not_contact d \
        WHERE d.tenant_id = members.tenant_id AND d.address = members.address)",
    event: "on the do-not-contact list at send time",
    log: "sends skipped: addresses on the do-not-contact list",
};

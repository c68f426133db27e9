//! Campaign tags (seed 002): the default tag is a column of `campaigns`
//! (kept in step with the name); the custom ones live here, so the list can
//! filter by tag with one portable `EXISTS`.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Id, Store, StoreResult, placeholders};

/// Replaces a campaign's custom tags (already normalised) in `tx`.
pub(super) async fn set_tags(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: Id,
    campaign: Id,
    tags: &[String],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM campaign_tags WHERE campaign_id = $1")
        .bind(campaign)
        .execute(&mut **tx)
        .await?;
    for (position, tag) in tags.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campaign_tags (tenant_id, campaign_id, tag, position) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(campaign)
        .bind(tag)
        .bind(position as i64)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The custom tags of each of `campaigns`, in the order given.
    pub(super) async fn campaign_tags(
        &self,
        tenant: Id,
        campaigns: &[Id],
    ) -> StoreResult<BTreeMap<Id, Vec<String>>> {
        let mut out: BTreeMap<Id, Vec<String>> = BTreeMap::new();
        if campaigns.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT campaign_id, tag FROM campaign_tags WHERE tenant_id = $1 \
             AND campaign_id IN ({}) ORDER BY campaign_id, position",
            placeholders(2, campaigns.len())
        );
        let mut q = sqlx::query(&sql).bind(tenant);
        for id in campaigns {
            q = q.bind(id);
        }
        for r in q.fetch_all(&self.pool).await? {
            out.entry(r.get(0)).or_default().push(r.get(1));
        }
        Ok(out)
    }

    /// All tags of one campaign, default first: what its replies and
    /// conversations carry.
    pub async fn tags_of(&self, tenant: Id, campaign: Id) -> StoreResult<Vec<String>> {
        Ok(self.campaign(tenant, campaign).await?.tags)
    }
}

//! The campaign grid (seed 000): filters, pagination with a total, and each
//! row's progress columns.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::campaigns::{COLUMN_COUNT, COLUMNS, Campaign, Progress, campaign_from_row};
use super::{Id, Store, StoreResult, placeholders};

/// What the list is narrowed to; every filter is optional.
#[derive(Default)]
pub struct CampaignFilter {
    /// `sms`, `whatsapp`, `voice`, `email`.
    pub kind: Option<String>,
    /// A lifecycle status name (`running`, `paused`...).
    pub status: Option<String>,
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    /// A tag, default or custom (already a slug).
    pub tag: Option<String>,
}

/// Where a page starts: after a campaign id (keyset, stable while rows are
/// added) or at a page number.
pub enum PageAt {
    After(Id),
    Page(i64),
}

/// One row of the grid: the campaign, its channel and list names, and its
/// progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignRow {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub channel_name: Option<String>,
    pub list_name: Option<String>,
    pub target: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub replied: i64,
    /// Members in a final state, as a percentage of the target.
    pub percent: f64,
    /// `failed/total`, as the grid shows it.
    pub result: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignListPage {
    pub items: Vec<CampaignRow>,
    /// Campaigns matching the filters, over all pages.
    pub total: i64,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

impl Store {
    /// Campaigns matching `filter`, newest first.
    pub async fn list_campaigns(
        &self,
        tenant: Id,
        filter: &CampaignFilter,
        at: PageAt,
        limit: i64,
    ) -> StoreResult<CampaignListPage> {
        // $1 tenant, $2 kind, $3 status, $4 name pattern, $5 tag.
        let matching = "tenant_id = $1 AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR status = $3) \
             AND ($4 IS NULL OR LOWER(name) LIKE $4 ESCAPE '\\') \
             AND ($5 IS NULL OR default_tag = $5 OR EXISTS (SELECT 1 FROM campaign_tags t \
               WHERE t.campaign_id = campaigns.id AND t.tag = $5))";
        let pattern = filter.name.as_deref().map(|n| {
            let escaped = n
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        macro_rules! bind_filters {
            ($q:expr) => {
                $q.bind(tenant)
                    .bind(filter.kind.as_deref())
                    .bind(filter.status.as_deref())
                    .bind(pattern.as_deref())
                    .bind(filter.tag.as_deref())
            };
        }
        let count_sql = format!("SELECT COUNT(*) FROM campaigns WHERE {matching}");
        let total: i64 = bind_filters!(sqlx::query(&count_sql))
            .fetch_one(&self.pool)
            .await?
            .get(0);
        let (after, offset) = match at {
            PageAt::After(id) => (Some(id), 0),
            PageAt::Page(n) => (None, (n.max(1) - 1) * limit),
        };
        let sql = format!(
            "SELECT {COLUMNS}, (SELECT c.name FROM channels c WHERE c.id = campaigns.channel_id), \
             (SELECT l.name FROM contact_lists l WHERE l.id = campaigns.list_id) \
             FROM campaigns WHERE {matching} AND ($6 IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7 OFFSET $8"
        );
        let rows = bind_filters!(sqlx::query(&sql))
            .bind(after)
            .bind(limit + 1)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() as i64 > limit;
        let ids: Vec<Id> = rows.iter().take(limit as usize).map(|r| r.get(0)).collect();
        let mut tags = self.campaign_tags(tenant, &ids).await?;
        let mut progress = self.progress_of(tenant, &ids).await?;
        let mut campaigns = Vec::with_capacity(ids.len());
        for r in rows.iter().take(limit as usize) {
            let mut campaign = campaign_from_row(r)?;
            campaign
                .tags
                .extend(tags.remove(&campaign.id).unwrap_or_default());
            let p = progress.remove(&campaign.id).unwrap_or_default().finish();
            campaigns.push(CampaignRow {
                channel_name: r.get(COLUMN_COUNT),
                list_name: r.get(COLUMN_COUNT + 1),
                target: p.target,
                sent: p.sent,
                delivered: p.delivered,
                failed: p.failed,
                replied: p.replied,
                percent: p.percent_done,
                result: format!("{}/{}", p.failed, p.target),
                campaign,
            });
        }
        let next_cursor = more
            .then(|| campaigns.last().map(|c| c.campaign.id.to_string()))
            .flatten();
        Ok(CampaignListPage {
            items: campaigns,
            total,
            next_cursor,
        })
    }

    /// Member counts of each of `campaigns` in one query (percentages not
    /// yet computed).
    async fn progress_of(
        &self,
        tenant: Id,
        campaigns: &[Id],
    ) -> StoreResult<BTreeMap<Id, Progress>> {
        let mut out: BTreeMap<Id, Progress> = BTreeMap::new();
        if campaigns.is_empty() {
            return Ok(out);
        }
        // From the tallies the triggers keep: a few rows per campaign.
        let sql = format!(
            "SELECT t.campaign_id, t.status, {} \
             FROM {} JOIN campaigns c ON c.id = t.campaign_id \
             WHERE c.tenant_id = $1 GROUP BY t.campaign_id, t.status",
            super::campaigns::TALLY_SUMS,
            super::tallies::tally_rows(&format!(
                "campaign_id IN ({})",
                placeholders(2, campaigns.len())
            ))
        );
        let mut q = sqlx::query(&sql).bind(tenant);
        for id in campaigns {
            q = q.bind(id);
        }
        for r in q.fetch_all(&self.pool).await? {
            out.entry(r.get(0)).or_default().add(
                &r.get::<String, _>(1),
                r.get(2),
                r.get(3),
                (r.get(4), r.get(5)),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{COLUMN_COUNT, COLUMNS};

    /// The list reads its own columns after the campaign's: a column added
    /// to `COLUMNS` without `COLUMN_COUNT` would shift them silently.
    #[test]
    fn column_count_matches_the_campaign_columns() {
        assert_eq!(COLUMNS.split(',').count(), COLUMN_COUNT);
    }
}

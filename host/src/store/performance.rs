//! A campaign's activity over time, for the console's performance tab:
//! how many of its members were sent, delivered, failed and replied in each
//! minute. Read from the members' own timestamps (one row per member, its
//! latest outreach), so the figures add up to the campaign's progress.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Id, Store, StoreResult};

const MINUTE_MS: i64 = 60_000;

/// What happened to a campaign's members in one minute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MinuteActivity {
    /// The minute's start, ms since the epoch (UTC).
    pub minute_ms: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub replied: i64,
}

/// The member timestamp each series counts. `failed` has no timestamp of
/// its own: a failed member's last change is when it failed.
const SERIES: [(&str, &str); 4] = [
    ("sent", "sent_at"),
    ("delivered", "delivered_at"),
    ("failed", "CASE WHEN status = 'failed' THEN updated_at END"),
    ("replied", "replied_at"),
];

impl Store {
    /// The campaign's activity per minute, oldest first; minutes where
    /// nothing happened are absent.
    pub async fn activity_by_minute(
        &self,
        tenant: Id,
        campaign: Id,
    ) -> StoreResult<Vec<MinuteActivity>> {
        let mut by: BTreeMap<i64, MinuteActivity> = BTreeMap::new();
        for (series, at) in SERIES {
            // Integer division truncates on both backends: the minute's start.
            let rows = sqlx::query(&format!(
                "SELECT (({at}) / {MINUTE_MS}) * {MINUTE_MS} AS minute, COUNT(*) \
                 FROM members WHERE tenant_id = $1 AND campaign_id = $2 AND ({at}) IS NOT NULL \
                 GROUP BY (({at}) / {MINUTE_MS}) * {MINUTE_MS}"
            ))
            .bind(tenant)
            .bind(campaign)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let minute_ms: i64 = r.get(0);
                let count: i64 = r.get(1);
                let entry = by.entry(minute_ms).or_insert_with(|| MinuteActivity {
                    minute_ms,
                    ..MinuteActivity::default()
                });
                match series {
                    "sent" => entry.sent = count,
                    "delivered" => entry.delivered = count,
                    "failed" => entry.failed = count,
                    _ => entry.replied = count,
                }
            }
        }
        Ok(by.into_values().collect())
    }
}

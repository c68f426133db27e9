//! A campaign's activity over time, for the console's performance tab:
//! how many of its members were sent, delivered, failed and replied in each
//! minute. Read from the members' own timestamps (one row per member, its
//! latest outreach), so the figures add up to the campaign's progress.

use std::collections::BTreeMap;

use sqlx::FromRow;

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

/// How many of the campaign's members share these four minutes (the
/// minute of each timestamp a series counts; `None` where it has none).
#[derive(FromRow)]
struct MinuteCombination {
    sent_minute: Option<i64>,
    delivered_minute: Option<i64>,
    failed_minute: Option<i64>,
    replied_minute: Option<i64>,
    members: i64,
}

impl Store {
    /// The campaign's activity per minute, oldest first; minutes where
    /// nothing happened are absent.
    ///
    /// One walk of the campaign's members, grouped by the combination of
    /// its four minutes (a few hundred groups even for a long campaign),
    /// then spread over the series here: four walks (one per series) made
    /// the performance tab the console's slowest page.
    pub async fn activity_by_minute(
        &self,
        tenant: Id,
        campaign: Id,
    ) -> StoreResult<Vec<MinuteActivity>> {
        // Integer division truncates on both backends: the minute's start.
        // `failed` has no timestamp of its own: a failed member's last
        // change is when it failed.
        let combinations: Vec<MinuteCombination> = sqlx::query_as(&format!(
            "SELECT (sent_at / {MINUTE_MS}) * {MINUTE_MS} AS sent_minute, \
               (delivered_at / {MINUTE_MS}) * {MINUTE_MS} AS delivered_minute, \
               (CASE WHEN status = 'failed' THEN updated_at END / {MINUTE_MS}) * {MINUTE_MS} \
                 AS failed_minute, \
               (replied_at / {MINUTE_MS}) * {MINUTE_MS} AS replied_minute, \
               COUNT(*) AS members \
             FROM members WHERE tenant_id = $1 AND campaign_id = $2 \
               AND (sent_at IS NOT NULL OR delivered_at IS NOT NULL OR status = 'failed' \
                    OR replied_at IS NOT NULL) \
             GROUP BY 1, 2, 3, 4"
        ))
        .bind(tenant)
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        let mut by: BTreeMap<i64, MinuteActivity> = BTreeMap::new();
        let mut count =
            |minute: Option<i64>, members: i64, series: fn(&mut MinuteActivity) -> &mut i64| {
                if let Some(minute_ms) = minute {
                    let entry = by.entry(minute_ms).or_insert_with(|| MinuteActivity {
                        minute_ms,
                        ..MinuteActivity::default()
                    });
                    *series(entry) += members;
                }
            };
        for c in combinations {
            count(c.sent_minute, c.members, |a| &mut a.sent);
            count(c.delivered_minute, c.members, |a| &mut a.delivered);
            count(c.failed_minute, c.members, |a| &mut a.failed);
            count(c.replied_minute, c.members, |a| &mut a.replied);
        }
        Ok(by.into_values().collect())
    }
}

//! Campaign progress per channel: a journey sends on several channels (the
//! primary, a fallback, follow-ups), and each member row carries the channel
//! of its latest outreach (none: the campaign's channel, for the primary
//! step). A member counts under that channel, so one whose
//! WhatsApp message failed and whose SMS fallback was delivered counts as
//! delivered on SMS (its history keeps the WhatsApp failure).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::campaigns::Progress;
use super::{Id, Store, StoreResult};

/// Delivery figures of one channel in a campaign.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelProgress {
    pub channel_id: Id,
    /// Members whose latest outreach is on this channel.
    pub target: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub replied: i64,
    /// Members who opted out (STOP...), not counted in `replied`.
    pub opted_out: i64,
    /// `replied / delivered` as a percentage (0 when none was delivered).
    pub response_rate: f64,
}

impl Store {
    /// The figures per channel, by channel id.
    pub async fn progress_by_channel(
        &self,
        tenant: Id,
        campaign: Id,
    ) -> StoreResult<Vec<ChannelProgress>> {
        // From the tallies the triggers keep: channel_key 0 is the
        // campaign's own channel.
        let rows = sqlx::query(&format!(
            "SELECT CASE WHEN t.channel_key = 0 THEN c.channel_id ELSE t.channel_key END AS channel, \
             t.status, {} \
             FROM {} JOIN campaigns c ON c.id = t.campaign_id \
             WHERE c.tenant_id = $1 \
             GROUP BY CASE WHEN t.channel_key = 0 THEN c.channel_id ELSE t.channel_key END, t.status",
            super::campaigns::TALLY_SUMS,
            super::tallies::tally_rows("campaign_id = $2")
        ))
        .bind(tenant)
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        let mut by: BTreeMap<Id, Progress> = BTreeMap::new();
        for r in rows {
            by.entry(r.get(0)).or_default().add(
                &r.get::<String, _>(1),
                r.get(2),
                r.get(3),
                (r.get(4), r.get(5)),
            );
        }
        Ok(by
            .into_iter()
            .map(|(channel_id, p)| {
                let p = p.finish();
                ChannelProgress {
                    channel_id,
                    target: p.target,
                    sent: p.sent,
                    delivered: p.delivered,
                    failed: p.failed,
                    replied: p.replied,
                    opted_out: p.opted_out,
                    response_rate: p.response_rate,
                }
            })
            .collect())
    }
}

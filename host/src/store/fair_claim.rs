//! A claim shared fairly (issue 13, §5): the due members of campaigns
//! without a concurrency limit are claimed campaign by campaign, each up to
//! its share (`domain::fair_share`), tenants in a rotating order; what a
//! campaign with fewer due members leaves over goes to the campaigns that
//! used their whole share.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use sqlx::Row;

use super::members::Lease;
use super::{Id, Store, StoreResult};
use crate::domain::fair_share::{self, Tenant};

/// How many more sends each tenant, and each plugin, may have in flight
/// (see `engine::tenant_slots`): its cap less what it holds.
#[derive(Clone, Debug, Default)]
pub struct TenantRoom {
    pub cap: usize,
    pub held: HashMap<Id, usize>,
    pub plugin_cap: usize,
    pub plugins_held: HashMap<String, usize>,
}

impl TenantRoom {
    pub fn of(&self, tenant: Id) -> usize {
        self.cap
            .saturating_sub(self.held.get(&tenant).copied().unwrap_or(0))
    }

    pub fn of_plugin(&self, plugin: &str) -> usize {
        self.plugin_cap
            .saturating_sub(self.plugins_held.get(plugin).copied().unwrap_or(0))
    }
}

impl Store {
    pub(super) async fn claim_fairly(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        limit: i64,
        room: &TenantRoom,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        // Running campaigns with a member due now: one index probe each
        // ((campaign_id, status, next_attempt_at)).
        // With the plugin of each campaign's channel: its room counts too.
        let candidates = sqlx::query(
            "SELECT k.id, k.tenant_id, \
             (SELECT c.plugin FROM channels c WHERE c.id = k.channel_id) AS plugin FROM campaigns k \
             WHERE k.status IN ('running', 'retrying') AND k.max_concurrent IS NULL \
             AND (k.ends_at IS NULL OR k.ends_at > $1) AND EXISTS (SELECT 1 FROM members m \
               WHERE m.campaign_id = k.id AND m.status = 'queued' AND m.next_attempt_at <= $1)",
        )
        .bind(lease.now)
        .fetch_all(&mut **tx)
        .await?;
        let mut by_tenant: BTreeMap<Id, Tenant> = BTreeMap::new();
        for r in &candidates {
            let tenant: Id = r.get("tenant_id");
            let entry = by_tenant.entry(tenant).or_insert_with(|| Tenant {
                room: room.of(tenant),
                campaigns: Vec::new(),
            });
            entry.campaigns.push(r.get("id"));
        }
        let owner: HashMap<Id, Id> = candidates
            .iter()
            .map(|r| (r.get("id"), r.get("tenant_id")))
            .collect();
        let plugin_of: HashMap<Id, String> = candidates
            .iter()
            .filter_map(|r| Some((r.get("id"), r.try_get::<Option<String>, _>("plugin").ok()??)))
            .collect();
        let mut plugin_room: HashMap<&str, usize> = plugin_of
            .values()
            .map(|p| (p.as_str(), room.of_plugin(p)))
            .collect();
        let mut left_room: HashMap<Id, usize> =
            by_tenant.iter().map(|(t, e)| (*t, e.room)).collect();
        // A random turn: when there are more campaigns than sends to share,
        // each comes first as often as the others, on every instance.
        let mut tenants: Vec<Tenant> = by_tenant.into_values().collect();
        {
            // Not held across an await: the thread's generator is not Send.
            let mut rng = rand::rng();
            tenants.shuffle(&mut rng);
            for tenant in &mut tenants {
                tenant.campaigns.shuffle(&mut rng);
            }
        }
        let mut claimed = Vec::new();
        let mut used_their_share = Vec::new();
        for (campaign, share) in fair_share::shares(&tenants, limit.max(0) as usize) {
            let plugin = plugin_of.get(&campaign).map(String::as_str);
            let share = plugin.map_or(share, |p| share.min(plugin_room[p]));
            if share == 0 {
                continue;
            }
            let rows = self.claim_of(tx, lease, campaign, share as i64).await?;
            if rows.len() == share {
                used_their_share.push(campaign);
            }
            if let Some(room) = left_room.get_mut(&owner[&campaign]) {
                *room = room.saturating_sub(rows.len());
            }
            if let Some(room) = plugin.and_then(|p| plugin_room.get_mut(p)) {
                *room = room.saturating_sub(rows.len());
            }
            claimed.extend(rows);
        }
        // What campaigns with fewer due members left over, to those that
        // used their whole share, within their tenant's room.
        for campaign in used_their_share {
            let plugin = plugin_of.get(&campaign).map(String::as_str);
            let plugin_left = plugin.map_or(usize::MAX, |p| plugin_room[p]);
            let room = left_room.get_mut(&owner[&campaign]).expect("a candidate");
            let left = (limit - claimed.len() as i64)
                .min(*room as i64)
                .min(plugin_left.min(i64::MAX as usize) as i64);
            if left <= 0 {
                continue;
            }
            let rows = self.claim_of(tx, lease, campaign, left).await?;
            *room = room.saturating_sub(rows.len());
            if let Some(room) = plugin.and_then(|p| plugin_room.get_mut(p)) {
                *room = room.saturating_sub(rows.len());
            }
            claimed.extend(rows);
        }
        Ok(claimed)
    }

    async fn claim_of(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        campaign: Id,
        limit: i64,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        self.claim_where(tx, lease, "m.campaign_id = $5", Some(campaign), limit)
            .await
    }
}

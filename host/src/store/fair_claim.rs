//! A claim shared fairly (issue 13, §5): the due members of campaigns
//! without a concurrency limit are claimed campaign by campaign, each up to
//! its share (`domain::fair_share`), tenants in a rotating order; what a
//! campaign with fewer due members leaves over goes to the campaigns that
//! used their whole share. Follow-ups the round found ready
//! (`follow_up_claims`) count as their campaign's due members: a campaign
//! claims its queued members first (they have waited longer), then its
//! ready follow-ups.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::seq::SliceRandom;
use sqlx::Row;

use super::follow_up_claims::FollowUps;
use super::json_rows::{id_subquery, json_values};
use super::members::Lease;
use super::queue_front::Place;
use super::{Backend, Id, Store, StoreResult};
use crate::domain::fair_share::{self, Tenant};

/// How many more sends each tenant, and each plugin, may have in flight
/// (see `engine::send_slots`): its cap less what it holds.
#[derive(Clone, Debug, Default)]
pub struct SendRoom {
    /// What a tenant holding no slot may claim.
    pub new_tenant: usize,
    /// What a plugin holding no slot may claim.
    pub new_plugin: usize,
    /// What each tenant holding slots may still claim.
    pub tenants: HashMap<Id, usize>,
    /// What each plugin holding slots (or held back) may still claim.
    pub plugins: HashMap<String, usize>,
}

/// Plugins whose active version's record limits their share of the send
/// slots (see `engine::send_slots`).
#[derive(Clone, Debug, Default)]
pub struct PluginStanding {
    /// Calls fault at least half the time: they run on the heavy slot.
    pub held_back: HashSet<String>,
    /// Too few calls lately to judge.
    pub unproven: HashSet<String>,
}

impl SendRoom {
    pub fn of(&self, tenant: Id) -> usize {
        self.tenants
            .get(&tenant)
            .copied()
            .unwrap_or(self.new_tenant)
    }

    pub fn of_plugin(&self, plugin: &str) -> usize {
        self.plugins.get(plugin).copied().unwrap_or(self.new_plugin)
    }
}

impl Store {
    pub(super) async fn claim_fairly(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        limit: i64,
        room: &SendRoom,
        follow_ups: &mut FollowUps,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        // Running campaigns with a member due now: one index probe each
        // (`members_claimable`). The OFFSET keeps
        // PostgreSQL from turning the EXISTS into a join that gathers every
        // due member first (44 ms per claim at 100,000 due members, as soon
        // as its statistics knew how many there were; auto_explain).
        // With the plugin of each campaign's channel: its room counts too.
        // A campaign whose last claim from this instance found members
        // enough (a trusted front, see `queue_front`) is taken without the
        // probe: on PostgreSQL the probe walked the index entries of every
        // member claimed since the last vacuum.
        let candidates = sqlx::query(&format!(
            "SELECT k.id, k.tenant_id, \
             (SELECT c.plugin FROM channels c WHERE c.id = k.channel_id) AS plugin FROM campaigns k \
             WHERE k.status IN ('running', 'retrying') AND k.max_concurrent IS NULL \
             AND (k.ends_at IS NULL OR k.ends_at > $1) AND (k.id IN ({fronts}) \
               OR EXISTS (SELECT 1 FROM members m \
               WHERE m.campaign_id = k.id AND m.claimable_at IS NOT NULL AND m.claimable_at <= $1 \
               LIMIT 1 OFFSET 0))",
            fronts = id_subquery(self.backend, "$2"),
        ))
        .bind(lease.now)
        .bind(json_values(self.queue_fronts.campaigns().iter()))
        .fetch_all(&mut **tx)
        .await?;
        let mut rooms = Rooms::default();
        let mut by_tenant: BTreeMap<Id, Tenant> = BTreeMap::new();
        // Campaigns with queued members due: only they are worth a claim
        // statement of their own.
        let queued: HashSet<Id> = candidates.iter().map(|r| r.get("id")).collect();
        let with_queued = candidates.iter().map(|r| {
            let plugin: Option<String> = r.try_get("plugin").ok().flatten();
            (r.get("id"), r.get("tenant_id"), plugin)
        });
        for (campaign, tenant, plugin) in with_queued.chain(follow_ups.campaigns()) {
            if rooms.owners.contains_key(&campaign) {
                continue;
            }
            rooms.add(campaign, tenant, plugin, room);
            by_tenant
                .entry(tenant)
                .or_insert_with(|| Tenant {
                    room: room.of(tenant),
                    campaigns: Vec::new(),
                })
                .campaigns
                .push(campaign);
        }
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
            // The tenant's room is in the share; the plugin's is not.
            let share = share.min(rooms.left(campaign));
            if share == 0 {
                continue;
            }
            let rows = self
                .claim_of(tx, lease, &queued, follow_ups, campaign, share)
                .await?;
            if rows.len() == share {
                used_their_share.push(campaign);
            }
            rooms.took(campaign, rows.len());
            claimed.extend(rows);
        }
        // What campaigns with fewer due members left over, to those that
        // used their whole share, within their tenant's and plugin's room.
        for campaign in used_their_share {
            let left = (limit.max(0) as usize)
                .saturating_sub(claimed.len())
                .min(rooms.left(campaign));
            if left == 0 {
                continue;
            }
            let rows = self
                .claim_of(tx, lease, &queued, follow_ups, campaign, left)
                .await?;
            rooms.took(campaign, rows.len());
            claimed.extend(rows);
        }
        Ok(claimed)
    }

    /// Up to `limit` of `campaign`'s due members: its queued ones (if it
    /// has any, `queued`), then its ready follow-ups.
    async fn claim_of(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        queued: &HashSet<Id>,
        follow_ups: &mut FollowUps,
        campaign: Id,
        limit: usize,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let mut rows = if queued.contains(&campaign) {
            self.claim_queued(tx, lease, campaign, limit).await?
        } else {
            Vec::new()
        };
        if rows.len() < limit {
            let more = limit - rows.len();
            rows.extend(
                self.claim_follow_ups(tx, lease, follow_ups, campaign, more)
                    .await?,
            );
        }
        Ok(rows)
    }

    /// Up to `limit` of `campaign`'s queued members, in order: from its
    /// front on PostgreSQL while one is trusted, then from the head if the
    /// front left too few (see `queue_front`).
    async fn claim_queued(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        campaign: Id,
        limit: usize,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let front = match self.backend {
            Backend::Postgres => self.queue_fronts.of(campaign),
            Backend::Sqlite => None,
        };
        let mut rows = self
            .claim_campaign(tx, lease, campaign, front, limit as i64)
            .await?;
        let short = rows.len() < limit;
        let from_head = front.is_none() || short;
        if front.is_some() && short {
            let more = (limit - rows.len()) as i64;
            rows.extend(self.claim_campaign(tx, lease, campaign, None, more).await?);
        }
        if self.backend == Backend::Postgres {
            let last = rows.iter().map(|r| Place {
                due_at: r.get("due_at"),
                id: r.get(0),
            });
            match last.max() {
                Some(place) if rows.len() == limit => {
                    self.queue_fronts.claimed_up_to(campaign, place, from_head)
                }
                _ => self.queue_fronts.forget(campaign),
            }
        }
        Ok(rows)
    }
}

/// The room left, during one claim, to each candidate campaign's tenant
/// and plugin.
#[derive(Default)]
struct Rooms {
    /// Campaign -> (tenant, plugin of its channel).
    owners: HashMap<Id, (Id, Option<String>)>,
    tenants: HashMap<Id, usize>,
    plugins: HashMap<String, usize>,
}

impl Rooms {
    fn add(&mut self, campaign: Id, tenant: Id, plugin: Option<String>, room: &SendRoom) {
        self.tenants
            .entry(tenant)
            .or_insert_with(|| room.of(tenant));
        if let Some(p) = &plugin {
            self.plugins
                .entry(p.clone())
                .or_insert_with(|| room.of_plugin(p));
        }
        self.owners.insert(campaign, (tenant, plugin));
    }

    fn left(&self, campaign: Id) -> usize {
        let Some((tenant, plugin)) = self.owners.get(&campaign) else {
            return 0;
        };
        let tenant = self.tenants.get(tenant).copied().unwrap_or(0);
        let plugin = plugin
            .as_ref()
            .map_or(usize::MAX, |p| self.plugins.get(p).copied().unwrap_or(0));
        tenant.min(plugin)
    }

    fn took(&mut self, campaign: Id, n: usize) {
        let Some((tenant, plugin)) = self.owners.get(&campaign) else {
            return;
        };
        if let Some(room) = self.tenants.get_mut(tenant) {
            *room = room.saturating_sub(n);
        }
        if let Some(room) = plugin.as_ref().and_then(|p| self.plugins.get_mut(p)) {
            *room = room.saturating_sub(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::super::members::Lease;
    use super::super::test_store::{self, running_campaign};
    use super::super::{Id, Store, now_ms};

    async fn claim(store: &Store, campaign: Id, limit: usize) -> Vec<Id> {
        let now = now_ms();
        let lease = Lease {
            owner: "here",
            until: now + 60_000,
            now,
        };
        let mut tx = store.write_tx().await.unwrap();
        let rows = store
            .claim_queued(&mut tx, &lease, campaign, limit)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut ids: Vec<Id> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort_unstable();
        ids
    }

    /// On PostgreSQL claims start at the campaign's front (`queue_front`);
    /// members queued again behind it (a lost lease) are not left there:
    /// the claim that finds too few past the front takes them from the head.
    #[tokio::test]
    async fn members_queued_again_behind_the_front_are_claimed_when_the_front_runs_short() {
        let Some(db) = test_store::postgres().await else {
            eprintln!("SKIPPED: PostgreSQL not available (HERALD_SKIP_POSTGRES)");
            return;
        };
        let store = &db.store;
        let (campaign, m) = running_campaign(store, 10).await;
        assert_eq!(claim(store, campaign, 4).await, m[0..4]);
        // Their lease lost: queued again, ahead of the front in due order.
        sqlx::query(
            "UPDATE members SET status = 'queued', lease_owner = NULL, lease_until = NULL \
             WHERE id IN ($1, $2, $3, $4)",
        )
        .bind(m[0])
        .bind(m[1])
        .bind(m[2])
        .bind(m[3])
        .execute(&store.pool)
        .await
        .unwrap();
        // The front had members enough: the queue goes on past it.
        assert_eq!(claim(store, campaign, 4).await, m[4..8]);
        // Two left past the front: the rest of the claim comes from the head.
        assert_eq!(claim(store, campaign, 4).await, [m[0], m[1], m[8], m[9]]);
        assert_eq!(claim(store, campaign, 4).await, m[2..4]);
        assert!(claim(store, campaign, 4).await.is_empty());
    }
}

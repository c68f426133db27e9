//! A claim's lease, from the claim to the outcome: a member is `claimed`
//! (leased, nothing sent), then `sending` once its plugin call is about to
//! start, then its outcome is recorded. A claim whose instance stopped or
//! died returns to the queue untouched; a send whose instance died while
//! the call was under way becomes `unknown`, never resent blindly.

use sqlx::Row;

use super::instances::{INSTANCE_STALE_MS, wall_ms};
use super::json_rows::{id_subquery, json_values};
use super::members::insert_events;
use super::{Id, Store, StoreResult, now_ms};

/// The predicate of `members_lease`, the index of claims and sends under
/// way, word for word: SQLite reads a partial index only for a query that
/// states its predicate. The index names the lease, not the status: the
/// start of a call changes the status and leaves the lease, so it rewrites
/// the row without touching an index (migration 0036).
const LEASED: &str = "members.lease_until IS NOT NULL";

/// A lease that ran out (`$1`: now), or whose owner's heartbeat is older
/// than `$2` (the owner died; see `herald_instances`), is lost; but never
/// by the heartbeat of `$3`, the sweeping instance itself, which is alive
/// whatever its heartbeat says: on SQLite a heartbeat waits for the one
/// writer, and a long write (enrolling a 1,000,000-member campaign took
/// 5 s) left it stale. The sweeper then took its own sends under way for
/// a dead instance's and marked them `unknown`.
const OWNER_GONE: &str = "(lease_until < $1 OR (members.lease_owner <> $3 AND EXISTS \
     (SELECT 1 FROM herald_instances i \
     WHERE i.instance_id = members.lease_owner AND i.seen_at < $2)))";

impl Store {
    /// On SQLite the sweeps name the lease index: Herald plans `members`
    /// as a table of a million rows whatever it held when analysed
    /// (`statistics`), its partial indexes included, and a partial index
    /// as large as the table lost to a scan of it (the plan guard, with
    /// stale statistics). It holds the claims and sends under way only.
    fn leased_index(&self) -> &'static str {
        match self.backend {
            super::Backend::Sqlite => " INDEXED BY members_lease",
            super::Backend::Postgres => "",
        }
    }

    /// Marks `owner`'s claims in `ids` `sending`: their plugin calls start
    /// now. Answers the ones that may go: still claimed by `owner`, and
    /// their campaign still sends (a pause or cancel since the claim keeps
    /// the rest back; the caller hands them back).
    pub async fn start_sends(&self, owner: &str, ids: &[Id]) -> StoreResult<Vec<Id>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let writes = super::SendWrites {
            starts: ids,
            ..Default::default()
        };
        Ok(self.write_sends(owner, writes, 0).await?.started)
    }

    /// [`Self::start_sends`] in `tx` (see `send_writes`).
    pub(super) async fn start_sends_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner: &str,
        ids: &[Id],
    ) -> StoreResult<Vec<Id>> {
        let now = now_ms();
        // The batch drives: `status || ''` keeps the planner off any index
        // of the status (one held every claimed member, before 0036).
        let go: Vec<Id> = sqlx::query(&format!(
            "UPDATE members SET status = 'sending', updated_at = $1, attempt_started_at = $3 \
             WHERE id IN ({ids}) AND (status || '') = 'claimed' AND lease_owner = $2 \
             AND campaign_id IN (SELECT id FROM campaigns WHERE status IN ('running', 'retrying')) \
             RETURNING id",
            ids = id_subquery(self.backend, "$4"),
        ))
        .bind(now)
        .bind(owner)
        // Wall-clock time, as the provider stamps its messages (the
        // test clock only moves Herald's schedule).
        .bind(crate::clock::real_now_ms())
        .bind(json_values(ids.iter()))
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        Ok(go)
    }

    /// Lost leases: claims whose lease ran out or whose owner stopped
    /// beating return to `queued` with their attempt given back (nothing
    /// was sent); sends whose plugin call was under way become `unknown`
    /// (the provider may have the message), looked up at the provider
    /// `lookup_after_ms` from now; their credits stay held until the
    /// lookup answers. `sweeper`, the instance sweeping, loses its own
    /// leases only when they run out. Returns the campaigns whose sends
    /// became unknown.
    pub async fn expire_leases(&self, sweeper: &str, lookup_after_ms: i64) -> StoreResult<Vec<Id>> {
        let now = now_ms();
        let gone_before = wall_ms() - INSTANCE_STALE_MS;
        let leased_index = self.leased_index();
        let mut tx = self.write_tx().await?;
        let requeued = sqlx::query(&format!(
            "UPDATE members{leased_index} SET status = 'queued', attempts = attempts - 1, \
             lease_owner = NULL, lease_until = NULL, updated_at = $1 \
             WHERE status = 'claimed' AND {LEASED} AND {OWNER_GONE} \
             RETURNING tenant_id, id"
        ))
        .bind(now)
        .bind(gone_before)
        .bind(sweeper)
        .fetch_all(&mut *tx)
        .await?;
        let unknown = sqlx::query(&format!(
            "UPDATE members{leased_index} SET status = 'unknown', lease_owner = NULL, lease_until = NULL, \
             error_code = 'outcome_unknown', reconcile_at = $4, \
             error_message = 'outcome unknown: the sending process stopped during the provider call; \
               looking it up at the provider before any resend', \
             updated_at = $1 WHERE status = 'sending' AND {LEASED} AND {OWNER_GONE} \
             RETURNING tenant_id, id, campaign_id"
        ))
        .bind(now)
        .bind(gone_before)
        .bind(sweeper)
        .bind(now + lookup_after_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut events: Vec<_> = requeued
            .iter()
            .map(|r| {
                let why = "claim lost (its instance stopped) before the send; queued again";
                (r.get(0), r.get(1), "queued", why.to_string())
            })
            .collect();
        events.extend(unknown.iter().map(|r| {
            let why = "lease lost during the provider call; outcome unknown";
            (r.get(0), r.get(1), "unknown", why.to_string())
        }));
        insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        if !requeued.is_empty() {
            tracing::warn!(
                members = requeued.len(),
                "claims of a stopped instance returned to the queue unsent"
            );
        }
        let mut campaigns: Vec<Id> = unknown.iter().map(|r| r.get(2)).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        Ok(campaigns)
    }

    /// At shutdown: `owner`'s claims not yet called go back to the queue
    /// now rather than when their lease runs out.
    pub async fn release_claims(&self, owner: &str) -> StoreResult<u64> {
        let now = now_ms();
        let leased_index = self.leased_index();
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(&format!(
            "UPDATE members{leased_index} SET status = 'queued', attempts = attempts - 1, \
             lease_owner = NULL, lease_until = NULL, updated_at = $1 \
             WHERE status = 'claimed' AND {LEASED} \
             AND lease_owner = $2 RETURNING tenant_id, id"
        ))
        .bind(now)
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<_> = rows
            .iter()
            .map(|r| {
                let why = "released unsent at shutdown; queued again";
                (r.get(0), r.get(1), "queued", why.to_string())
            })
            .collect();
        insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

//! Follow-ups found ready by `journey_advance` (due, window open) become
//! sends in the same claim round: claimed straight from their sent row
//! when the fair claim gives their campaign room, queued otherwise (they
//! wait for a later round as any queued member does).
//!
//! Claiming straight from the sent row writes the member once where
//! queueing and then claiming it wrote it twice in the same transaction:
//! each write rewrote its indexed columns (status, the due time, the next
//! step, the message id) and fired the progress tally's trigger, and on
//! PostgreSQL inserted a new version into every index of `members`; the
//! follow-ups went out slower than the first messages by about that.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::journey_advance::plan_next;
use super::json_rows::{json_array, json_int, json_text, keyed_rows};
use super::members::Lease;
use super::{Id, Store, StoreResult};
use crate::domain::journey::Step;

/// A follow-up due now, its window open.
pub(super) struct ReadyStep {
    pub id: Id,
    pub tenant_id: Id,
    pub campaign_id: Id,
    pub step: Step,
    pub channel_id: Id,
    pub address: String,
    /// The plugin of its campaign's channel (the fair claim's room).
    pub plugin: Option<String>,
    /// The fair claim may claim it (its campaign has no concurrency limit
    /// and has not ended); the others are queued for the claim that
    /// counts their campaign's slots.
    pub fair: bool,
}

/// The round's ready follow-ups, claimed or queued as the claim goes.
#[derive(Default)]
pub(super) struct FollowUps {
    /// Not claimed yet, by campaign, in the order they fell due.
    ready: HashMap<Id, VecDeque<ReadyStep>>,
    /// Claimed or queued: their `follow_up` event is due.
    written: Vec<ReadyStep>,
    /// Their compare-and-set failed: a reply cancelled the step meanwhile,
    /// or the previous message failed or is still in flight.
    lost: Vec<ReadyStep>,
}

/// A step as the claiming or queueing update reads it.
#[derive(Serialize)]
struct StepRow<'a> {
    id: Id,
    step: i64,
    channel_id: Id,
    address: &'a str,
    /// The attempt's idempotency key (a claim only): the intent (member,
    /// step) and its first attempt, as `Store::claim_campaign` names it.
    key: String,
}

impl StepRow<'_> {
    fn of(s: &ReadyStep) -> StepRow<'_> {
        StepRow {
            id: s.id,
            step: s.step.index(),
            channel_id: s.channel_id,
            address: &s.address,
            key: format!("{}-{}-1", s.id, s.step.index() + 1),
        }
    }
}

impl FollowUps {
    pub(super) fn add(&mut self, step: ReadyStep) {
        self.ready
            .entry(step.campaign_id)
            .or_default()
            .push_back(step);
    }

    /// Campaigns with follow-ups the fair claim may take: (campaign,
    /// tenant, plugin of its channel).
    pub(super) fn campaigns(&self) -> Vec<(Id, Id, Option<String>)> {
        self.ready
            .iter()
            .filter_map(|(&campaign, steps)| {
                let first = steps.front()?;
                first
                    .fair
                    .then(|| (campaign, first.tenant_id, first.plugin.clone()))
            })
            .collect()
    }

    /// The members claimed or queued: their windows were judged at this
    /// instant, in this transaction.
    pub(super) fn written(&self) -> HashSet<Id> {
        self.written.iter().map(|s| s.id).collect()
    }

    /// Files `steps` as written (their id in `changed`) or lost.
    fn settle(&mut self, steps: Vec<ReadyStep>, changed: &HashSet<Id>) {
        for s in steps {
            if changed.contains(&s.id) {
                self.written.push(s);
            } else {
                self.lost.push(s);
            }
        }
    }
}

/// The same compare-and-set for claiming and queueing: the step is still
/// the one planned (a reply that cancelled it meanwhile wins) and the
/// previous message went out. `status || ''` and `COALESCE(next_step, -1)`
/// keep those tests off the (status, ...) index and the partial index of
/// members with a next step, as in `outcome_rows`: the batch's rows drive
/// the join by id (after ANALYZE, SQLite walked every member with a
/// pending step instead; the plan guard in tests/e2e/query_plans.rs saw
/// it). The previous message's id goes, so a late receipt for it cannot
/// land on this step.
fn step_update(backend: super::Backend, set: &str, returning: &str) -> String {
    let batch = keyed_rows(backend, "$1");
    format!(
        "{with}UPDATE members SET {set}, step = {step}, channel_id = {channel}, \
         address = {address}, next_attempt_at = $2, next_step = NULL, next_step_at = NULL, \
         provider_message_id = NULL, error_code = NULL, error_message = NULL, \
         wait_reason = NULL, updated_at = $2 \
         FROM {rows} WHERE members.id = {id} AND COALESCE(members.next_step, -1) = {step} \
         AND (members.status || '') IN ('sent', 'delivered', 'read') RETURNING {returning}",
        step = json_int("step"),
        channel = json_int("channel_id"),
        address = json_text("address"),
        with = batch.with,
        id = batch.id,
        rows = batch.from,
    )
}

impl Store {
    /// Claims up to `limit` of `campaign`'s ready follow-ups under `lease`,
    /// in one statement; the rows are shaped as [`Store::claim_campaign`]'s.
    pub(super) async fn claim_follow_ups(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        follow_ups: &mut FollowUps,
        campaign: Id,
        limit: usize,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let Some(ready) = follow_ups.ready.get_mut(&campaign) else {
            return Ok(Vec::new());
        };
        let take: Vec<ReadyStep> = ready.drain(..limit.min(ready.len())).collect();
        if take.is_empty() {
            return Ok(Vec::new());
        }
        let sql = step_update(
            self.backend,
            &format!(
                "status = 'claimed', attempts = 1, lease_owner = $3, lease_until = $4, \
                 idempotency_key = {}",
                json_text("key")
            ),
            super::members::CLAIMED_COLUMNS,
        );
        let rows: Vec<StepRow> = take.iter().map(StepRow::of).collect();
        let claimed = sqlx::query(&sql)
            .bind(json_array(&rows))
            .bind(lease.now)
            .bind(lease.owner)
            .bind(lease.until)
            .fetch_all(&mut **tx)
            .await?;
        let ids: HashSet<Id> = claimed
            .iter()
            .map(|r| sqlx::Row::get::<Id, _>(r, 0))
            .collect();
        follow_ups.settle(take, &ids);
        Ok(claimed)
    }

    /// Queues the follow-ups no claim took, in one statement, and ends the
    /// journeys whose step was lost. Returns the campaigns whose journeys
    /// ended and the follow-ups' events (tenant, member, kind, detail).
    pub(super) async fn queue_follow_ups(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        follow_ups: &mut FollowUps,
        now: i64,
    ) -> StoreResult<(Vec<Id>, Vec<(Id, Id, &'static str, String)>)> {
        let left: Vec<ReadyStep> = std::mem::take(&mut follow_ups.ready)
            .into_values()
            .flatten()
            .collect();
        if !left.is_empty() {
            let sql = step_update(
                self.backend,
                "status = 'queued', attempts = 0",
                "members.id",
            );
            let rows: Vec<StepRow> = left.iter().map(StepRow::of).collect();
            let queued: Vec<(Id,)> = sqlx::query_as(&sql)
                .bind(json_array(&rows))
                .bind(now)
                .fetch_all(&mut **tx)
                .await?;
            follow_ups.settle(left, &queued.into_iter().map(|(id,)| id).collect());
        }
        let events = follow_ups
            .written
            .iter()
            .map(|s| {
                (
                    s.tenant_id,
                    s.id,
                    "follow_up",
                    format!(
                        "{} due: channel {} to {}, no reply",
                        s.step.name(),
                        s.channel_id,
                        s.address
                    ),
                )
            })
            .collect();
        let mut ended = Vec::new();
        for s in &follow_ups.lost {
            plan_next(tx, s.id, s.step.index(), None, now).await?;
            ended.push(s.campaign_id);
        }
        Ok((ended, events))
    }
}

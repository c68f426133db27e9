//! Due follow-ups becoming queued sends, inside the claim's transaction
//! (see `journeys` for the model). Set-based: a round reads its due steps
//! and each campaign's settings once, and queues or defers them in one
//! statement each. A statement per member held SQLite's one writer for a
//! hundred round trips per round, and 100,000 follow-ups falling due in
//! the same minute went out slower than first messages.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::FromRow;

use super::json_rows::{json_array, json_int, json_rows, json_text, json_values, keyed_rows};
use super::members::insert_events;
use super::{Id, Store, StoreResult};
use crate::domain::campaign_spec::CampaignSettings;
use crate::domain::journey::{Addresses, Step, address_for};

/// Due follow-ups taken per claim round.
const ADVANCE_BATCH: i64 = 100;

/// A member whose next step has fallen due.
#[derive(FromRow)]
struct DueStep {
    id: Id,
    tenant_id: Id,
    campaign_id: Id,
    next_step: i64,
    phone: Option<String>,
    email: Option<String>,
}

#[derive(FromRow)]
struct CampaignRow {
    id: Id,
    settings_json: String,
}

/// A step to queue, as the update reads it.
#[derive(Serialize)]
struct QueuedStep<'a> {
    id: Id,
    step: i64,
    channel_id: Id,
    address: &'a str,
}

/// A step whose sending window is closed: due again when it opens.
#[derive(Serialize)]
struct DeferredStep {
    id: Id,
    until: i64,
}

/// What the round decided for one member.
enum Decision {
    Queue {
        step: Step,
        channel_id: Id,
        address: String,
    },
    /// The contact lacks the step's address: the step is skipped and the
    /// one after it planned (`after`: step and delay), if any.
    Skip {
        step: Step,
        missing: &'static str,
        after: Option<(Step, i64)>,
    },
    /// Unreadable settings or a step the campaign no longer has.
    End,
}

impl Store {
    /// Turns due follow-ups into queued sends (their window open) or moves
    /// them to their window's opening; skips those whose contact lacks the
    /// step's address. Returns `None` when nothing was due, else the
    /// campaigns of journeys that ended here (their campaign may be done).
    pub(super) async fn advance_due(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        now: i64,
    ) -> StoreResult<Option<Vec<Id>>> {
        let lock = if self.skip_locked().is_empty() {
            ""
        } else {
            " FOR UPDATE OF m SKIP LOCKED"
        };
        let due: Vec<DueStep> = sqlx::query_as(&format!(
            // CROSS JOIN: SQLite starts from the due steps (members_next_step)
            // rather than from the running campaigns, whose members it would
            // walk, every claim round; PostgreSQL plans it as a plain join.
            "SELECT m.id, m.tenant_id, m.campaign_id, m.next_step, c.phone, c.email \
             FROM members m CROSS JOIN campaigns k \
             JOIN contacts c ON c.id = m.contact_id \
             WHERE k.id = m.campaign_id \
             AND m.next_step_at IS NOT NULL AND m.next_step_at <= $1 AND k.status = 'running' \
             ORDER BY m.next_step_at, m.id LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(ADVANCE_BATCH)
        .fetch_all(&mut **tx)
        .await?;
        if due.is_empty() {
            return Ok(None);
        }
        let settings = self.campaign_settings(tx, &due).await?;
        let mut ended = Vec::new();
        let mut events = Vec::new();
        let mut ready = Vec::new();
        for m in &due {
            match decide(m, settings.get(&m.campaign_id)) {
                Decision::Queue {
                    step,
                    channel_id,
                    address,
                } => ready.push((m, step, channel_id, address)),
                Decision::Skip {
                    step,
                    missing,
                    after,
                } => {
                    plan_next(tx, m.id, m.next_step, after, now).await?;
                    if after.is_none() {
                        ended.push(m.campaign_id);
                    }
                    events.push((
                        m.tenant_id,
                        m.id,
                        "skipped",
                        format!("{} skipped: the contact has no {missing}", step.name()),
                    ));
                }
                Decision::End => {
                    plan_next(tx, m.id, m.next_step, None, now).await?;
                    ended.push(m.campaign_id);
                }
            }
        }
        let ids: Vec<Id> = ready.iter().map(|(m, ..)| m.id).collect();
        let waits = super::send_window::closed_until(tx, &ids, now).await?;
        let mut deferred = Vec::new();
        let mut queued = Vec::new();
        for (m, step, channel_id, address) in &ready {
            match waits.get(&m.id) {
                Some((until, reason)) => {
                    deferred.push(DeferredStep {
                        id: m.id,
                        until: *until,
                    });
                    events.push((
                        m.tenant_id,
                        m.id,
                        "deferred",
                        format!(
                            "{} {reason}: waits until {}",
                            step.name(),
                            crate::clock::format_ms(*until)
                        ),
                    ));
                }
                None => queued.push(QueuedStep {
                    id: m.id,
                    step: step.index(),
                    channel_id: *channel_id,
                    address,
                }),
            }
        }
        self.defer_steps(tx, &deferred).await?;
        let changed = self.queue_steps(tx, &queued, now).await?;
        for (m, step, channel_id, address) in &ready {
            if waits.contains_key(&m.id) {
                continue;
            }
            if changed.contains(&m.id) {
                events.push((
                    m.tenant_id,
                    m.id,
                    "follow_up",
                    format!(
                        "{} due: channel {channel_id} to {address}, no reply",
                        step.name()
                    ),
                ));
            } else {
                // The previous step failed or is still in flight, or a
                // reply cancelled the step meanwhile: no more.
                plan_next(tx, m.id, step.index(), None, now).await?;
                ended.push(m.campaign_id);
            }
        }
        insert_events(tx, now, &events).await?;
        ended.sort_unstable();
        ended.dedup();
        Ok(Some(ended))
    }

    /// The settings of the round's campaigns, each read and parsed once
    /// (absent: unreadable, which ends those journeys).
    async fn campaign_settings(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        due: &[DueStep],
    ) -> StoreResult<HashMap<Id, CampaignSettings>> {
        let mut ids: Vec<Id> = due.iter().map(|m| m.campaign_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let sql = format!(
            "SELECT k.id, k.settings_json FROM {rows} JOIN campaigns k ON k.id = {id}",
            rows = json_rows(self.backend, "$1"),
            id = json_int("v"),
        );
        let rows: Vec<CampaignRow> = sqlx::query_as(&sql)
            .bind(json_values(ids.iter()))
            .fetch_all(&mut **tx)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let parsed = serde_json::from_str(&r.settings_json);
                if let Err(e) = &parsed {
                    tracing::error!(campaign = r.id, error = %e, "unreadable campaign settings: its journeys end");
                }
                parsed.ok().map(|s| (r.id, s))
            })
            .collect())
    }

    /// Moves steps whose window is closed to its opening, in one statement.
    async fn defer_steps(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        deferred: &[DeferredStep],
    ) -> StoreResult<()> {
        if deferred.is_empty() {
            return Ok(());
        }
        let batch = keyed_rows(self.backend, "$1");
        let sql = format!(
            "{with}UPDATE members SET next_step_at = {until} FROM {rows} WHERE members.id = {id}",
            until = json_int("until"),
            with = batch.with,
            id = batch.id,
            rows = batch.from,
        );
        sqlx::query(&sql)
            .bind(json_array(deferred))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Queues the steps in one statement; answers the members changed.
    /// Compare-and-set on the planned step: a reply that cancelled it
    /// meanwhile wins. The previous message's id goes, so a late receipt
    /// for it cannot land on this step.
    async fn queue_steps(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        queued: &[QueuedStep<'_>],
        now: i64,
    ) -> StoreResult<std::collections::HashSet<Id>> {
        if queued.is_empty() {
            return Ok(Default::default());
        }
        // `status || ''` and `COALESCE(next_step, -1)` keep those tests
        // off the (status, ...) index and the partial index of members with
        // a next step, as in `outcome_rows`: the batch's rows drive the join
        // by id (after ANALYZE, SQLite walked every member with a pending
        // step instead; the plan guard in tests/e2e/query_plans.rs saw it).
        let batch = keyed_rows(self.backend, "$1");
        let sql = format!(
            "{with}UPDATE members SET status = 'queued', step = {step}, channel_id = {channel}, \
             address = {address}, attempts = 0, next_attempt_at = $2, next_step = NULL, \
             next_step_at = NULL, provider_message_id = NULL, error_code = NULL, \
             error_message = NULL, wait_reason = NULL, updated_at = $2 \
             FROM {rows} WHERE members.id = {id} AND COALESCE(members.next_step, -1) = {step} \
             AND (members.status || '') IN ('sent', 'delivered', 'read') RETURNING members.id",
            step = json_int("step"),
            channel = json_int("channel_id"),
            address = json_text("address"),
            with = batch.with,
            id = batch.id,
            rows = batch.from,
        );
        let changed: Vec<(Id,)> = sqlx::query_as(&sql)
            .bind(json_array(queued))
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        Ok(changed.into_iter().map(|(id,)| id).collect())
    }
}

/// What becomes of one due step, given its campaign's settings.
fn decide(m: &DueStep, settings: Option<&CampaignSettings>) -> Decision {
    let Some((settings, step)) = settings.zip(Step::from_index(m.next_step)) else {
        return Decision::End;
    };
    let journey = &settings.journey;
    let Some(stored) = journey.step(step) else {
        return Decision::End;
    };
    let to = Addresses {
        phone: m.phone.as_deref(),
        email: m.email.as_deref(),
    };
    match address_for(stored.kind(), to) {
        Some(address) => Decision::Queue {
            step,
            channel_id: stored.channel_id,
            address,
        },
        None => Decision::Skip {
            step,
            missing: stored.kind().address_column(),
            after: journey.next_follow_up(step),
        },
    }
}

/// Plans `member`'s step after `step` (none: its journey ends), unless the
/// planned step changed meanwhile.
pub(super) async fn plan_next(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    member: Id,
    step: i64,
    after: Option<(Step, i64)>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE members SET next_step = $1, next_step_at = $2 WHERE id = $3 AND next_step = $4",
    )
    .bind(after.map(|(s, _)| s.index()))
    .bind(after.map(|(_, ms)| now + ms))
    .bind(member)
    .bind(step)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

//! Due follow-ups becoming sends, inside the claim's transaction (see
//! `journeys` for the model). Set-based: a round reads its due steps with
//! their campaign's settings and sending windows in one statement, and
//! defers or skips them in one statement each; the ones ready to go are
//! handed to the claim (`follow_up_claims`), which claims them straight
//! from their sent row or queues them; their events go with the claim's.
//! A statement per member held SQLite's one writer for a hundred round
//! trips per round, and 100,000 follow-ups falling due in the same minute
//! went out slower than first messages.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::FromRow;

use super::campaigns::stored_settings;
use super::follow_up_claims::{FollowUps, ReadyStep};
use super::json_rows::{json_array, json_int, keyed_rows};
use super::send_window::{WINDOW_COLUMNS, WindowFacts, WindowJudge};
use super::{Id, Store, StoreResult};
use crate::domain::campaign_spec::CampaignSettings;
use crate::domain::journey::{Addresses, Step, address_for};

/// Due follow-ups taken per claim round at most (and no more than the
/// claim may send: the ones ready are meant to be claimed at once).
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
    settings_json: String,
    /// The plugin of its campaign's channel (the fair claim's room).
    plugin: Option<String>,
    /// 1: the campaign's sends may be claimed by the fair claim (no
    /// concurrency limit, its end date not passed).
    fair: i64,
    #[sqlx(flatten)]
    window: WindowFacts,
}

/// What a round of [`Store::advance_due`] did, for the claim it is part of.
#[derive(Default)]
pub(super) struct Advanced {
    /// Campaigns of journeys that ended here (their campaign may be done).
    pub ended: Vec<Id>,
    /// Their events so far (tenant, member, kind, detail), for the claim
    /// to write.
    pub events: Vec<(Id, Id, &'static str, String)>,
    /// The steps ready to send (their windows found open at this
    /// instant), for the claim to claim or queue.
    pub follow_ups: FollowUps,
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
    /// Takes up to `limit` due follow-ups: those whose window is open are
    /// ready (for the claim), the others move to their window's opening;
    /// skips those whose contact lacks the step's address. Returns `None`
    /// when nothing was due.
    pub(super) async fn advance_due(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        now: i64,
        limit: i64,
    ) -> StoreResult<Option<Advanced>> {
        let lock = if self.skip_locked().is_empty() {
            ""
        } else {
            " FOR UPDATE OF m SKIP LOCKED"
        };
        let due: Vec<DueStep> = sqlx::query_as(&format!(
            // CROSS JOINs: SQLite starts from the due steps (members_next_step)
            // rather than from the running campaigns or the tenants (one row:
            // it walked all their members for a round with nothing due), and
            // finds each step's campaign, contact and tenant by key.
            // PostgreSQL plans it as a plain join.
            "SELECT m.id, m.tenant_id, m.campaign_id, m.next_step, c.phone, c.email, \
             k.settings_json, (SELECT ch.plugin FROM channels ch WHERE ch.id = k.channel_id) \
             AS plugin, CAST(CASE WHEN k.max_concurrent IS NULL \
             AND (k.ends_at IS NULL OR k.ends_at > $1) THEN 1 ELSE 0 END AS BIGINT) AS fair, \
             {WINDOW_COLUMNS} \
             FROM members m CROSS JOIN campaigns k CROSS JOIN contacts c CROSS JOIN tenants t \
             WHERE k.id = m.campaign_id AND c.id = m.contact_id AND t.id = m.tenant_id \
             AND m.next_step_at IS NOT NULL AND m.next_step_at <= $1 AND k.status = 'running' \
             ORDER BY m.next_step_at, m.id LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(limit.clamp(1, ADVANCE_BATCH))
        .fetch_all(&mut **tx)
        .await?;
        if due.is_empty() {
            return Ok(None);
        }
        let mut settings = HashMap::new();
        let mut judge = WindowJudge::at(now);
        let mut advanced = Advanced::default();
        let mut deferred = Vec::new();
        for m in &due {
            let campaign = settings
                .entry(m.campaign_id)
                // Unreadable: its journeys end.
                .or_insert_with(|| stored_settings(m.campaign_id, &m.settings_json));
            match decide(m, campaign.as_ref()) {
                Decision::Queue {
                    step,
                    channel_id,
                    address,
                } => match judge.wait(m.campaign_id, &m.window) {
                    Some((until, reason)) => {
                        deferred.push(DeferredStep { id: m.id, until });
                        advanced.events.push((
                            m.tenant_id,
                            m.id,
                            "deferred",
                            format!(
                                "{} {reason}: waits until {}",
                                step.name(),
                                crate::clock::format_ms(until)
                            ),
                        ));
                    }
                    None => {
                        advanced.follow_ups.add(ReadyStep {
                            id: m.id,
                            tenant_id: m.tenant_id,
                            campaign_id: m.campaign_id,
                            step,
                            channel_id,
                            address,
                            plugin: m.plugin.clone(),
                            fair: m.fair == 1,
                        });
                    }
                },
                Decision::Skip {
                    step,
                    missing,
                    after,
                } => {
                    plan_next(tx, m.id, m.next_step, after, now).await?;
                    if after.is_none() {
                        advanced.ended.push(m.campaign_id);
                    }
                    advanced.events.push((
                        m.tenant_id,
                        m.id,
                        "skipped",
                        format!("{} skipped: the contact has no {missing}", step.name()),
                    ));
                }
                Decision::End => {
                    plan_next(tx, m.id, m.next_step, None, now).await?;
                    advanced.ended.push(m.campaign_id);
                }
            }
        }
        self.defer_steps(tx, &deferred).await?;
        Ok(Some(advanced))
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

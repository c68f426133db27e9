//! Campaign members: claiming due work under a lease, recording each attempt
//! before the plugin is called, and recording outcomes in batches.

use std::collections::BTreeMap;

use sqlx::Row;

use super::claimed::{Loaded, load_claimed};
use super::credit_holds::Settlement;
use super::journey_advance::Advanced;
pub(super) use super::member_events::{contact_values, insert_events};
use super::outcome_rows::{self, MemberOutcome, SentMessage};
use super::send_checks::disqualify_claimed;
use super::{Id, Store, StoreResult, now_ms};
use crate::domain::campaign_spec::CampaignContent;
use crate::domain::journey::Step;
use crate::domain::member::MemberStatus;

/// What a claim answers for each member it claimed (every claim statement
/// returns these, in this order: readers take the first six by position):
/// id, tenant, campaign, address, attempt, idempotency key, and its
/// tenant's duplicate window in hours (0: off), read in the statement that
/// claims so a claim round knows without another whether to check it; and
/// when it was due (its place in its campaign's queue: `queue_front`).
pub(super) const CLAIMED_COLUMNS: &str = "members.id, members.tenant_id, members.campaign_id, \
    members.address, members.attempts, members.idempotency_key, \
    (SELECT t.duplicate_window_hours FROM tenants t WHERE t.id = members.tenant_id) \
    AS duplicate_window_hours, members.next_attempt_at AS due_at";

/// Who claims, until when, as of when.
pub(super) struct Lease<'a> {
    pub(super) owner: &'a str,
    pub(super) until: i64,
    pub(super) now: i64,
}

/// A member claimed for sending, with what the dispatcher needs to render and
/// send its message.
#[derive(Clone, Debug)]
pub struct ClaimedMember {
    pub id: Id,
    pub tenant_id: Id,
    pub campaign_id: Id,
    pub channel_id: Id,
    pub address: String,
    pub attempt: i64,
    pub idempotency_key: String,
    /// What the campaign sends.
    pub content: CampaignContent,
    /// Contact values for template variables (standard and custom fields).
    pub values: BTreeMap<String, String>,
    /// The journey step this attempt sends ([`Step::index`]).
    pub step: i64,
    /// The follow-up to plan once this step is sent: (step index, ms after).
    pub next_follow_up: Option<(i64, i64)>,
    /// The campaign has a fallback for this step's final failure.
    pub falls_back: bool,
    /// The channel revision and plugin version its call used, once made
    /// (recorded with the outcome; a lookup reuses the original send's).
    pub sent_with: Option<super::SentWith>,
    /// What its message does with a value the contact lacks.
    pub missing_field: crate::domain::template::MissingField,
    /// The tenant had a credit balance when the member was claimed: only
    /// then does its send reserve credits (a statement per send that
    /// unmetered tenants, the default, are spared).
    pub metered: bool,
}

/// A sent member whose delivery receipt has not arrived in time.
#[derive(Clone, Debug)]
pub struct OverdueReceipt {
    pub tenant_id: Id,
    pub member_id: Id,
    pub campaign_id: Id,
    pub channel_id: Id,
    pub provider_message_id: String,
    /// The channel revision its send used (`None`: sent before revisions
    /// were recorded; the current settings answer).
    pub channel_revision: Option<i64>,
    /// The plugin version its send used (a canary's looks its own
    /// messages up).
    pub plugin_sha256: Option<String>,
}

/// What happened to one attempt.
#[derive(Clone, Debug)]
pub enum SendOutcome {
    Accepted {
        provider_message_id: String,
        /// When the provider accepted it (not when the batch was written).
        at: i64,
        /// What was sent, as text, for the member's conversation.
        summary: String,
    },
    /// Try again at `at` (rate limited, transient error).
    Retry {
        at: i64,
        error_code: Option<String>,
        error_message: String,
    },
    Failed {
        error_code: Option<String>,
        error_message: String,
        /// The cause may pass: "retry failed" may send it again.
        retryable: bool,
    },
    /// The provider may or may not have it: `unknown`, never resent under a
    /// new attempt. Looked up at the provider at `recheck_at`; `None`:
    /// nobody will look, an operator decides (its credits are charged).
    Uncertain {
        error_code: String,
        error_message: String,
        recheck_at: Option<i64>,
    },
}

impl Store {
    /// One claim transaction (see [`Store::claim_due`]): the claimed members,
    /// and how many were deferred to their sending window instead.
    pub(super) async fn claim_round(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
        room: &super::SendRoom,
    ) -> StoreResult<(Vec<ClaimedMember>, usize)> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let lease = Lease {
            owner,
            until: now + lease_ms,
            now,
        };
        // Follow-ups whose time has come are sent in this transaction
        // (`None`: nothing was due).
        let advanced = self.advance_due(&mut tx, now, limit).await?;
        let follow_ups_due = advanced.is_some();
        let Advanced {
            mut ended,
            mut events,
            mut follow_ups,
        } = advanced.unwrap_or_default();
        // Campaigns without a concurrency limit: shared fairly between
        // tenants and their campaigns (see `fair_claim`), the ready
        // follow-ups claimed with their campaign's share.
        let mut claimed = self
            .claim_fairly(&mut tx, &lease, limit, room, &mut follow_ups)
            .await?;
        // The follow-ups no share took join the queue (the claim below
        // counts the slots of campaigns with a concurrency limit).
        let (lost, follow_up_events) = self.queue_follow_ups(&mut tx, &mut follow_ups, now).await?;
        ended.extend(lost);
        events.extend(follow_up_events);
        // Campaigns with one (voice): at most the free slots of each.
        for (campaign, free) in self.free_slots(&mut tx, now).await? {
            let room = free.min(limit - claimed.len() as i64);
            if room <= 0 {
                break;
            }
            claimed.extend(
                self.claim_campaign(&mut tx, &lease, campaign, None, room)
                    .await?,
            );
        }
        if claimed.is_empty() && !follow_ups_due {
            tx.rollback().await?;
            return Ok((Vec::new(), 0));
        }
        let mut blocked =
            disqualify_claimed(&mut tx, &claimed, now, &super::dnc::NOT_LISTED).await?;
        claimed.retain(|r| !blocked.contains_key(&r.get::<Id, _>(0)));
        // The duplicate window, only where a claimed member's tenant has
        // one (off by default): its address locks and its check cost two
        // statements a claim, one lock and two lookups a member.
        if claimed
            .iter()
            .any(|r| r.get::<i64, _>("duplicate_window_hours") > 0)
        {
            super::dedupe::lock_addresses(&mut tx, self.backend, &claimed).await?;
            blocked.extend(
                disqualify_claimed(&mut tx, &claimed, now, &super::dedupe::NOT_DUPLICATE).await?,
            );
            claimed.retain(|r| !blocked.contains_key(&r.get::<Id, _>(0)));
        }
        // Disqualified members are final, and journeys that ended leave
        // theirs final: their campaigns may be done.
        let mut finished_campaigns: Vec<Id> = blocked.into_values().collect();
        finished_campaigns.extend(ended);
        finished_campaigns.sort_unstable();
        finished_campaigns.dedup();
        let (members, deferred) = if claimed.is_empty() {
            (Vec::new(), 0)
        } else {
            let Loaded {
                mut members,
                windows,
            } = load_claimed(&mut tx, &claimed).await?;
            let deferred = super::send_window::defer_closed(
                &mut tx,
                &mut members,
                &windows,
                &follow_ups.written(),
                now,
            )
            .await?;
            (members, deferred)
        };
        // The follow-ups' events and the attempts' in one statement.
        events.extend(members.iter().map(|m| {
            let step = Step::from_index(m.step).unwrap_or(Step::Primary).name();
            (
                m.tenant_id,
                m.id,
                "attempt",
                format!("{step}: attempt {} key {}", m.attempt, m.idempotency_key),
            )
        }));
        insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        if !finished_campaigns.is_empty() {
            self.complete_finished_campaigns(&finished_campaigns)
                .await?;
        }
        Ok((members, deferred))
    }

    /// Marks up to `limit` due members of `campaign` (after `after` in its
    /// queue, if given) as `claimed` under the lease, if it is running;
    /// returns rows of [`CLAIMED_COLUMNS`].
    pub(super) async fn claim_campaign(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lease: &Lease<'_>,
        campaign: Id,
        after: Option<super::queue_front::Place>,
        limit: i64,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        // A row comparison on the index's last two columns: the index scan
        // starts at the place (see `queue_front`). `claimable_at IS NOT
        // NULL` is implied by the comparison but said: a generic plan
        // estimates `claimable_at <= $n` as a third of the table, nulls
        // (every member not queued) included, and then scanned `members`;
        // the null test is estimated from the column's statistics.
        // (The same in the due probes of `fair_claim` and `free_slots`.)
        let condition = match after {
            None => "m.campaign_id = $5",
            Some(_) => "m.campaign_id = $5 AND (m.claimable_at, m.id) > ($6, $7)",
        };
        // The key names the intent (member, step), not the attempt: a retry
        // of the same step keeps the key its first attempt had, so a
        // provider that took the message and answered too late can refuse
        // the second (a user's "retry failed" clears it: a new intent).
        let this_step = "CAST(id AS TEXT) || '-' || CAST(step + 1 AS TEXT)";
        let sql = format!(
            "UPDATE members SET status = 'claimed', attempts = attempts + 1, lease_owner = $1, \
             lease_until = $2, updated_at = $3, wait_reason = NULL, \
             idempotency_key = CASE WHEN idempotency_key LIKE {this_step} || '-%' \
               THEN idempotency_key ELSE {this_step} || '-' || CAST(attempts + 1 AS TEXT) END \
             WHERE id IN (SELECT m.id FROM members m JOIN campaigns k ON k.id = m.campaign_id \
               WHERE m.claimable_at IS NOT NULL AND m.claimable_at <= $3 \
               AND k.status IN ('running', 'retrying') \
               AND (k.ends_at IS NULL OR k.ends_at > $3) \
               AND {condition} ORDER BY m.claimable_at, m.id LIMIT $4{}) \
             RETURNING {CLAIMED_COLUMNS}",
            self.skip_locked_of("m")
        );
        let mut q = sqlx::query(&sql)
            .bind(lease.owner)
            .bind(lease.until)
            .bind(lease.now)
            .bind(limit)
            .bind(campaign);
        if let Some(place) = after {
            q = q.bind(place.due_at).bind(place.id);
        }
        Ok(q.fetch_all(&mut **tx).await?)
    }

    /// Running campaigns with a concurrency limit, due members and free
    /// slots: (campaign, free slots). A member holds a slot from its claim
    /// until its final status (for a call: until the call ends). On
    /// PostgreSQL each campaign row is locked before counting, so two
    /// instances cannot both fill the same free slot.
    async fn free_slots(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        now: i64,
    ) -> StoreResult<Vec<(Id, i64)>> {
        let candidates: Vec<(Id, i64)> = sqlx::query(
            "SELECT k.id, k.max_concurrent FROM campaigns k \
             WHERE k.status IN ('running', 'retrying') \
             AND k.max_concurrent IS NOT NULL AND EXISTS (SELECT 1 FROM members m \
               WHERE m.campaign_id = k.id AND m.claimable_at IS NOT NULL \
               AND m.claimable_at <= $1) \
             ORDER BY k.id",
        )
        .bind(now)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let mut free = Vec::new();
        for (campaign, max) in candidates {
            if self.backend == super::Backend::Postgres {
                sqlx::query("SELECT id FROM campaigns WHERE id = $1 FOR UPDATE")
                    .bind(campaign)
                    .fetch_optional(&mut **tx)
                    .await?;
            }
            // From the tallies (a few rows): no index of `members` names
            // the status (see migration 0036).
            let busy: i64 = sqlx::query_scalar(&format!(
                "SELECT CAST(COALESCE(SUM(t.members), 0) AS BIGINT) FROM {} \
                 WHERE t.status IN ('claimed', 'sending', 'sent')",
                super::tallies::tally_rows("campaign_id = $1")
            ))
            .bind(campaign)
            .fetch_one(&mut **tx)
            .await?;
            if busy < max {
                free.push((campaign, max - busy));
            }
        }
        Ok(free)
    }

    fn skip_locked_of(&self, table: &str) -> String {
        let clause = self.skip_locked();
        if clause.is_empty() {
            String::new()
        } else {
            format!(" FOR UPDATE OF {table} SKIP LOCKED")
        }
    }

    /// Records a batch of attempt outcomes in one transaction. Only members
    /// still leased by `owner` change, so a late writer cannot overwrite the
    /// result of a newer claim. Returns the campaigns touched.
    /// An accepted member's receipt is due `receipt_due_ms` from now (see
    /// `receipt_checks`).
    pub async fn record_outcomes(
        &self,
        owner: &str,
        outcomes: &[(ClaimedMember, SendOutcome)],
        receipt_due_ms: i64,
    ) -> StoreResult<Vec<Id>> {
        let writes = super::SendWrites {
            outcomes,
            ..Default::default()
        };
        let written = self.write_sends(owner, writes, receipt_due_ms).await?;
        Ok(written.campaigns)
    }

    /// [`Self::record_outcomes`] in `tx` (see `send_writes`).
    pub(super) async fn record_outcomes_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner: &str,
        outcomes: &[(ClaimedMember, SendOutcome)],
        receipt_due_ms: i64,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut accepted = Vec::new();
        let mut sent_messages = Vec::new();
        // Each member's new row, and what the bookkeeping after the update
        // needs to know of it.
        let mut rows = Vec::with_capacity(outcomes.len());
        let mut written = Vec::with_capacity(outcomes.len());
        for (m, outcome) in outcomes {
            let retryable = matches!(
                outcome,
                SendOutcome::Failed {
                    retryable: true,
                    ..
                }
            );
            let mut reconcile_at = None;
            let (status, next_at, pmid, code, message, sent_at) = match outcome {
                SendOutcome::Accepted {
                    provider_message_id,
                    at,
                    summary,
                } => {
                    accepted.push((m.tenant_id, m.channel_id, provider_message_id.clone()));
                    sent_messages.push(SentMessage {
                        tenant_id: m.tenant_id,
                        member_id: m.id,
                        channel_id: m.channel_id,
                        address: &m.address,
                        body: summary,
                        provider_message_id,
                        at: *at,
                    });
                    (
                        MemberStatus::Sent,
                        now + receipt_due_ms,
                        Some(provider_message_id.as_str()),
                        None,
                        None,
                        Some(*at),
                    )
                }
                SendOutcome::Retry {
                    at,
                    error_code,
                    error_message,
                } => (
                    MemberStatus::Queued,
                    *at,
                    None,
                    error_code.as_deref(),
                    Some(error_message.as_str()),
                    None,
                ),
                SendOutcome::Failed {
                    error_code,
                    error_message,
                    ..
                } => (
                    MemberStatus::Failed,
                    now,
                    None,
                    error_code.as_deref(),
                    Some(error_message.as_str()),
                    None,
                ),
                SendOutcome::Uncertain {
                    error_code,
                    error_message,
                    recheck_at,
                } => {
                    reconcile_at = *recheck_at;
                    (
                        MemberStatus::Unknown,
                        now,
                        None,
                        Some(error_code.as_str()),
                        Some(error_message.as_str()),
                        None,
                    )
                }
            };
            // Once a step is sent, its follow-up (if any) is due work.
            let next = sent_at.and(m.next_follow_up);
            rows.push(MemberOutcome {
                id: m.id,
                status: status.as_str(),
                next_attempt_at: next_at,
                provider_message_id: pmid,
                error_code: code,
                error_message: message,
                sent_at,
                retryable: retryable as i64,
                next_step: next.map(|(step, _)| step),
                next_step_at: next.and_then(|(_, after)| sent_at.map(|at| at + after)),
                channel_id: m.channel_id,
                reconcile_at,
                channel_revision: m.sent_with.as_ref().map(|w| w.channel_revision),
                plugin_sha256: m.sent_with.as_ref().map(|w| w.plugin_sha256.as_str()),
            });
            written.push((m, status, pmid, code, message, reconcile_at));
        }
        let changed =
            outcome_rows::update_members(&mut *tx, self.backend, owner, now, &mut rows).await?;
        let mut events = Vec::with_capacity(outcomes.len());
        let mut falling_back = Vec::new();
        let mut settled = Vec::new();
        // Accepted after the lease was lost: evidence for the lookup.
        let mut late = Vec::new();
        let mut awaited = Vec::new();
        for (m, status, pmid, code, message, reconcile_at) in written {
            if !changed.contains(&m.id) {
                if let Some(id) = pmid {
                    late.push((m, id));
                }
                continue;
            }
            if status == MemberStatus::Sent {
                awaited.push(m.id);
            }
            if status == MemberStatus::Failed && m.falls_back {
                falling_back.push((m.tenant_id, m.id));
            }
            // An uncertain send's credits stay held until its lookup
            // answers (charged if nobody will ever know).
            if !(status == MemberStatus::Unknown && reconcile_at.is_some()) {
                settled.push(Settlement {
                    member: m.id,
                    attempt: m.attempt,
                    charged: matches!(status, MemberStatus::Sent | MemberStatus::Unknown),
                });
            }
            let detail = match (pmid, message) {
                (Some(id), _) => format!("accepted as {id}"),
                (None, Some(msg)) => format!("{}: {msg}", code.unwrap_or("-")),
                (None, None) => String::new(),
            };
            events.push((m.tenant_id, m.id, status.as_str(), detail));
        }
        insert_events(&mut *tx, now, &events).await?;
        settled.extend(
            super::uncertain::adopt_late_acceptances(&mut *tx, &late, now, receipt_due_ms).await?,
        );
        // After the failure events, so the history reads in order.
        for (tenant, member) in falling_back {
            super::journeys::after_failure(&mut *tx, tenant, member, now).await?;
        }
        outcome_rows::insert_sent_messages(&mut *tx, self.backend, &sent_messages).await?;
        super::receipt_checks::expect(&mut *tx, self.backend, &awaited, now + receipt_due_ms)
            .await?;
        // Receipts that raced ahead of this outcome can be applied now.
        self.apply_parked_receipts(&mut *tx, &accepted).await?;
        // With the outcomes, so a crash cannot leave credits reserved for a
        // send whose outcome is written.
        super::credit_holds::settle_outcomes(&mut *tx, &settled).await?;
        Ok(())
    }
}

//! Quiet hours and calling hours at claim time: a claimed member whose
//! windows are closed goes back to `queued`, due at the next opening, with
//! the claim undone (no attempt used) in the claim's own transaction, so
//! nothing outside ever sees it claimed.
//!
//! What the decision needs comes with the rows a round reads anyway
//! ([`WINDOW_COLUMNS`] beside the claimed members' details, or the due
//! follow-ups): a statement of its own per round held SQLite's one writer
//! for a round trip more on every claim.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::FromRow;

use super::members::{ClaimedMember, insert_events};
use super::{Id, Store, StoreResult};
use crate::domain::send_window::{CampaignWindows, SendContext, SendDecision, decide};
use crate::domain::window::DailyWindow;

/// The columns [`WindowFacts`] reads, for a statement that joins the
/// member's contact as `c`, tenant as `t` and campaign as `k`.
pub(super) const WINDOW_COLUMNS: &str = "c.timezone AS contact_tz, c.phone AS contact_phone, \
     t.timezone AS tenant_tz, t.quiet_hours_start, t.quiet_hours_end, k.windows_json";

/// One member's sending windows, as stored.
#[derive(FromRow)]
pub(super) struct WindowFacts {
    contact_tz: Option<String>,
    contact_phone: Option<String>,
    tenant_tz: String,
    quiet_hours_start: String,
    quiet_hours_end: String,
    windows_json: Option<String>,
}

/// Why a member waits, and until when (ms).
pub(super) type Wait = (i64, &'static str);

/// A campaign's windows as parsed: the same for all its members.
struct CampaignFrame {
    tenant_tz: jiff::tz::TimeZone,
    tenant_quiet: DailyWindow,
    windows: CampaignWindows,
}

/// Decides members' windows at one instant, parsing each campaign's stored
/// windows once (a round holds up to hundreds of one campaign's members).
pub(super) struct WindowJudge {
    now: jiff::Timestamp,
    frames: HashMap<Id, CampaignFrame>,
}

impl WindowJudge {
    pub(super) fn at(now: i64) -> Self {
        Self {
            now: jiff::Timestamp::from_millisecond(now).unwrap_or_default(),
            frames: HashMap::new(),
        }
    }

    /// `None`: the member may be sent to now.
    pub(super) fn wait(&mut self, campaign: Id, facts: &WindowFacts) -> Option<Wait> {
        let frame = self
            .frames
            .entry(campaign)
            .or_insert_with(|| CampaignFrame {
                tenant_tz: crate::domain::send_window::parse_timezone(&facts.tenant_tz)
                    .unwrap_or(jiff::tz::TimeZone::UTC),
                tenant_quiet: DailyWindow::parse(&facts.quiet_hours_start, &facts.quiet_hours_end)
                    .unwrap_or(DailyWindow::QUIET_HOURS),
                windows: facts
                    .windows_json
                    .as_deref()
                    .and_then(|j| serde_json::from_str(j).ok())
                    .unwrap_or_default(),
            });
        let ctx = SendContext {
            contact_tz: facts.contact_tz.as_deref(),
            phone: facts.contact_phone.as_deref(),
            tenant_tz: &frame.tenant_tz,
            tenant_quiet: frame.tenant_quiet,
            campaign: &frame.windows,
        };
        match decide(&ctx, self.now) {
            SendDecision::Now => None,
            SendDecision::Wait { until, reason } => Some((until.as_millisecond(), reason.as_str())),
        }
    }
}

impl Store {
    /// Claims up to `limit` due members of running campaigns: each gets status
    /// `sending`, its attempt number, a stable idempotency key and a lease, and
    /// an `attempt` event, all committed before any plugin call.
    ///
    /// Members outside their sending window are deferred, not claimed; when
    /// a whole round was deferred another round runs at once (each moves the
    /// deferred ones into the future, so this ends).
    ///
    /// No tenant gets more than its `room` (its share of the sends in
    /// flight, see `engine::send_slots`).
    pub async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
        room: &super::SendRoom,
    ) -> StoreResult<Vec<ClaimedMember>> {
        for _ in 0..10 {
            let started = std::time::Instant::now();
            let (members, deferred) = self.claim_round(owner, lease_ms, limit, room).await?;
            crate::metrics::db_seconds("claim", started.elapsed());
            if !members.is_empty() || deferred == 0 {
                return Ok(members);
            }
        }
        Ok(Vec::new())
    }
}

/// Removes from `claimed` the members that may not be sent to at `now`
/// (`windows`: each one's facts), deferring them; `checked` were found open
/// at this same instant in this transaction (follow-ups the round advanced)
/// and are not judged again. Returns how many were deferred.
pub(super) async fn defer_closed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    claimed: &mut Vec<ClaimedMember>,
    windows: &BTreeMap<Id, WindowFacts>,
    checked: &HashSet<Id>,
    now: i64,
) -> StoreResult<usize> {
    let mut judge = WindowJudge::at(now);
    let mut waits = BTreeMap::new();
    for m in claimed.iter() {
        if checked.contains(&m.id) {
            continue;
        }
        if let Some(wait) = windows
            .get(&m.id)
            .and_then(|f| judge.wait(m.campaign_id, f))
        {
            waits.insert(m.id, wait);
        }
    }
    if waits.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::new();
    for m in claimed.iter() {
        let Some((until, reason)) = waits.get(&m.id) else {
            continue;
        };
        // The key the member had before this claim (none before a first try
        // of its step): the same member and step, the previous attempt.
        let previous_key = (m.attempt > 1)
            .then(|| {
                m.idempotency_key
                    .rsplit_once('-')
                    .map(|(stem, _)| format!("{stem}-{}", m.attempt - 1))
            })
            .flatten();
        sqlx::query(
            "UPDATE members SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, \
             lease_until = NULL, next_attempt_at = $1, wait_reason = $2, idempotency_key = $3 \
             WHERE id = $4",
        )
        .bind(until)
        .bind(reason)
        .bind(previous_key)
        .bind(m.id)
        .execute(&mut **tx)
        .await?;
        events.push((
            m.tenant_id,
            m.id,
            "deferred",
            format!("{reason}: waits until {}", crate::clock::format_ms(*until)),
        ));
    }
    insert_events(tx, now, &events).await?;
    claimed.retain(|m| !waits.contains_key(&m.id));
    Ok(events.len())
}

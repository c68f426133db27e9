//! Campaigns: their settings, status changes and progress figures.

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::campaign_spec::{CampaignContent, CampaignKind, CampaignSettings, SendMode};
use crate::domain::journey::Journey;
use crate::domain::lifecycle::{Action, PauseReason, Status};
use crate::domain::member::MemberStatus;
use crate::domain::schedule::local_time;
use crate::domain::send_window::{CampaignWindows, parse_timezone};
use crate::domain::template::MissingField;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: Id,
    pub name: String,
    /// Serialised as `type` by `content`.
    #[serde(skip)]
    pub kind: CampaignKind,
    pub channel_id: Id,
    pub list_id: Id,
    /// `type` (`sms`, `whatsapp`, `voice`, `email`) and that type's fields
    /// (`body`, `template`, `caller_id`, ...), as created.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub content: CampaignContent,
    pub send_mode: SendMode,
    /// Where a session's replies go (`reply_endpoint` or `queue:NAME`).
    pub session_target: Option<String>,
    /// `fallback` and `follow_ups`, when the campaign has them.
    #[serde(flatten)]
    pub journey: Journey,
    /// A `{{variable}}` a contact has no value for (and no `default`
    /// filter covers): `skip_member` (the member fails with error code
    /// `missing_field:NAME`) or `render_empty`.
    pub missing_field: MissingField,
    /// `draft`, `scheduled`, `pending`, `running`, `paused`, `stopped`,
    /// `retrying`, `completed`, `cancelled` or `archived` (see the README's
    /// lifecycle table).
    #[serde(serialize_with = "status_str")]
    #[schema(value_type = String)]
    pub status: Status,
    /// Why it is paused or stopped, as a code: `paused_by_user`,
    /// `insufficient_credits`, `provider_auth_failed`,
    /// `too_many_provider_errors`, `channel_unusable`, `plugin_quarantined`,
    /// `plugin_unavailable`.
    pub status_cause: Option<&'static str>,
    /// Why the campaign is in its status, in words, when known.
    pub status_reason: Option<String>,
    /// What a user may do to it now (`edit`, `go_live`, `pause`...).
    pub allowed_actions: Vec<&'static str>,
    pub notes: Option<String>,
    /// The default tag (from the name) first, then the custom ones.
    pub tags: Vec<String>,
    /// Planned outreaches wait for approval before they are sent.
    pub manual_review: bool,
    /// `manual`: the audience is the list when the campaign starts.
    /// `automatic`: once started, contacts join as they are added (API,
    /// import, inbound) and the campaign stays running, idle when empty.
    pub execution_mode: String,
    /// Automatic campaigns: a message from an unknown number on the
    /// campaign's channel makes it a contact and a member.
    pub inbound_enrolment: bool,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<i64>,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<i64>,
    /// Quiet-hours override and calling hours (`quiet_hours`, `calling_hours`).
    #[serde(flatten)]
    pub windows: CampaignWindows,
    /// When the campaign starts by itself (RFC 3339, UTC).
    pub scheduled_at: Option<String>,
    /// The same instant as local time in `scheduled_timezone` (the tenant's).
    pub scheduled_at_local: Option<String>,
    pub scheduled_timezone: Option<String>,
    #[serde(skip)]
    pub scheduled_at_ms: Option<i64>,
    /// The message template the content was copied from, and the version
    /// copied (refreshed when the campaign goes live, then kept).
    pub message_template_id: Option<Id>,
    pub message_template_version: Option<i64>,
    /// No outreach after this instant (RFC 3339, UTC): members not reached
    /// by then end `expired` and the campaign completes.
    pub ends_at: Option<String>,
    /// The same instant as local time in the tenant's timezone.
    pub ends_at_local: Option<String>,
    #[serde(skip)]
    pub ends_at_ms: Option<i64>,
}

pub struct NewCampaign {
    pub name: String,
    pub kind: CampaignKind,
    pub channel_id: Id,
    pub list_id: Id,
    pub content: CampaignContent,
    pub send_mode: SendMode,
    pub session_target: Option<String>,
    /// Members in flight at most (voice calls); `None` for no limit.
    pub max_concurrent: Option<i64>,
    pub execution_mode: String,
    pub inbound_enrolment: bool,
    pub windows: CampaignWindows,
    pub scheduled_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub notes: Option<String>,
    /// Custom tags, already normalised (`domain::tags::custom_tags`).
    pub tags: Vec<String>,
    pub manual_review: bool,
    pub wait_for_sender: bool,
    pub journey: Journey,
    pub missing_field: MissingField,
}

fn status_str<S: serde::Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// Delivery figures of one campaign.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Members targeted.
    pub target: i64,
    /// Not yet attempted or waiting for a retry.
    pub queued: i64,
    /// Accepted by the provider (includes delivered and failed-after-sending).
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Outcome unknown after a crash; never resent automatically.
    pub unknown: i64,
    pub cancelled: i64,
    /// Not sent: on the do-not-contact list when their turn came.
    pub disqualified: i64,
    /// Not sent: the campaign's end date passed before their turn.
    pub expired: i64,
    /// Read by the recipient (WhatsApp); also counted in `delivered`.
    pub read: i64,
    /// Voice: calls that ended at a machine (with or without voicemail).
    pub completed: i64,
    /// Delivered, read, or a human answered the call.
    pub reached: i64,
    /// Members who replied at least once, opt-outs apart.
    pub replied: i64,
    /// Members who answered with an opt-out keyword (STOP...): not replies.
    pub opted_out: i64,
    /// `replied / reached` as a percentage (0 when nobody was reached).
    pub response_rate: f64,
    /// Members in a final state, as a percentage of the target.
    pub percent_done: f64,
    /// The same figures per channel (`GET /v1/campaigns/{id}/progress` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_channel: Vec<super::ChannelProgress>,
}

/// A campaign start enrolling at least this many members refreshes the
/// planner's statistics of `members` (see `refresh_member_stats`).
const STATS_AFTER_MEMBERS: u64 = 10_000;

pub(super) const COLUMNS: &str = "id, name, kind, channel_id, list_id, settings_json, status, \
    status_reason, created_at, started_at, finished_at, send_mode, execution_mode, \
    inbound_enrolment, status_cause, notes, manual_review, default_tag, windows_json, \
    scheduled_at, (SELECT timezone FROM tenants t WHERE t.id = campaigns.tenant_id), \
    message_template_id, message_template_version, ends_at";
/// How many columns `COLUMNS` selects: queries adding their own after it
/// read them from here on.
pub(super) const COLUMN_COUNT: usize = 24;

/// A summary kept in the legacy `body` column (the SMS text, the email
/// subject, the template name), for people reading the table directly.
pub(super) fn body_column(content: &CampaignContent) -> String {
    match content {
        CampaignContent::Sms { body, .. } => body.clone(),
        CampaignContent::Whatsapp { template } => template.name.clone(),
        CampaignContent::Voice(v) => v.queue.clone(),
        CampaignContent::Email { subject, .. } => subject.clone(),
    }
}

impl Store {
    pub async fn create_campaign(&self, tenant: Id, new: NewCampaign) -> StoreResult<Campaign> {
        let mut tx = self.write_tx().await?;
        let id: Id = sqlx::query_scalar(
            "INSERT INTO campaigns (tenant_id, name, kind, channel_id, list_id, body, status, \
             created_at, settings_json, max_concurrent, send_mode, execution_mode, \
             inbound_enrolment, notes, manual_review, default_tag, windows_json, scheduled_at, \
             wait_for_sender, ends_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20) \
             RETURNING id",
        )
        .bind(tenant)
        .bind(&new.name)
        .bind(new.kind.as_str())
        .bind(new.channel_id)
        .bind(new.list_id)
        .bind(body_column(&new.content))
        .bind(crate::domain::lifecycle::create().as_str())
        .bind(now_ms())
        .bind(
            serde_json::to_string(&CampaignSettings {
                content: new.content,
                session_target: new.session_target,
                journey: new.journey,
                missing_field: new.missing_field,
            })
            .expect("settings serialise"),
        )
        .bind(new.max_concurrent)
        .bind(new.send_mode.as_str())
        .bind(&new.execution_mode)
        .bind(new.inbound_enrolment as i64)
        .bind(&new.notes)
        .bind(new.manual_review as i64)
        .bind(crate::domain::tags::default_tag(&new.name))
        .bind(windows_json(&new.windows))
        .bind(new.scheduled_at)
        .bind(new.wait_for_sender as i64)
        .bind(new.ends_at)
        .fetch_one(&mut *tx)
        .await?;
        super::campaign_tags::set_tags(&mut tx, tenant, id, &new.tags).await?;
        tx.commit().await?;
        self.campaign(tenant, id).await
    }

    pub async fn campaign(&self, tenant: Id, id: Id) -> StoreResult<Campaign> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM campaigns WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut campaign = campaign_from_row(&row)?;
        let default_tag: String = row.get(17);
        let mut tags = self.campaign_tags(tenant, &[id]).await?;
        campaign.tags = std::iter::once(default_tag)
            .chain(tags.remove(&id).unwrap_or_default())
            .collect();
        Ok(campaign)
    }

    /// The first time a campaign runs (go live from a draft, or its
    /// scheduled start): `from` -> Running, snapshotting the list into
    /// members, all due now, in the same transaction as the status change.
    /// Email campaigns address the contact's email, the others its phone;
    /// contacts without one are left out.
    pub async fn start_campaign(
        &self,
        tenant: Id,
        id: Id,
        kind: CampaignKind,
        from: Status,
    ) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE campaigns SET status = 'running', started_at = $1, status_reason = NULL, \
             status_cause = NULL WHERE tenant_id = $2 AND id = $3 AND status = $4",
        )
        .bind(now)
        .bind(tenant)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(super::lifecycle::changed_meanwhile());
        }
        let column = kind.address_column();
        let members = sqlx::query(&format!(
            "INSERT INTO members (tenant_id, campaign_id, contact_id, address, status, \
             next_attempt_at, updated_at) \
             SELECT $1, $2, c.id, c.{column}, {}, $3, $3 FROM campaigns k \
             JOIN list_contacts lc ON lc.list_id = k.list_id \
             JOIN contacts c ON c.id = lc.contact_id \
             WHERE k.id = $2 AND k.tenant_id = $1 AND c.{column} IS NOT NULL \
             ON CONFLICT (campaign_id, contact_id) DO NOTHING",
            super::review::FIRST_STATUS
        ))
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        super::sender_wait::hold_if_busy(&mut tx, tenant, id).await?;
        let skipped = super::dedupe::disqualify_active_elsewhere(&mut tx, id, None, now).await?;
        tx.commit().await?;
        // Every member may have been skipped: nothing would complete it.
        if skipped > 0 {
            self.complete_finished_campaigns(&[id]).await?;
        }
        if members >= STATS_AFTER_MEMBERS {
            self.refresh_member_stats_soon();
        }
        Ok(members)
    }

    /// Refreshes the statistics of `members` in the background after a
    /// large campaign starts (see `Store::refresh_member_stats`).
    fn refresh_member_stats_soon(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.refresh_member_stats().await {
                tracing::warn!(error = %e, "refreshing the statistics of members failed");
            }
        });
    }

    pub async fn progress(&self, tenant: Id, campaign: Id) -> StoreResult<Progress> {
        // From the tallies the triggers keep (migration 0030): a few rows
        // whatever the campaign's size.
        let rows = sqlx::query(&format!(
            "SELECT t.status, {TALLY_SUMS} FROM {} \
             JOIN campaigns c ON c.id = t.campaign_id \
             WHERE c.tenant_id = $1 GROUP BY t.status",
            super::tallies::tally_rows("campaign_id = $2")
        ))
        .bind(tenant)
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        let mut p = Progress::default();
        for r in rows {
            p.add(
                &r.get::<String, _>(0),
                r.get(1),
                r.get(2),
                (r.get(3), r.get(4)),
            );
        }
        p.by_channel = self.progress_by_channel(tenant, campaign).await?;
        Ok(p.finish())
    }

    /// Running (or retrying) campaigns whose members have all reached a final
    /// state become Completed (the lifecycle's `all_final`). Returns the ids
    /// completed.
    pub async fn complete_finished_campaigns(&self, candidates: &[Id]) -> StoreResult<Vec<Id>> {
        // The statuses the lifecycle table lets `all_final` complete, and the
        // member statuses that are not final yet, both from the domain.
        let from = super::lifecycle::sources(Action::AllFinal, Status::Completed);
        let pending: Vec<String> = MemberStatus::ALL
            .into_iter()
            .filter(|s| !s.is_done())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        // A member in a status that is not final, by the campaign's tallies
        // (a few rows, exact: the triggers write them with the members; no
        // index of `members` names the status, see migration 0036); then
        // an index lookup stopping at its first row: a member with a
        // journey step still planned (members_campaign_next_step).
        let pending_member = format!(
            "SELECT t.campaign_id FROM {} WHERE t.status IN ({}) \
             GROUP BY t.campaign_id HAVING SUM(t.members) > 0",
            super::tallies::tally_rows("campaign_id = $2"),
            pending.join(", ")
        );
        let planned_step =
            "SELECT campaign_id FROM members WHERE campaign_id = $2 AND next_step IS NOT NULL";
        // An uncertain send still to be looked up may yet be sent again.
        // (`members_campaign_reconcile`, whose predicate it states.)
        let awaiting_lookup = "SELECT campaign_id FROM members WHERE campaign_id = $2 \
             AND reconcile_at IS NOT NULL AND status = 'unknown'";
        let sql = format!(
            "UPDATE campaigns SET status = 'completed', status_cause = NULL, finished_at = $1 \
             WHERE id = $2 AND status IN ({from}) AND execution_mode = 'manual' \
             AND NOT EXISTS ({pending_member}) AND NOT EXISTS ({planned_step}) \
             AND NOT EXISTS ({awaiting_lookup})"
        );
        // Asked first without writing: while a campaign sends, the answer is
        // almost always "not yet", and on SQLite the UPDATE would wait for
        // the write lock the dispatcher needs.
        let busy = [
            format!("{pending_member} LIMIT 1").replace("$2", "$1"),
            format!("{planned_step} LIMIT 1").replace("$2", "$1"),
            format!("{awaiting_lookup} LIMIT 1").replace("$2", "$1"),
        ];
        let mut completed = Vec::new();
        for &id in candidates {
            let mut unfinished = false;
            for check in &busy {
                unfinished = sqlx::query_scalar::<_, i64>(check)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some();
                if unfinished {
                    break;
                }
            }
            if unfinished {
                continue;
            }
            let changed = sqlx::query(&sql)
                .bind(now_ms())
                .bind(id)
                .execute(&self.writer)
                .await?
                .rows_affected();
            if changed > 0 {
                completed.push(id);
            }
        }
        Ok(completed)
    }
}

/// The member, sent, replied and opted-out sums of `member_tallies t`
/// rows, as [`Progress::add`] takes them.
pub(super) const TALLY_SUMS: &str = "CAST(SUM(t.members) AS BIGINT), CAST(SUM(t.sent) AS BIGINT), \
     CAST(SUM(t.replied) AS BIGINT), CAST(SUM(t.opted_out) AS BIGINT)";

impl Progress {
    /// Counts `count` members in `status`, of which `sent` were sent and
    /// `replied` replied and opted out.
    pub(super) fn add(&mut self, status: &str, count: i64, sent: i64, replied: (i64, i64)) {
        self.target += count;
        self.sent += sent;
        self.replied += replied.0;
        self.opted_out += replied.1;
        match status {
            "queued" | "claimed" | "sending" | "awaiting_approval" | "approved" | "disabled" => {
                self.queued += count
            }
            "delivered" => self.delivered += count,
            "read" => {
                self.delivered += count;
                self.read += count;
            }
            "completed" => self.completed += count,
            "failed" => self.failed += count,
            "unknown" => self.unknown += count,
            "cancelled" => self.cancelled += count,
            "disqualified" => self.disqualified += count,
            "expired" => self.expired += count,
            _ => {}
        }
    }

    /// The percentages, once every status is counted.
    pub(super) fn finish(mut self) -> Self {
        let done = self.delivered
            + self.completed
            + self.failed
            + self.unknown
            + self.cancelled
            + self.expired;
        self.percent_done = percent(done, self.target);
        self.reached = self.delivered;
        self.response_rate = percent(self.replied, self.reached);
        self
    }
}

/// `part / whole` as a percentage with one decimal; 0 for an empty whole.
fn percent(part: i64, whole: i64) -> f64 {
    if whole > 0 {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    } else {
        0.0
    }
}

/// Reads a stored status back; an unknown one (a newer version's) reads as
/// Stopped rather than as something that would send.
fn status_from(status: &str, cause: Option<&str>) -> Status {
    Status::parse(status, cause)
        .or_else(|| (status == "paused").then_some(Status::Paused(PauseReason::User)))
        .unwrap_or(Status::Stopped(
            crate::domain::lifecycle::FaultCause::PluginUnavailable,
        ))
}

/// A campaign's stored settings, parsed once for a round of its members
/// (`None`: unreadable, logged; the API stores them after validation, so
/// that is a bug, and the send path leaves those members out).
pub(super) fn stored_settings(campaign: Id, json: &str) -> Option<CampaignSettings> {
    serde_json::from_str(json)
        .inspect_err(|e| tracing::error!(campaign, error = %e, "unreadable campaign settings"))
        .ok()
}

/// `NULL` when the campaign adds nothing to the tenant's quiet hours.
pub(super) fn windows_json(w: &CampaignWindows) -> Option<String> {
    (w != &CampaignWindows::default()).then(|| serde_json::to_string(w).expect("serialises"))
}

pub(super) fn campaign_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Campaign> {
    let settings: CampaignSettings = serde_json::from_str(&r.get::<String, _>(5))
        .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
    let windows: CampaignWindows = r
        .get::<Option<String>, _>(18)
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let scheduled_at_ms: Option<i64> = r.get(19);
    let tenant_tz: String = r.get(20);
    let both = |ms: Option<i64>| {
        ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|at| {
                let tz = parse_timezone(&tenant_tz).unwrap_or(jiff::tz::TimeZone::UTC);
                (at.to_string(), local_time(at, &tz))
            })
    };
    let schedule = both(scheduled_at_ms);
    let ends_at_ms: Option<i64> = r.get(23);
    let ends = both(ends_at_ms);
    Ok(Campaign {
        ends_at_local: ends.as_ref().map(|s| s.1.clone()),
        ends_at: ends.map(|s| s.0),
        ends_at_ms,
        windows,
        scheduled_at_ms,
        message_template_id: r.get(21),
        message_template_version: r.get(22),
        scheduled_timezone: schedule.as_ref().map(|_| tenant_tz.clone()),
        scheduled_at_local: schedule.as_ref().map(|s| s.1.clone()),
        scheduled_at: schedule.map(|s| s.0),
        id: r.get(0),
        name: r.get(1),
        kind: CampaignKind::parse(&r.get::<String, _>(2)).unwrap_or(CampaignKind::Sms),
        channel_id: r.get(3),
        list_id: r.get(4),
        content: settings.content,
        session_target: settings.session_target,
        journey: settings.journey,
        missing_field: settings.missing_field,
        send_mode: if r.get::<String, _>(11) == "session" {
            SendMode::Session
        } else {
            SendMode::Direct
        },
        status: status_from(
            &r.get::<String, _>(6),
            r.get::<Option<String>, _>(14).as_deref(),
        ),
        status_cause: None,
        allowed_actions: Vec::new(),
        status_reason: r.get(7),
        notes: r.get(15),
        manual_review: r.get::<i64, _>(16) != 0,
        tags: vec![r.get(17)],
        created_at: r.get(8),
        started_at: r.get(9),
        finished_at: r.get(10),
        execution_mode: r.get(12),
        inbound_enrolment: r.get::<i64, _>(13) != 0,
    }
    .with_derived())
}

impl Campaign {
    /// Fills in what follows from the status.
    fn with_derived(mut self) -> Self {
        self.status_cause = self.status.reason();
        self.allowed_actions = self.status.allowed_actions();
        self
    }

    /// Whether contacts may be added to this campaign now (import or API):
    /// a draft takes them into its list; a live automatic campaign enrols
    /// them; a live manual one fixed its audience when it started.
    pub fn check_takes_contacts(&self) -> Result<(), String> {
        match (self.status, self.execution_mode.as_str()) {
            // A scheduled campaign reads its list when it starts, like a draft.
            (Status::Draft | Status::Scheduled, _) => Ok(()),
            (Status::Running | Status::Paused(_), "automatic") => Ok(()),
            (Status::Running | Status::Paused(_), mode) => Err(format!(
                "campaign {} is a {mode} campaign that has started: its audience was fixed \
                 then; add the contacts to a new campaign, or use an automatic one",
                self.id
            )),
            (status, _) => Err(format!(
                "campaign {} is {} and takes no more contacts",
                self.id,
                status.as_str()
            )),
        }
    }
}

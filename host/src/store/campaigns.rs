//! Campaigns: their settings, status changes and progress figures.

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::campaign::CampaignStatus;
use crate::domain::campaign_spec::{CampaignContent, CampaignKind, CampaignSettings, SendMode};
use crate::domain::journey::Journey;
use crate::domain::schedule::local_time;
use crate::domain::send_window::{CampaignWindows, parse_timezone};

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
    pub status: CampaignStatus,
    /// Why the campaign is in its status (e.g. who paused it), when known.
    pub status_reason: Option<String>,
    /// `manual`: the audience is the list when the campaign starts.
    /// `automatic`: once started, contacts join as they are added (API,
    /// import, inbound) and the campaign stays running, idle when empty.
    pub execution_mode: String,
    /// Automatic campaigns: a message from an unknown number on the
    /// campaign's channel makes it a contact and a member.
    pub inbound_enrolment: bool,
    pub created_at: i64,
    pub started_at: Option<i64>,
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
    pub journey: Journey,
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
    /// Read by the recipient (WhatsApp); also counted in `delivered`.
    pub read: i64,
    /// Voice: calls that ended at a machine (with or without voicemail).
    pub completed: i64,
    /// Delivered, read, or a human answered the call.
    pub reached: i64,
    /// Members who replied at least once.
    pub replied: i64,
    /// `replied / reached` as a percentage (0 when nobody was reached).
    pub response_rate: f64,
    /// Members in a final state, as a percentage of the target.
    pub percent_done: f64,
}

const COLUMNS: &str = "id, name, kind, channel_id, list_id, settings_json, status, status_reason, \
                       created_at, started_at, finished_at, send_mode, execution_mode, \
                       inbound_enrolment, windows_json, scheduled_at, \
                       (SELECT timezone FROM tenants t WHERE t.id = campaigns.tenant_id)";

/// A summary kept in the legacy `body` column (the SMS text, the email
/// subject, the template name), for people reading the table directly.
fn body_column(content: &CampaignContent) -> String {
    match content {
        CampaignContent::Sms { body, .. } => body.clone(),
        CampaignContent::Whatsapp { template } => template.name.clone(),
        CampaignContent::Voice(v) => v.queue.clone(),
        CampaignContent::Email { subject, .. } => subject.clone(),
    }
}

impl Store {
    pub async fn create_campaign(&self, tenant: Id, new: NewCampaign) -> StoreResult<Campaign> {
        let id: Id = sqlx::query_scalar(
            "INSERT INTO campaigns (tenant_id, name, kind, channel_id, list_id, body, status, \
             created_at, settings_json, max_concurrent, send_mode, execution_mode, \
             inbound_enrolment, windows_json, scheduled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             RETURNING id",
        )
        .bind(tenant)
        .bind(&new.name)
        .bind(new.kind.as_str())
        .bind(new.channel_id)
        .bind(new.list_id)
        .bind(body_column(&new.content))
        .bind(CampaignStatus::Draft.as_str())
        .bind(now_ms())
        .bind(
            serde_json::to_string(&CampaignSettings {
                content: new.content,
                session_target: new.session_target,
                journey: new.journey,
            })
            .expect("settings serialise"),
        )
        .bind(new.max_concurrent)
        .bind(new.send_mode.as_str())
        .bind(&new.execution_mode)
        .bind(new.inbound_enrolment as i64)
        .bind(windows_json(&new.windows))
        .bind(new.scheduled_at)
        .fetch_one(&self.pool)
        .await?;
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
        campaign_from_row(&row)
    }

    pub async fn campaigns(&self, tenant: Id) -> StoreResult<Vec<Campaign>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM campaigns WHERE tenant_id = $1 ORDER BY id DESC"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    /// Moves a campaign from `from` to `to` only if it is still in `from`
    /// (compare-and-set), so two concurrent requests cannot both win.
    pub async fn set_campaign_status(
        &self,
        tenant: Id,
        id: Id,
        from: CampaignStatus,
        to: CampaignStatus,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        let done = matches!(to, CampaignStatus::Completed | CampaignStatus::Cancelled);
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE campaigns SET status = $1, status_reason = $2, \
             finished_at = CASE WHEN $3 THEN $4 ELSE finished_at END \
             WHERE tenant_id = $5 AND id = $6 AND status = $7",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(done)
        .bind(now)
        .bind(tenant)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(changed_meanwhile());
        }
        if to == CampaignStatus::Cancelled {
            sqlx::query(
                "UPDATE members SET status = 'cancelled', updated_at = $1 \
                 WHERE campaign_id = $2 AND status = 'queued'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            // Planned follow-ups go with it.
            sqlx::query(
                "UPDATE members SET next_step = NULL, next_step_at = NULL \
                 WHERE campaign_id = $1 AND next_step IS NOT NULL",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Draft -> Running: snapshots the list into members, all due now, in the
    /// same transaction as the status change. Email campaigns address the
    /// contact's email, the others its phone; contacts without one are left out.
    pub async fn start_campaign(&self, tenant: Id, id: Id, kind: CampaignKind) -> StoreResult<u64> {
        self.start_campaign_from(tenant, id, kind, CampaignStatus::Draft)
            .await
    }

    /// `from` -> Running (Draft by a user, Scheduled by the scheduler).
    pub(super) async fn start_campaign_from(
        &self,
        tenant: Id,
        id: Id,
        kind: CampaignKind,
        from: CampaignStatus,
    ) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE campaigns SET status = 'running', started_at = $1, status_reason = NULL \
             WHERE tenant_id = $2 AND id = $3 AND status = $4",
        )
        .bind(now)
        .bind(tenant)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(changed_meanwhile());
        }
        let column = kind.address_column();
        let members = sqlx::query(&format!(
            "INSERT INTO members (tenant_id, campaign_id, contact_id, address, status, \
             next_attempt_at, updated_at) \
             SELECT $1, $2, c.id, c.{column}, 'queued', $3, $3 FROM campaigns k \
             JOIN list_contacts lc ON lc.list_id = k.list_id \
             JOIN contacts c ON c.id = lc.contact_id \
             WHERE k.id = $2 AND k.tenant_id = $1 AND c.{column} IS NOT NULL \
             ON CONFLICT (campaign_id, contact_id) DO NOTHING"
        ))
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(members)
    }

    pub async fn progress(&self, tenant: Id, campaign: Id) -> StoreResult<Progress> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*), COUNT(sent_at), COUNT(replied_at) FROM members \
             WHERE tenant_id = $1 AND campaign_id = $2 GROUP BY status",
        )
        .bind(tenant)
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        let mut p = Progress::default();
        for r in rows {
            let status: String = r.get(0);
            let count: i64 = r.get(1);
            p.target += count;
            p.sent += r.get::<i64, _>(2);
            p.replied += r.get::<i64, _>(3);
            match status.as_str() {
                "queued" | "sending" => p.queued += count,
                "delivered" => p.delivered += count,
                "read" => {
                    p.delivered += count;
                    p.read += count;
                }
                "completed" => p.completed += count,
                "failed" => p.failed += count,
                "unknown" => p.unknown += count,
                "cancelled" => p.cancelled += count,
                "disqualified" => p.disqualified += count,
                _ => {}
            }
        }
        let done = p.delivered + p.completed + p.failed + p.unknown + p.cancelled;
        p.percent_done = percent(done, p.target);
        p.reached = p.delivered;
        p.response_rate = percent(p.replied, p.reached);
        Ok(p)
    }

    /// Running campaigns whose members have all reached a final state become
    /// Completed. Returns the ids completed.
    pub async fn complete_finished_campaigns(&self, candidates: &[Id]) -> StoreResult<Vec<Id>> {
        let mut completed = Vec::new();
        for &id in candidates {
            let changed = sqlx::query(
                "UPDATE campaigns SET status = 'completed', finished_at = $1 \
                 WHERE id = $2 AND status = 'running' AND execution_mode = 'manual' AND NOT EXISTS \
                 (SELECT 1 FROM members WHERE campaign_id = $2 \
                  AND (status IN ('queued', 'sending', 'sent') OR next_step IS NOT NULL))",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if changed > 0 {
                completed.push(id);
            }
        }
        Ok(completed)
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

/// A compare-and-set status change lost to a concurrent one.
fn changed_meanwhile() -> StoreError {
    StoreError::Conflict("the campaign changed status meanwhile; reload it".into())
}

/// `NULL` when the campaign adds nothing to the tenant's quiet hours.
pub(super) fn windows_json(w: &CampaignWindows) -> Option<String> {
    (w != &CampaignWindows::default()).then(|| serde_json::to_string(w).expect("serialises"))
}

fn campaign_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Campaign> {
    let settings: CampaignSettings = serde_json::from_str(&r.get::<String, _>(5))
        .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
    let windows: CampaignWindows = r
        .get::<Option<String>, _>(14)
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let scheduled_at_ms: Option<i64> = r.get(15);
    let tenant_tz: String = r.get(16);
    let schedule = scheduled_at_ms
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|at| {
            let tz = parse_timezone(&tenant_tz).unwrap_or(jiff::tz::TimeZone::UTC);
            (at.to_string(), local_time(at, &tz))
        });
    Ok(Campaign {
        windows,
        scheduled_at_ms,
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
        send_mode: if r.get::<String, _>(11) == "session" {
            SendMode::Session
        } else {
            SendMode::Direct
        },
        status: CampaignStatus::parse(&r.get::<String, _>(6)).unwrap_or(CampaignStatus::Draft),
        status_reason: r.get(7),
        created_at: r.get(8),
        started_at: r.get(9),
        finished_at: r.get(10),
        execution_mode: r.get(12),
        inbound_enrolment: r.get::<i64, _>(13) != 0,
    })
}

impl Campaign {
    /// Whether contacts may be added to this campaign now (import or API):
    /// a draft takes them into its list; a live automatic campaign enrols
    /// them; a live manual one fixed its audience when it started.
    pub fn check_takes_contacts(&self) -> Result<(), String> {
        match (self.status, self.execution_mode.as_str()) {
            // A scheduled campaign reads its list when it starts, like a draft.
            (CampaignStatus::Draft | CampaignStatus::Scheduled, _) => Ok(()),
            (CampaignStatus::Running | CampaignStatus::Paused, "automatic") => Ok(()),
            (CampaignStatus::Running | CampaignStatus::Paused, mode) => Err(format!(
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

//! Journeys in the database. A member holds one step at a time (`step`,
//! with `channel_id` and `address` for that step); a step that fails for
//! good becomes the fallback, queued at once; a sent step plans the next
//! follow-up as due work (`next_step` at `next_step_at`), which the claim
//! turns into a queued send when its time comes and its sending window is
//! open. So fallbacks and follow-ups go through the same claim as first
//! sends (do-not-contact, quiet hours, idempotency keys, leases), fire
//! from the database on the business clock, and survive restarts. Any reply
//! from the contact cancels pending follow-ups; an opt-out cancels every
//! step after the primary.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::members::{contact_values, insert_events};
use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::campaign_spec::{CampaignContent, CampaignSettings};
use crate::domain::journey::{Addresses, AfterFailure, Step, address_for};
use crate::domain::member::MemberStatus;

/// One member's journey: where it is, what comes next, what happened.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyView {
    pub member_id: Id,
    /// The current step's delivery status.
    pub status: MemberStatus,
    /// `primary`, `fallback` or `follow_up_N`: the step `status` is about.
    pub current_step: String,
    pub channel_id: Id,
    pub address: String,
    /// The next outreach scheduled, if any.
    pub next: Option<NextOutreach>,
    /// Every recorded event of the member, oldest first.
    pub history: Vec<JourneyEvent>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NextOutreach {
    pub step: String,
    pub channel_id: Id,
    /// Where it goes; absent when the contact lacks the address (the step
    /// will be skipped).
    pub address: Option<String>,
    /// When it is due; quiet hours may move it later.
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    /// The message as the contact would get it (filled in by the engine).
    pub content: Option<String>,
    /// Why it cannot be rendered, when it cannot.
    pub content_error: Option<String>,
    #[serde(skip)]
    pub source: Option<(
        CampaignContent,
        BTreeMap<String, String>,
        crate::domain::template::MissingField,
    )>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyEvent {
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

impl Store {
    /// Cancels the journeys of the tenant's contact at `address` after a
    /// reply: pending follow-ups (and follow-ups already queued); after an
    /// opt-out, the queued fallbacks too (queued primaries meet the
    /// do-not-contact check). Returns the campaigns touched.
    pub async fn cancel_journeys(
        &self,
        tenant: Id,
        address: &str,
        opted_out: bool,
    ) -> StoreResult<Vec<Id>> {
        const OF_CONTACT: &str = "contact_id IN (SELECT id FROM contacts \
             WHERE tenant_id = $1 AND (phone = $2 OR email = $2))";
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let why = if opted_out {
            "the contact opted out"
        } else {
            "the contact replied"
        };
        let pending = sqlx::query(&format!(
            "UPDATE members SET next_step = NULL, next_step_at = NULL, updated_at = $3 \
             WHERE tenant_id = $1 AND next_step IS NOT NULL AND {OF_CONTACT} \
             RETURNING id, campaign_id"
        ))
        .bind(tenant)
        .bind(address)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let first_cancelled = if opted_out {
            Step::Fallback
        } else {
            Step::FollowUp(1)
        };
        let queued = sqlx::query(&format!(
            "UPDATE members SET status = 'cancelled', error_message = $4, updated_at = $3 \
             WHERE tenant_id = $1 AND status = 'queued' AND step >= $5 AND {OF_CONTACT} \
             RETURNING id, campaign_id"
        ))
        .bind(tenant)
        .bind(address)
        .bind(now)
        .bind(format!("cancelled: {why}"))
        .bind(first_cancelled.index())
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::new();
        for (rows, what) in [
            (&pending, "pending follow-ups cancelled"),
            (&queued, "queued step cancelled"),
        ] {
            for r in rows {
                events.push((
                    tenant,
                    r.get::<Id, _>(0),
                    "cancelled",
                    format!("{what}: {why}"),
                ));
            }
        }
        insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        let mut campaigns: Vec<Id> = pending.iter().chain(&queued).map(|r| r.get(1)).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        Ok(campaigns)
    }

    /// A member's journey: its current step, the next outreach (content not
    /// yet rendered: see [`NextOutreach::source`]) and its history.
    pub async fn journey(&self, tenant: Id, campaign: Id, member: Id) -> StoreResult<JourneyView> {
        let r = sqlx::query(
            "SELECT m.status, m.step, m.channel_id, m.address, m.next_attempt_at, m.next_step, \
             m.next_step_at, k.channel_id, k.settings_json, c.phone, c.email, c.first_name, \
             c.last_name, c.fields_json FROM members m JOIN campaigns k ON k.id = m.campaign_id \
             JOIN contacts c ON c.id = m.contact_id \
             WHERE m.tenant_id = $1 AND m.campaign_id = $2 AND m.id = $3",
        )
        .bind(tenant)
        .bind(campaign)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let status = MemberStatus::parse(&r.get::<String, _>(0)).unwrap_or(MemberStatus::Queued);
        let step = Step::from_index(r.get(1)).unwrap_or(Step::Primary);
        let campaign_channel: Id = r.get(7);
        let channel_id = r.get::<Option<Id>, _>(2).unwrap_or(campaign_channel);
        let address: String = r.get(3);
        let settings: CampaignSettings = serde_json::from_str(&r.get::<String, _>(8))
            .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
        let values = contact_values(&r, 9);
        let (phone, email): (Option<String>, Option<String>) = (r.get(9), r.get(10));
        let to = Addresses {
            phone: phone.as_deref(),
            email: email.as_deref(),
        };
        let content_of = |s: Step| match settings.journey.step(s) {
            Some(stored) => Some((stored.channel_id, stored.content.clone())),
            None if s == Step::Primary => Some((campaign_channel, settings.content.clone())),
            None => None,
        };
        let next_step: Option<i64> = r.get(5);
        let pending = if status == MemberStatus::Queued {
            Some((step, r.get::<i64, _>(4), Some(address.clone())))
        } else {
            next_step.and_then(Step::from_index).map(|s| {
                let address = settings
                    .journey
                    .step(s)
                    .and_then(|stored| address_for(stored.kind(), to));
                (s, r.get::<Option<i64>, _>(6).unwrap_or_default(), address)
            })
        };
        let next = pending.and_then(|(s, at, address)| {
            let (channel, content) = content_of(s)?;
            Some(NextOutreach {
                step: s.name(),
                channel_id: channel,
                address,
                at,
                content: None,
                content_error: None,
                source: Some((content, values.clone(), settings.missing_field)),
            })
        });
        let history = sqlx::query(
            "SELECT at, kind, detail FROM member_events WHERE tenant_id = $1 AND member_id = $2 \
             ORDER BY at, id",
        )
        .bind(tenant)
        .bind(member)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|e| JourneyEvent {
            at: e.get(0),
            kind: e.get(1),
            detail: e.get(2),
        })
        .collect();
        Ok(JourneyView {
            member_id: member,
            status,
            current_step: step.name(),
            channel_id,
            address,
            next,
            history,
        })
    }
}

/// A step failed for good (refused, or a failed receipt): the member's
/// pending follow-up goes, and the primary's fallback is queued at once, or
/// recorded as skipped when the contact lacks its address.
pub(super) async fn after_failure(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: Id,
    member: Id,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE members SET next_step = NULL, next_step_at = NULL \
         WHERE id = $1 AND next_step IS NOT NULL",
    )
    .bind(member)
    .execute(&mut **tx)
    .await?;
    let Some(r) = sqlx::query(
        "SELECT m.step, k.settings_json, c.phone, c.email, m.error_code FROM members m \
         JOIN campaigns k ON k.id = m.campaign_id JOIN contacts c ON c.id = m.contact_id \
         WHERE m.id = $1 AND m.status = 'failed'",
    )
    .bind(member)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(());
    };
    let Some(step) = Step::from_index(r.get(0)) else {
        return Ok(());
    };
    let Ok(settings) = serde_json::from_str::<CampaignSettings>(&r.get::<String, _>(1)) else {
        return Ok(());
    };
    let (phone, email): (Option<String>, Option<String>) = (r.get(2), r.get(3));
    let code: Option<String> = r.get(4);
    let to = Addresses {
        phone: phone.as_deref(),
        email: email.as_deref(),
    };
    let event = match settings.journey.after_failure(step, to) {
        AfterFailure::End => return Ok(()),
        AfterFailure::SkipFallback(missing) => (
            "skipped",
            format!("fallback skipped: the contact has no {missing}"),
        ),
        AfterFailure::Fallback(fallback, address) => {
            sqlx::query(
                "UPDATE members SET status = 'queued', step = $1, channel_id = $2, address = $3, \
                 attempts = 0, next_attempt_at = $4, provider_message_id = NULL, \
                 wait_reason = NULL, updated_at = $4 WHERE id = $5 AND status = 'failed'",
            )
            .bind(Step::Fallback.index())
            .bind(fallback.channel_id)
            .bind(&address)
            .bind(now)
            .bind(member)
            .execute(&mut **tx)
            .await?;
            (
                "fallback",
                format!(
                    "{} failed ({}); fallback on channel {} to {address}",
                    step.name(),
                    code.as_deref().unwrap_or("-"),
                    fallback.channel_id
                ),
            )
        }
    };
    insert_events(tx, now, &[(tenant, member, event.0, event.1)]).await
}

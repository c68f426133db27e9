//! Voice call progress applied to members: the AMD result, the final call
//! status, and retries queued with their due time in the database (a retry
//! is a `queued` member whose `next_attempt_at` is in the future, so it
//! survives restarts and is claimed by whichever instance is up).

use sqlx::Row;

use super::json_rows::backend_of;
use super::members::insert_events;
use super::{Id, Store, StoreResult, now_ms};
use crate::domain::campaign_spec::{CampaignContent, CampaignSettings};
use crate::domain::voice::{CallDecision, CallReport, CallState, Disposition, decide_call};

/// `early_receipts.status` of a parked call report.
pub(super) const PARKED_CALL: &str = "call";

impl Store {
    /// Applies one call report. Returns the campaign of the member it
    /// changed, if any. A report for a call whose send outcome is not yet
    /// recorded is parked and applied when it is.
    pub async fn apply_call_report(
        &self,
        tenant: Id,
        provider_message_id: &str,
        report: &CallReport,
    ) -> StoreResult<Option<Id>> {
        let mut tx = self.write_tx().await?;
        self.lock_message_id(&mut tx, provider_message_id).await?;
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM members WHERE tenant_id = $1 AND provider_message_id = $2",
        )
        .bind(tenant)
        .bind(provider_message_id)
        .fetch_optional(&mut *tx)
        .await?;
        let touched = if known.is_some() {
            apply_call(&mut tx, tenant, provider_message_id, report).await?
        } else {
            sqlx::query(
                "INSERT INTO early_receipts (tenant_id, provider_message_id, status, at, \
                 event_json) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant)
            .bind(provider_message_id)
            .bind(PARKED_CALL)
            .bind(now_ms())
            .bind(serde_json::to_string(report).expect("report serialises"))
            .execute(&mut *tx)
            .await?;
            None
        };
        tx.commit().await?;
        Ok(touched)
    }
}

/// Applies a report to the member whose current call it is, inside `tx`.
pub(super) async fn apply_call(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: Id,
    provider_message_id: &str,
    report: &CallReport,
) -> StoreResult<Option<Id>> {
    // Only a call in flight (`sent`) changes: a report for a call that has
    // already ended, or for an earlier attempt, finds no such member.
    let Some(row) = sqlx::query(
        "SELECT m.id, m.campaign_id, m.attempts, m.disposition, k.settings_json \
         FROM members m JOIN campaigns k ON k.id = m.campaign_id \
         WHERE m.tenant_id = $1 AND m.provider_message_id = $2 AND m.status = 'sent'",
    )
    .bind(tenant)
    .bind(provider_message_id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let member: Id = row.get(0);
    let campaign: Id = row.get(1);
    let attempts: i64 = row.get(2);
    let disposition = row
        .get::<Option<String>, _>(3)
        .as_deref()
        .and_then(Disposition::parse);
    let (max_retries, retry_delay_secs) = voice_retries(&row.get::<String, _>(4));
    let state = CallState {
        disposition,
        attempts,
        max_retries,
        retry_delay_ms: retry_delay_secs * 1000,
    };
    let now = now_ms();
    let (status, next_at, error, detail) = match decide_call(state, report) {
        CallDecision::Ignore => return Ok(None),
        CallDecision::Provisional(d) => {
            sqlx::query("UPDATE members SET disposition = $1, updated_at = $2 WHERE id = $3")
                .bind(d.as_str())
                .bind(now)
                .bind(member)
                .execute(&mut **tx)
                .await?;
            let detail = format!("call answered by {}", d.as_str());
            insert_events(tx, now, &[(tenant, member, "call", detail)]).await?;
            return Ok(None);
        }
        CallDecision::Reached(d) => ("delivered", now, None, d),
        CallDecision::Ended(d) => ("completed", now, None, d),
        CallDecision::Retry(d, delay_ms) => (
            "queued",
            now + delay_ms,
            Some(format!(
                "call {} on attempt {attempts}; retry {attempts} of {max_retries} due in {} s",
                d.as_str(),
                delay_ms / 1000
            )),
            d,
        ),
        CallDecision::Failed(d) => (
            "failed",
            now,
            Some(format!("call {} after {attempts} attempt(s)", d.as_str())),
            d,
        ),
    };
    sqlx::query(
        "UPDATE members SET status = $1, next_attempt_at = $2, disposition = $3, \
         error_code = CASE WHEN $4 IS NULL THEN NULL ELSE $3 END, error_message = $4, \
         delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END, \
         updated_at = $5 WHERE id = $6 AND status = 'sent'",
    )
    .bind(status)
    .bind(next_at)
    .bind(detail.as_str())
    .bind(error.as_deref())
    .bind(now)
    .bind(member)
    .execute(&mut **tx)
    .await?;
    // The call's end is its receipt.
    let backend = backend_of(tx);
    super::receipt_checks::settle(&mut *tx, backend, &[member]).await?;
    let event = format!("call ended: {}", detail.as_str());
    insert_events(tx, now, &[(tenant, member, status, event)]).await?;
    if status == "failed" {
        // Never reached: the journey's fallback message, if it has one.
        super::journeys::after_failure(tx, tenant, member, now).await?;
    }
    Ok(Some(campaign))
}

/// (max_retries, retry_delay_secs) of a voice campaign's settings; no
/// retries for anything else.
fn voice_retries(settings_json: &str) -> (i64, i64) {
    match serde_json::from_str::<CampaignSettings>(settings_json) {
        Ok(CampaignSettings {
            content: CampaignContent::Voice(v),
            ..
        }) => (v.max_retries, v.retry_delay_secs),
        _ => (0, 60),
    }
}

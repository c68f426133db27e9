//! Scheduled campaigns: going live with a start time, editing it, and the
//! scheduler's query for campaigns whose time has come. The start time is
//! in the database, so a restart loses nothing.

use sqlx::Row;

use super::campaigns::windows_json;
use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::campaign_spec::CampaignKind;
use crate::domain::campaign_spec::CampaignSettings;
use crate::domain::journey::Journey;
use crate::domain::journey_timing::Shift;
use crate::domain::lifecycle::Status;
use crate::domain::send_window::CampaignWindows;

/// A timing edit; `None` leaves a value as it is.
pub struct TimingEdit {
    /// `Some(None)` clears the schedule.
    pub scheduled_at: Option<Option<i64>>,
    pub windows: Option<CampaignWindows>,
    /// `Some(None)` removes the end date.
    pub ends_at: Option<Option<i64>>,
    /// Follow-ups re-timed: the journey with its new gaps, and how the due
    /// times of members already waiting move.
    pub follow_ups: Option<(Journey, Vec<Shift>)>,
}

impl Store {
    /// Changes the schedule, windows and follow-up gaps of a campaign still
    /// in `status` (compare-and-set against concurrent changes), in one
    /// transaction: members waiting for a re-timed follow-up move with it.
    pub async fn edit_campaign_timing(
        &self,
        tenant: Id,
        id: Id,
        status: Status,
        edit: &TimingEdit,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE campaigns SET \
             scheduled_at = CASE WHEN $1 THEN $2 ELSE scheduled_at END, \
             windows_json = CASE WHEN $3 THEN $4 ELSE windows_json END, \
             ends_at = CASE WHEN $8 THEN $9 ELSE ends_at END \
             WHERE tenant_id = $5 AND id = $6 AND status = $7",
        )
        .bind(edit.scheduled_at.is_some())
        .bind(edit.scheduled_at.flatten())
        .bind(edit.windows.is_some())
        .bind(edit.windows.as_ref().and_then(windows_json))
        .bind(tenant)
        .bind(id)
        .bind(status.as_str())
        .bind(edit.ends_at.is_some())
        .bind(edit.ends_at.flatten())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict(
                "the campaign changed status meanwhile; reload it".into(),
            ));
        }
        if let Some((journey, shifts)) = &edit.follow_ups {
            let moved = retime_follow_ups(&mut tx, id, journey, shifts).await?;
            tracing::info!(
                tenant,
                campaign = id,
                members_moved = moved,
                "follow-ups re-timed"
            );
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts every scheduled campaign whose time has come (snapshotting its
    /// list into members, as a manual start does), unless its tenant's
    /// campaigns are switched off: it then waits, scheduled, until they are
    /// on again. Answers (tenant, id,
    /// members) of those this call started; another instance starting one
    /// first is not an error.
    pub async fn start_due_scheduled(&self) -> StoreResult<Vec<(Id, Id, u64)>> {
        let due = sqlx::query(
            "SELECT tenant_id, id, kind FROM campaigns WHERE status = 'scheduled' \
             AND scheduled_at <= $1 \
             AND tenant_id IN (SELECT id FROM tenants WHERE campaigns_enabled = 1) \
             ORDER BY scheduled_at LIMIT 50",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        let mut started = Vec::new();
        for r in due {
            let (tenant, id): (Id, Id) = (r.get(0), r.get(1));
            let kind = CampaignKind::parse(&r.get::<String, _>(2)).unwrap_or(CampaignKind::Sms);
            match self
                .start_campaign(tenant, id, kind, Status::Scheduled)
                .await
            {
                Ok(members) => started.push((tenant, id, members)),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(started)
    }
}

/// Stores the journey's new gaps and moves the pending due times of members
/// waiting for a re-timed follow-up. Answers how many members moved.
async fn retime_follow_ups(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    campaign: Id,
    journey: &Journey,
    shifts: &[Shift],
) -> StoreResult<u64> {
    let raw: String = sqlx::query_scalar("SELECT settings_json FROM campaigns WHERE id = $1")
        .bind(campaign)
        .fetch_one(&mut **tx)
        .await?;
    // Stored by the API after validation; unreadable means a bug.
    let mut settings: CampaignSettings =
        serde_json::from_str(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    settings.journey = journey.clone();
    sqlx::query("UPDATE campaigns SET settings_json = $1 WHERE id = $2")
        .bind(serde_json::to_string(&settings).expect("settings serialise"))
        .bind(campaign)
        .execute(&mut **tx)
        .await?;
    let mut moved = 0;
    for shift in shifts {
        moved += sqlx::query(
            "UPDATE members SET next_step_at = next_step_at + $1 \
             WHERE campaign_id = $2 AND next_step = $3 AND next_step_at IS NOT NULL",
        )
        .bind(shift.delta_ms)
        .bind(campaign)
        .bind(shift.step.index())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(moved)
}

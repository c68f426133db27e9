//! Scheduled campaigns: going live with a start time, editing it, and the
//! scheduler's query for campaigns whose time has come. The start time is
//! in the database, so a restart loses nothing.

use sqlx::Row;

use super::campaigns::windows_json;
use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::campaign_spec::CampaignKind;
use crate::domain::lifecycle::Status;
use crate::domain::send_window::CampaignWindows;

/// A timing edit; `None` leaves a value as it is.
pub struct TimingEdit {
    /// `Some(None)` clears the schedule.
    pub scheduled_at: Option<Option<i64>>,
    pub windows: Option<CampaignWindows>,
    /// `Some(None)` removes the end date.
    pub ends_at: Option<Option<i64>>,
}

impl Store {
    /// Changes the schedule and windows of a campaign still in `status`
    /// (compare-and-set against concurrent changes).
    pub async fn edit_campaign_timing(
        &self,
        tenant: Id,
        id: Id,
        status: Status,
        edit: &TimingEdit,
    ) -> StoreResult<()> {
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
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict(
                "the campaign changed status meanwhile; reload it".into(),
            ));
        }
        Ok(())
    }

    /// Starts every scheduled campaign whose time has come (snapshotting its
    /// list into members, as a manual start does). Answers (tenant, id,
    /// members) of those this call started; another instance starting one
    /// first is not an error.
    pub async fn start_due_scheduled(&self) -> StoreResult<Vec<(Id, Id, u64)>> {
        let due = sqlx::query(
            "SELECT tenant_id, id, kind FROM campaigns WHERE status = 'scheduled' \
             AND scheduled_at <= $1 ORDER BY scheduled_at LIMIT 50",
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

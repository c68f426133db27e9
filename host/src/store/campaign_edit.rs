//! Editing a campaign (what may change is decided by the lifecycle table in
//! the API) and duplicating one as a new draft.

use super::campaigns::{Campaign, NewCampaign, body_column};
use super::{Id, Store, StoreResult, now_ms};
use crate::domain::campaign_spec::CampaignSettings;
use crate::domain::lifecycle::{self, Status};
use crate::domain::tags::default_tag;

/// The changes of one edit; `None` leaves a field as it is.
#[derive(Default)]
pub struct CampaignEdit {
    pub name: Option<String>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
    /// Custom tags, normalised.
    pub tags: Option<Vec<String>>,
    pub manual_review: Option<bool>,
    /// A draft's whole definition, re-checked by the API (its name, notes,
    /// tags and review flag are ignored here).
    pub definition: Option<NewCampaign>,
}

impl Store {
    /// Applies `edit` if the campaign is still in `expected` (the status the
    /// API checked the edit against).
    pub async fn edit_campaign(
        &self,
        tenant: Id,
        id: Id,
        expected: Status,
        edit: CampaignEdit,
    ) -> StoreResult<Campaign> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE campaigns SET name = COALESCE($1, name), \
             default_tag = COALESCE($2, default_tag), \
             notes = CASE WHEN $3 THEN $4 ELSE notes END, \
             manual_review = COALESCE($5, manual_review) \
             WHERE tenant_id = $6 AND id = $7 AND status = $8",
        )
        .bind(&edit.name)
        .bind(edit.name.as_deref().map(default_tag))
        .bind(edit.notes.is_some())
        .bind(edit.notes.clone().flatten())
        .bind(edit.manual_review.map(i64::from))
        .bind(tenant)
        .bind(id)
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(super::lifecycle::changed_meanwhile());
        }
        if let Some(tags) = &edit.tags {
            super::campaign_tags::set_tags(&mut tx, tenant, id, tags).await?;
        }
        if let Some(on) = edit.manual_review {
            Self::apply_manual_review(&mut tx, id, on).await?;
        }
        if let Some(d) = edit.definition {
            sqlx::query(
                "UPDATE campaigns SET kind = $1, channel_id = $2, list_id = $3, body = $4, \
                 settings_json = $5, max_concurrent = $6, send_mode = $7, execution_mode = $8, \
                 inbound_enrolment = $9, windows_json = $10 WHERE tenant_id = $11 AND id = $12",
            )
            .bind(d.kind.as_str())
            .bind(d.channel_id)
            .bind(d.list_id)
            .bind(body_column(&d.content))
            .bind(
                serde_json::to_string(&CampaignSettings {
                    content: d.content,
                    session_target: d.session_target,
                    journey: d.journey,
                    missing_field: d.missing_field,
                })
                .expect("settings serialise"),
            )
            .bind(d.max_concurrent)
            .bind(d.send_mode.as_str())
            .bind(&d.execution_mode)
            .bind(d.inbound_enrolment as i64)
            .bind(super::campaigns::windows_json(&d.windows))
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.campaign(tenant, id).await
    }

    /// A new draft with the same settings, audience list and tags (as they
    /// are), named
    /// `<name> (copy)`; nothing of the original's sending is carried over.
    pub async fn duplicate_campaign(&self, tenant: Id, id: Id) -> StoreResult<Campaign> {
        let original = self.campaign(tenant, id).await?;
        let name = format!("{} (copy)", original.name);
        let mut tx = self.write_tx().await?;
        let copy: Id = sqlx::query_scalar(
            "INSERT INTO campaigns (tenant_id, name, kind, channel_id, list_id, body, status, \
             created_at, settings_json, max_concurrent, send_mode, execution_mode, \
             inbound_enrolment, notes, manual_review, default_tag, windows_json, \
             wait_for_sender) \
             SELECT tenant_id, $1, kind, channel_id, list_id, body, $2, $3, settings_json, \
             max_concurrent, send_mode, execution_mode, inbound_enrolment, notes, manual_review, \
             default_tag, windows_json, wait_for_sender \
             FROM campaigns WHERE tenant_id = $4 AND id = $5 RETURNING id",
        )
        .bind(&name)
        .bind(lifecycle::create().as_str())
        .bind(now_ms())
        .bind(tenant)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        // The tags as they are (the original's default tag first, then its
        // custom ones): the copy shows up wherever the original does.
        let custom: Vec<String> = original.tags.into_iter().skip(1).collect();
        super::campaign_tags::set_tags(&mut tx, tenant, copy, &custom).await?;
        tx.commit().await?;
        self.campaign(tenant, copy).await
    }
}

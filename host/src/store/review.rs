//! Manual review (seed 004) and holding single members back: planned
//! outreaches wait as `awaiting_approval` until a user approves them, then as
//! `approved` until "execute all approved" queues them; a `disabled` member
//! waits until it is enabled again. The claim only takes `queued` members,
//! so none of these states is ever sent.

use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms, placeholders};
use crate::domain::campaign_spec::CampaignContent;
use crate::domain::member::MemberStatus;

/// The status a new member starts in, for an `INSERT .. SELECT` that joins
/// its campaign as `k`.
pub(super) const FIRST_STATUS: &str =
    "CASE WHEN k.manual_review = 1 THEN 'awaiting_approval' ELSE 'queued' END";

/// Which members a review action applies to.
pub enum Selection<'a> {
    All,
    Only(&'a [Id]),
}

impl Store {
    /// Moves the campaign's members in `from` (restricted to `which`) to
    /// `to`, due now, with an event each. Returns how many moved.
    async fn move_members(
        &self,
        tenant: Id,
        campaign: Id,
        which: Selection<'_>,
        from: &[MemberStatus],
        to: &str,
        event: &str,
    ) -> StoreResult<u64> {
        self.campaign(tenant, campaign).await?;
        let ids = match which {
            Selection::All => Vec::new(),
            Selection::Only([]) => return Ok(0),
            Selection::Only(ids) => ids.to_vec(),
        };
        let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let only = if ids.is_empty() {
            String::new()
        } else {
            format!(" AND id IN ({})", placeholders(5, ids.len()))
        };
        let sql = format!(
            "UPDATE members SET status = $1, next_attempt_at = $2, updated_at = $2 \
             WHERE tenant_id = $3 AND campaign_id = $4 AND status IN ({}){only} \
             RETURNING id",
            from.join(", ")
        );
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut q = sqlx::query(&sql)
            .bind(to)
            .bind(now)
            .bind(tenant)
            .bind(campaign);
        for id in &ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let events: Vec<_> = rows
            .iter()
            .map(|r| (tenant, r.get::<Id, _>(0), event, to.to_string()))
            .collect();
        super::members::insert_events(&mut tx, now, &events).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Awaiting approval -> approved.
    pub async fn approve_members(
        &self,
        tenant: Id,
        campaign: Id,
        which: Selection<'_>,
    ) -> StoreResult<u64> {
        self.move_members(
            tenant,
            campaign,
            which,
            &[MemberStatus::AwaitingApproval],
            "approved",
            "approved",
        )
        .await
    }

    /// Approved -> queued: the dispatcher sends them as their campaign runs.
    pub async fn execute_approved(&self, tenant: Id, campaign: Id) -> StoreResult<u64> {
        self.move_members(
            tenant,
            campaign,
            Selection::All,
            &[MemberStatus::Approved],
            "queued",
            "executed",
        )
        .await
    }

    /// Holds one unsent member back.
    pub async fn disable_member(&self, tenant: Id, campaign: Id, member: Id) -> StoreResult<()> {
        let moved = self
            .move_members(
                tenant,
                campaign,
                Selection::Only(&[member]),
                &[
                    MemberStatus::Queued,
                    MemberStatus::AwaitingApproval,
                    MemberStatus::Approved,
                ],
                "disabled",
                "disabled",
            )
            .await?;
        self.expect_moved(tenant, campaign, member, moved, "disable")
            .await
    }

    /// A disabled member goes back to waiting: for approval again if the
    /// campaign is under manual review (what was approved may be stale).
    pub async fn enable_member(&self, tenant: Id, campaign: Id, member: Id) -> StoreResult<()> {
        let review = self.campaign(tenant, campaign).await?.manual_review;
        let to = if review {
            "awaiting_approval"
        } else {
            "queued"
        };
        let moved = self
            .move_members(
                tenant,
                campaign,
                Selection::Only(&[member]),
                &[MemberStatus::Disabled],
                to,
                "enabled",
            )
            .await?;
        self.expect_moved(tenant, campaign, member, moved, "enable")
            .await?;
        if !review {
            self.complete_finished_campaigns(&[campaign]).await?;
        }
        Ok(())
    }

    /// Replaces what one unsent member will receive. An approved member
    /// needs approving again: the approval was for other words.
    pub async fn edit_member_content(
        &self,
        tenant: Id,
        campaign: Id,
        member: Id,
        content: &CampaignContent,
    ) -> StoreResult<()> {
        let json = serde_json::to_string(content).expect("content serialises");
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE members SET content_json = $1, updated_at = $2, \
             status = CASE WHEN status = 'approved' THEN 'awaiting_approval' ELSE status END \
             WHERE tenant_id = $3 AND campaign_id = $4 AND id = $5 \
             AND status IN ('queued', 'awaiting_approval', 'approved', 'disabled')",
        )
        .bind(&json)
        .bind(now)
        .bind(tenant)
        .bind(campaign)
        .bind(member)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        super::members::insert_events(
            &mut tx,
            now,
            &[(
                tenant,
                member,
                "edited",
                "content edited by reviewer".into(),
            )],
        )
        .await?;
        if changed == 0 {
            tx.rollback().await?;
            return self.expect_moved(tenant, campaign, member, 0, "edit").await;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The reviewer's edit of a member's content, if any.
    pub async fn member_content(
        &self,
        tenant: Id,
        campaign: Id,
        member: Id,
    ) -> StoreResult<Option<CampaignContent>> {
        let json: Option<Option<String>> = sqlx::query_scalar(
            "SELECT content_json FROM members WHERE tenant_id = $1 AND campaign_id = $2 AND id = $3",
        )
        .bind(tenant)
        .bind(campaign)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?;
        let json = json.ok_or(StoreError::NotFound)?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Turns manual review on or off for the members not yet sent: on, the
    /// queued ones wait for approval; off, every held-for-review one is
    /// queued. Runs in the edit's transaction.
    pub(super) async fn apply_manual_review(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        campaign: Id,
        on: bool,
    ) -> StoreResult<()> {
        let (to, from) = if on {
            ("awaiting_approval", "('queued')")
        } else {
            ("queued", "('awaiting_approval', 'approved')")
        };
        sqlx::query(&format!(
            "UPDATE members SET status = $1, updated_at = $2 \
             WHERE campaign_id = $3 AND status IN {from}"
        ))
        .bind(to)
        .bind(now_ms())
        .bind(campaign)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Nothing moved: 404 if the member is not the campaign's, else 409
    /// saying what state it is in.
    async fn expect_moved(
        &self,
        tenant: Id,
        campaign: Id,
        member: Id,
        moved: u64,
        verb: &str,
    ) -> StoreResult<()> {
        if moved > 0 {
            return Ok(());
        }
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM members WHERE tenant_id = $1 AND campaign_id = $2 AND id = $3",
        )
        .bind(tenant)
        .bind(campaign)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?;
        let status = status.ok_or(StoreError::NotFound)?;
        Err(StoreError::Conflict(format!(
            "cannot {verb} member {member}: it is {status}; only members not yet sent \
             (queued, awaiting_approval, approved, disabled) can be held back, edited or enabled"
        )))
    }
}

//! The tenant's dedupe rules: no second message to an address within
//! `duplicate_window_hours` (checked at send time), and one active campaign
//! per contact (`one_campaign_per_contact`, checked at enrolment).

use super::send_checks::SendCheck;
use super::{Id, StoreResult};

/// Duplicate-outreach prevention at send time: a claimed member whose
/// address another member of the tenant (any campaign) was sent to within
/// the tenant's window is not sent, nor one whose address another member
/// is being sent to right now: claimed earlier, or in the same claim with a
/// lower id (so of two claimed together exactly one goes). The member's own
/// earlier steps (follow-ups, fallbacks) share its row, so they never count.
pub(super) const NOT_DUPLICATE: SendCheck = SendCheck {
    code: "duplicate_outreach",
    message: "the address was sent a message within the tenant's duplicate window",
    stops_when: "EXISTS (SELECT 1 FROM tenants t JOIN members o ON o.tenant_id = t.id \
        WHERE t.id = members.tenant_id AND t.duplicate_window_hours > 0 \
        AND o.address = members.address AND o.id <> members.id \
        AND ((o.sent_at IS NOT NULL AND o.sent_at > $1 - t.duplicate_window_hours * 3600000) \
          OR (o.status IN ('claimed', 'sending') AND (o.updated_at < members.updated_at \
            OR (o.updated_at = members.updated_at AND o.id < members.id)))))",
    event: "sent a message within the duplicate window",
    log: "sends skipped: duplicate outreach",
};

/// One active campaign per contact (the tenant's `one_campaign_per_contact`):
/// the campaign's members just created (`contacts`, or all of them when it
/// has just started) whose contact is active in another live campaign of
/// the tenant (not sent yet, in flight, or with a next step pending) end
/// `disqualified` with the other campaign's id, so the grid shows why.
pub(super) async fn disqualify_active_elsewhere(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    campaign: Id,
    contacts: Option<&[Id]>,
    now: i64,
) -> StoreResult<u64> {
    // Skipped for tenants who turned the rule off: the check below looks at
    // every new member.
    let on: i64 = sqlx::query_scalar(
        "SELECT t.one_campaign_per_contact FROM tenants t \
         JOIN campaigns k ON k.tenant_id = t.id WHERE k.id = $1",
    )
    .bind(campaign)
    .fetch_one(&mut **tx)
    .await?;
    if on == 0 {
        return Ok(0);
    }
    const ACTIVE: &str = "FROM members o JOIN campaigns ko ON ko.id = o.campaign_id \
        WHERE o.tenant_id = members.tenant_id AND o.contact_id = members.contact_id \
        AND o.campaign_id <> members.campaign_id \
        AND ko.status NOT IN ('draft', 'completed', 'cancelled', 'archived') \
        AND (o.status IN ('queued', 'claimed', 'sending', 'sent', 'awaiting_approval', 'approved') \
          OR o.next_step_at IS NOT NULL)";
    let only = contacts
        .map(|ids| format!(" AND contact_id IN ({})", super::id_list(ids)))
        .unwrap_or_default();
    let sql = format!(
        "UPDATE members SET status = 'disqualified', error_code = 'active_in_other_campaign', \
         error_message = 'the contact is active in campaign ' \
           || CAST((SELECT MIN(o.campaign_id) {ACTIVE}) AS TEXT), updated_at = $1 \
         WHERE campaign_id = $2 AND attempts = 0{only} \
         AND status IN ('queued', 'awaiting_approval') \
         AND EXISTS (SELECT 1 {ACTIVE})"
    );
    Ok(sqlx::query(&sql)
        .persistent(false)
        .bind(now)
        .bind(campaign)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

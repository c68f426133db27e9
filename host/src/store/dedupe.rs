//! The tenant's dedupe rules: no second message to an address within
//! `duplicate_window_hours` (checked at send time), and one active campaign
//! per contact (`one_campaign_per_contact`, checked at enrolment).

use sqlx::Row;

use super::json_rows::{json_rows, json_values};
use super::send_checks::SendCheck;
use super::{Backend, Id, StoreResult};

/// On PostgreSQL, instances claiming for one address at the same moment
/// take turns: a claim locks its members' addresses (in one order, so two
/// claims cannot deadlock) before the duplicate check, and the check of the
/// second, once the first committed, sees the first's claim. SQLite has
/// one writer: claims never overlap there. `claimed` rows start with (id,
/// tenant_id, campaign_id, address).
pub(super) async fn lock_addresses(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    claimed: &[sqlx::any::AnyRow],
) -> StoreResult<()> {
    if backend != Backend::Postgres || claimed.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<String> = claimed
        .iter()
        .map(|r| format!("{}:{}", r.get::<Id, _>(1), r.get::<String, _>(3)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    // Counted, not returned (see `Store::lock_message_ids`).
    sqlx::query(&format!(
        "SELECT COUNT(pg_advisory_xact_lock(hashtext('outreach:' || (r.value ->> 'v')))::text) \
         FROM {}",
        json_rows(backend, "$1")
    ))
    .bind(json_values(keys.iter()))
    .fetch_one(&mut **tx)
    .await?;
    Ok(())
}

/// Duplicate-outreach prevention at send time: a claimed member whose
/// address another member of the tenant (any campaign) was sent to within
/// the tenant's window is not sent, nor one whose address another member
/// may be being sent to right now: claimed or sending (by any instance, in
/// an earlier claim; see [`lock_addresses`]), `unknown` (the provider may
/// have it; its lookup decides), or in this same claim with a lower id (so
/// of two claimed together exactly one goes). `{claimed}` selects this
/// claim's ids. The member's own earlier steps (follow-ups, fallbacks)
/// share its row, so they never count.
pub(super) const NOT_DUPLICATE: SendCheck = SendCheck {
    code: "duplicate_outreach",
    message: "the address was sent a message within the tenant's duplicate window",
    // The tenant's window by primary key (a scalar subquery): joined, the
    // planner may scan tenants for each member when it believes them few.
    stops_when: "(SELECT t.duplicate_window_hours FROM tenants t WHERE t.id = members.tenant_id) > 0 \
        AND EXISTS (SELECT 1 FROM members o \
        WHERE o.tenant_id = members.tenant_id \
        AND o.address = members.address AND o.id <> members.id \
        AND ((o.sent_at IS NOT NULL AND o.sent_at > $1 - 3600000 * \
            (SELECT t.duplicate_window_hours FROM tenants t WHERE t.id = members.tenant_id)) \
          OR o.status = 'unknown' \
          OR (o.status IN ('claimed', 'sending') AND o.id NOT IN ({claimed})) \
          OR (o.id IN ({claimed}) AND o.id < members.id)))",
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
    // Two campaigns of a tenant starting (or enrolling) at the same moment
    // on two PostgreSQL instances take turns, so the second sees the
    // first's members. Starts are rare: one lock per tenant is enough.
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext('enrol:' || CAST(tenant_id AS TEXT)))::text \
             FROM campaigns WHERE id = $1",
        )
        .bind(campaign)
        .fetch_all(&mut **tx)
        .await?;
    }
    // The other campaign's status by primary key (a scalar subquery):
    // joined, SQLite scanned the tenant's campaigns for each of a starting
    // campaign's members when its statistics were older than the tenant's
    // 1,000 drafts (10 s for 100,000 members, holding the writer).
    const ACTIVE: &str = "FROM members o \
        WHERE o.tenant_id = members.tenant_id AND o.contact_id = members.contact_id \
        AND o.campaign_id <> members.campaign_id \
        AND (SELECT ko.status FROM campaigns ko WHERE ko.id = o.campaign_id) \
          NOT IN ('draft', 'completed', 'cancelled', 'archived') \
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

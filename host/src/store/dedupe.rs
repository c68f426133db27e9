//! Duplicate-outreach prevention at send time: the tenant's
//! `duplicate_window_hours`.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Id, StoreResult, placeholders};

/// Claimed members whose address another member of the tenant (any
/// campaign) was sent to within the tenant's window end `disqualified`
/// (`duplicate_outreach`) instead of being sent; their attempt is given
/// back. The member's own earlier steps (follow-ups, fallbacks) share its
/// row, so they never count. Returns them, with their campaign.
pub(super) async fn disqualify_duplicates(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    claimed: &[sqlx::any::AnyRow],
    now: i64,
) -> StoreResult<BTreeMap<Id, Id>> {
    if claimed.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ids: Vec<Id> = claimed.iter().map(|r| r.get(0)).collect();
    let sql = format!(
        "UPDATE members SET status = 'disqualified', attempts = attempts - 1, \
         lease_owner = NULL, lease_until = NULL, error_code = 'duplicate_outreach', \
         error_message = 'the address was sent a message within the tenant''s duplicate window', \
         updated_at = $1 \
         WHERE id IN ({}) AND EXISTS (SELECT 1 FROM tenants t JOIN members o \
           ON o.tenant_id = t.id WHERE t.id = members.tenant_id \
           AND t.duplicate_window_hours > 0 AND o.address = members.address \
           AND o.id <> members.id AND o.sent_at IS NOT NULL \
           AND o.sent_at > $1 - t.duplicate_window_hours * 3600000) \
         RETURNING id, tenant_id, campaign_id",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(&sql).persistent(false).bind(now);
    for id in &ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(&mut **tx).await?;
    let events: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.get::<Id, _>(1),
                r.get::<Id, _>(0),
                "disqualified",
                "sent a message within the duplicate window".to_owned(),
            )
        })
        .collect();
    super::members::insert_events(tx, now, &events).await?;
    if !rows.is_empty() {
        tracing::info!(members = rows.len(), "sends skipped: duplicate outreach");
    }
    Ok(rows.iter().map(|r| (r.get(0), r.get(2))).collect())
}

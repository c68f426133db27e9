//! What the dispatcher needs to send a claimed member: its campaign's
//! content for the member's journey step (or a reviewer's edit) and the
//! contact's values, read in one query for a whole claim.

use std::collections::BTreeMap;

use sqlx::Row;

use super::json_rows::{backend_of, json_int, json_rows, json_values};
use super::members::{ClaimedMember, contact_values};
use super::{Id, StoreResult};
use crate::domain::campaign_spec::CampaignSettings;
use crate::domain::journey::Step;

/// `claimed` rows start with (id, tenant_id, campaign_id, address,
/// attempts, idempotency_key). Members whose campaign cannot be read are
/// left out (logged: a bug, not a user error).
pub(super) async fn load_claimed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    claimed: &[sqlx::any::AnyRow],
) -> StoreResult<Vec<ClaimedMember>> {
    let ids: Vec<Id> = claimed.iter().map(|r| r.get(0)).collect();
    // The ids drive (CROSS JOIN fixes SQLite's join order), as one JSON
    // parameter: a list of bound values made a new text for each claim
    // size, each one prepared and cached, crowding the send path's other
    // statements out of the connection's statement cache.
    let details_sql = format!(
        "SELECT m.id, k.channel_id, k.settings_json, c.phone, c.email, c.first_name, \
         c.last_name, c.fields_json, m.content_json, m.step, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM tenant_credits t WHERE t.tenant_id = m.tenant_id) \
         THEN 1 ELSE 0 END AS BIGINT) AS metered \
         FROM {rows} CROSS JOIN members m JOIN campaigns k ON k.id = m.campaign_id \
         JOIN contacts c ON c.id = m.contact_id WHERE m.id = {id}",
        rows = json_rows(backend_of(tx), "$1"),
        id = json_int("v"),
    );
    let q = sqlx::query(&details_sql).bind(json_values(ids.iter()));
    // Per member: campaign channel, settings, contact values, reviewer's
    // edit, journey step, metered tenant.
    type Details = (
        Id,
        String,
        BTreeMap<String, String>,
        Option<String>,
        i64,
        bool,
    );
    let mut details: BTreeMap<Id, Details> = BTreeMap::new();
    for r in q.fetch_all(&mut **tx).await? {
        details.insert(
            r.get(0),
            (
                r.get(1),
                r.get(2),
                contact_values(&r, 3),
                r.get(8),
                r.get(9),
                r.get::<i64, _>("metered") != 0,
            ),
        );
    }
    Ok(claimed
        .iter()
        .filter_map(|r| {
            let id: Id = r.get(0);
            let (campaign_channel, settings, values, edited, step_index, metered) =
                details.remove(&id)?;
            // Stored by the API after validation; unreadable means a bug.
            let mut settings: CampaignSettings = serde_json::from_str(&settings)
                .inspect_err(
                    |e| tracing::error!(member = id, error = %e, "unreadable campaign settings"),
                )
                .ok()?;
            let step = Step::from_index(step_index)?;
            // A reviewer's edit replaces the primary message (manual
            // review); fallbacks and follow-ups keep the journey's.
            if let Some(edited) = edited
                && step == Step::Primary
            {
                settings.content = serde_json::from_str(&edited)
                    .inspect_err(
                        |e| tracing::error!(member = id, error = %e, "unreadable edited content"),
                    )
                    .ok()?;
            }
            let journey = &settings.journey;
            // The primary is the campaign's own message; later steps
            // bring their channel and content.
            let (channel_id, content) = match journey.step(step) {
                Some(s) => (s.channel_id, s.content.clone()),
                None if step == Step::Primary => (campaign_channel, settings.content),
                None => {
                    tracing::error!(member = id, step = step_index, "journey step missing");
                    return None;
                }
            };
            Some(ClaimedMember {
                id,
                tenant_id: r.get(1),
                campaign_id: r.get(2),
                channel_id,
                address: r.get(3),
                attempt: r.get(4),
                idempotency_key: r.get(5),
                content,
                values,
                step: step_index,
                next_follow_up: journey
                    .next_follow_up(step)
                    .map(|(next, after)| (next.index(), after)),
                falls_back: step == Step::Primary && journey.fallback.is_some(),
                sent_with: None,
                missing_field: settings.missing_field,
                metered,
            })
        })
        .collect())
}

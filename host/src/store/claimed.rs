//! What the dispatcher needs to send a claimed member: its campaign's
//! content for the member's journey step (or a reviewer's edit) and the
//! contact's values, read in one query for a whole claim.

use std::collections::{BTreeMap, HashMap};

use sqlx::{FromRow, Row};

use super::campaigns::stored_settings;
use super::json_rows::{backend_of, json_int, json_rows, json_values};
use super::members::{ClaimedMember, contact_values};
use super::send_window::{WINDOW_COLUMNS, WindowFacts};
use super::{Id, StoreResult};
use crate::domain::campaign_spec::CampaignSettings;
use crate::domain::journey::Step;

/// What a claim read about its members: each one's send, and its sending
/// windows' facts (judged by `send_window::defer_closed`).
pub(super) struct Loaded {
    pub members: Vec<ClaimedMember>,
    pub windows: BTreeMap<Id, WindowFacts>,
}

/// One claimed member's details, beside its claim row.
struct Details {
    channel_id: Id,
    campaign_id: Id,
    values: BTreeMap<String, String>,
    /// A reviewer's edit of its message.
    edited: Option<String>,
    step: i64,
    metered: bool,
}

/// `claimed` rows start with (id, tenant_id, campaign_id, address,
/// attempts, idempotency_key). Members whose campaign cannot be read are
/// left out (logged: a bug, not a user error).
pub(super) async fn load_claimed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    claimed: &[sqlx::any::AnyRow],
) -> StoreResult<Loaded> {
    let ids: Vec<Id> = claimed.iter().map(|r| r.get(0)).collect();
    // The ids drive (CROSS JOINs fix SQLite's join order: with the tenant
    // free to come first it walked the tenant's members), as one JSON
    // parameter: a list of bound values made a new text for each claim
    // size, each one prepared and cached, crowding the send path's other
    // statements out of the connection's statement cache.
    let details_sql = format!(
        "SELECT m.id, k.channel_id, m.campaign_id, k.settings_json, c.phone, c.email, c.first_name, \
         c.last_name, c.fields_json, m.content_json, m.step, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM tenant_credits tc WHERE tc.tenant_id = m.tenant_id) \
         THEN 1 ELSE 0 END AS BIGINT) AS metered, {WINDOW_COLUMNS} \
         FROM {rows} CROSS JOIN members m CROSS JOIN campaigns k CROSS JOIN contacts c \
         CROSS JOIN tenants t WHERE m.id = {id} AND k.id = m.campaign_id \
         AND c.id = m.contact_id AND t.id = m.tenant_id",
        rows = json_rows(backend_of(tx), "$1"),
        id = json_int("v"),
    );
    let q = sqlx::query(&details_sql).bind(json_values(ids.iter()));
    let mut details: BTreeMap<Id, Details> = BTreeMap::new();
    let mut windows = BTreeMap::new();
    // Each campaign's settings parsed once: a claim holds up to hundreds
    // of one campaign's members.
    let mut settings: HashMap<Id, Option<CampaignSettings>> = HashMap::new();
    for r in q.fetch_all(&mut **tx).await? {
        let id: Id = r.get(0);
        let campaign_id: Id = r.get(2);
        settings
            .entry(campaign_id)
            .or_insert_with(|| stored_settings(campaign_id, &r.get::<String, _>(3)));
        details.insert(
            id,
            Details {
                channel_id: r.get(1),
                campaign_id,
                values: contact_values(&r, 4),
                edited: r.get(9),
                step: r.get(10),
                metered: r.get::<i64, _>("metered") != 0,
            },
        );
        windows.insert(id, WindowFacts::from_row(&r)?);
    }
    let members = claimed
        .iter()
        .filter_map(|r| {
            let id: Id = r.get(0);
            let d = details.remove(&id)?;
            let settings = settings.get(&d.campaign_id)?.as_ref()?;
            let step = Step::from_index(d.step)?;
            let journey = &settings.journey;
            let stored = journey.step(step);
            // A reviewer's edit replaces the primary message (manual
            // review); fallbacks and follow-ups keep the journey's.
            let content = match (d.edited, stored) {
                (Some(edited), _) if step == Step::Primary => serde_json::from_str(&edited)
                    .inspect_err(
                        |e| tracing::error!(member = id, error = %e, "unreadable edited content"),
                    )
                    .ok()?,
                (_, Some(s)) => s.content.clone(),
                (_, None) if step == Step::Primary => settings.content.clone(),
                (_, None) => {
                    tracing::error!(member = id, step = d.step, "journey step missing");
                    return None;
                }
            };
            // The primary is the campaign's own message; later steps
            // bring their channel.
            let channel_id = stored.map_or(d.channel_id, |s| s.channel_id);
            Some(ClaimedMember {
                id,
                tenant_id: r.get(1),
                campaign_id: r.get(2),
                channel_id,
                address: r.get(3),
                attempt: r.get(4),
                idempotency_key: r.get(5),
                content,
                values: d.values,
                step: d.step,
                next_follow_up: journey
                    .next_follow_up(step)
                    .map(|(next, after)| (next.index(), after)),
                falls_back: step == Step::Primary && journey.fallback.is_some(),
                sent_with: None,
                missing_field: settings.missing_field,
                metered: d.metered,
            })
        })
        .collect();
    Ok(Loaded { members, windows })
}

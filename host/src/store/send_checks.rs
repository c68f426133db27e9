//! Checks made when members are claimed for sending: a claimed member that
//! a rule now forbids ends `disqualified` with the rule's code instead of
//! being sent, its attempt given back, and the change recorded in its
//! history. The rules themselves live with their data (do-not-contact
//! list, duplicate window).

use std::collections::BTreeMap;

use sqlx::Row;

use super::json_rows::{backend_of, id_subquery, json_values};
use super::{Id, StoreResult};

/// One send-time rule.
pub(super) struct SendCheck {
    /// `error_code` of a member the rule stops.
    pub code: &'static str,
    /// `error_message` of such a member.
    pub message: &'static str,
    /// SQL condition on the `members` row that stops it (`$1` is now,
    /// `{claimed}` a subquery of the claimed members' ids).
    pub stops_when: &'static str,
    /// The history event's detail.
    pub event: &'static str,
    /// What the log line says about the skipped sends.
    pub log: &'static str,
}

/// Applies `check` to the claimed members (rows whose first column is the
/// member id). Returns those it stopped, with their campaign.
pub(super) async fn disqualify_claimed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    claimed: &[sqlx::any::AnyRow],
    now: i64,
    check: &SendCheck,
) -> StoreResult<BTreeMap<Id, Id>> {
    if claimed.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ids: Vec<Id> = claimed.iter().map(|r| r.get(0)).collect();
    let batch = id_subquery(backend_of(tx), "$4");
    let sql = format!(
        "UPDATE members SET status = 'disqualified', attempts = attempts - 1, \
         lease_owner = NULL, lease_until = NULL, error_code = $2, error_message = $3, \
         updated_at = $1 WHERE id IN ({ids}) AND {stops} \
         RETURNING id, tenant_id, campaign_id",
        ids = batch,
        stops = check.stops_when.replace("{claimed}", &batch),
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(check.code)
        .bind(check.message)
        .bind(json_values(ids.iter()))
        .fetch_all(&mut **tx)
        .await?;
    let events: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.get::<Id, _>(1),
                r.get::<Id, _>(0),
                "disqualified",
                check.event.to_owned(),
            )
        })
        .collect();
    super::members::insert_events(tx, now, &events).await?;
    if !rows.is_empty() {
        tracing::info!(members = rows.len(), code = check.code, "{}", check.log);
    }
    Ok(rows.iter().map(|r| (r.get(0), r.get(2))).collect())
}

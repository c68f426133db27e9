//! Member history rows and the contact values templates render with:
//! shared by the claim, outcomes, receipts and journeys.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::json_rows::{backend_of, json_array, json_int, json_rows, json_text};
use super::{Id, StoreResult};

/// One history row, as the insert reads it.
#[derive(Serialize)]
struct EventRow<'a> {
    tenant_id: Id,
    member_id: Id,
    kind: &'a str,
    detail: &'a str,
}

/// Appends member history events (tenant, member, kind, detail) in one
/// statement. The rows travel as one JSON parameter (see `json_rows`):
/// as bound values, 200 events were 1,000 parameters that SQLite resolved
/// by name one by one, on every outcome and receipt batch.
pub(super) async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    at: i64,
    events: &[(Id, Id, &str, String)],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let backend = backend_of(tx);
    let rows: Vec<EventRow> = events
        .iter()
        .map(|(tenant_id, member_id, kind, detail)| EventRow {
            tenant_id: *tenant_id,
            member_id: *member_id,
            kind,
            detail,
        })
        .collect();
    let sql = format!(
        "INSERT INTO member_events (tenant_id, member_id, at, kind, detail) \
         SELECT {tenant}, {member}, $2, {kind}, {detail} FROM {rows}",
        tenant = json_int("tenant_id"),
        member = json_int("member_id"),
        kind = json_text("kind"),
        detail = json_text("detail"),
        rows = json_rows(backend, "$1"),
    );
    sqlx::query(&sql)
        .bind(json_array(&rows))
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Contact values from columns phone, email, first_name, last_name,
/// fields_json starting at index `at`.
pub(super) fn contact_values(r: &sqlx::any::AnyRow, at: usize) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> =
        serde_json::from_str(&r.get::<String, _>(at + 4)).unwrap_or_default();
    let first: Option<String> = r.get(at + 2);
    let last: Option<String> = r.get(at + 3);
    let name = [first.as_deref(), last.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    for (key, value) in [
        ("phone", r.get::<Option<String>, _>(at)),
        ("email", r.get(at + 1)),
        ("first_name", first),
        ("last_name", last),
        ("name", Some(name)),
    ] {
        if let Some(v) = value {
            values.insert(key.to_owned(), v);
        }
    }
    values
}

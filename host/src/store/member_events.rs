//! Member history rows and the contact values templates render with:
//! shared by the claim, outcomes, receipts and journeys.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Id, StoreResult};

/// Appends member history events (tenant, member, kind, detail) in one statement.
pub(super) async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    at: i64,
    events: &[(Id, Id, &str, String)],
) -> StoreResult<()> {
    // Stay well under SQLite's bound-parameter limit.
    for chunk in events.chunks(500) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 5;
                format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO member_events (tenant_id, member_id, at, kind, detail) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (tenant, member, kind, detail) in chunk {
            q = q
                .bind(tenant)
                .bind(member)
                .bind(at)
                .bind(*kind)
                .bind(detail);
        }
        q.execute(&mut **tx).await?;
    }
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

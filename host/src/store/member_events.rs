//! The member history: every change of a member's delivery state is also
//! appended here (seed 004's outreach history).

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

//! The plan guard's SQLite side: plans, statistics made stale, and what
//! counts as walking members in a SQLite plan.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::Row;

use super::member_aliases;

pub(super) async fn sqlite_plan(conn: &mut sqlx::SqliteConnection, sql: &str) -> Vec<String> {
    sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"))
        .iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect()
}

/// Makes the statistics those of a database analysed while it was small
/// (a tenant's first test campaign) and not since: each members and
/// campaigns statistic scaled down to 60 and 4 rows. Planned with these,
/// the send path scanned every member for each batch.
pub(super) async fn make_statistics_stale(conn: &mut sqlx::SqliteConnection) {
    let stats: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl IN ('members', 'campaigns')",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(!stats.is_empty(), "no statistics to make stale");
    for (table, index, stat) in stats {
        let rows: i64 = if table == "members" { 60 } else { 4 };
        let scaled: Vec<String> = stat
            .split_whitespace()
            .enumerate()
            .map(|(i, n)| match n.parse::<i64>() {
                Ok(_) if i == 0 => rows.to_string(),
                Ok(n) => n.min(rows).to_string(),
                Err(_) => n.to_owned(),
            })
            .collect();
        sqlx::query("UPDATE sqlite_stat1 SET stat = $1 WHERE tbl = $2 AND idx = $3")
            .bind(scaled.join(" "))
            .bind(&table)
            .bind(&index)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// Waits until every statistic of members counts at least a million rows
/// (Herald plans members as a large table whatever it held when analysed).
pub(super) async fn wait_members_planned_large(conn: &mut sqlx::SqliteConnection) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let smallest: i64 = sqlx::query_scalar(
            "SELECT MIN(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'members'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if smallest >= 1_000_000 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "members' statistics still say {smallest} rows after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A scan of a whole table inside a correlated subquery: repeated for each
/// row of the statement (a campaign start's 100,000 members each scanning
/// the tenant's 1,000 campaigns took 10 s holding the writer).
pub(super) async fn sqlite_scans_per_row(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
) -> Option<String> {
    let steps: Vec<(i64, i64, String)> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"))
        .iter()
        .map(|r| (r.get("id"), r.get("parent"), r.get("detail")))
        .collect();
    // The nearest subquery around the scan decides: a correlated one runs
    // for each row; an uncorrelated one (`LIST SUBQUERY n`, an `IN` over
    // the batch's ids, say) runs once per statement, even inside a
    // correlated one (SQLite codes it behind `OP_Once`).
    let per_row = |mut id: i64| {
        while let Some((_, parent, detail)) = steps.iter().find(|s| s.0 == id) {
            if detail.starts_with("CORRELATED") {
                return true;
            }
            if detail.starts_with("LIST SUBQUERY") || detail.starts_with("SCALAR SUBQUERY") {
                return false;
            }
            id = *parent;
        }
        false
    };
    steps
        .iter()
        .find(|(id, _, detail)| {
            // json_each over a statement's own parameter is its batch.
            detail.starts_with("SCAN ") && !detail.contains("json_each") && per_row(*id)
        })
        .map(|(_, _, detail)| format!("scans a table for each row: {detail}"))
}

/// Why a SQLite plan walks members: a scan of the table (or of a whole
/// index), or a search that narrows only to a tenant or a campaign (on a
/// partial index the index's own condition narrows further: allowed).
pub(super) fn sqlite_walks_members(
    sql: &str,
    plan: &[String],
    partial: &BTreeSet<String>,
) -> Option<String> {
    let names = member_aliases(sql);
    // A batch statement (its rows a JSON array) must be driven by its rows,
    // each finding its member by key: members first walks every member the
    // other conditions match, scanning the batch for each.
    if sql.contains("json_each(") {
        let rows_at = plan
            .iter()
            .position(|s| s == "SCAN r" || s.starts_with("SCAN r "));
        let members_at = plan.iter().position(|s| {
            s.split_whitespace()
                .nth(1)
                .is_some_and(|table| names.contains(table))
        });
        // `id IN (SELECT .. FROM r)`: each id of the list (the batch,
        // materialized first) finds its member by primary key.
        let by_id_list = |at: usize| {
            plan[at].ends_with("USING INTEGER PRIMARY KEY (rowid=?)")
                && plan
                    .get(at + 1)
                    .is_some_and(|next| next.starts_with("LIST SUBQUERY"))
        };
        if let (Some(rows), Some(members)) = (rows_at, members_at)
            && members < rows
            && !by_id_list(members)
        {
            return Some(format!("members drive the batch join: {}", plan[members]));
        }
    }
    for step in plan {
        let mut words = step.split_whitespace();
        let (Some(op), Some(table)) = (words.next(), words.next()) else {
            continue;
        };
        if !names.contains(table) {
            continue;
        }
        if op == "SCAN" {
            return Some(format!("full scan of members: {step}"));
        }
        let index = step
            .split_once("INDEX ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("");
        if op == "SEARCH"
            && !partial.contains(index)
            && (step.ends_with("(tenant_id=?)") || step.ends_with("(campaign_id=?)"))
        {
            return Some(format!("walks a tenant's or campaign's members: {step}"));
        }
    }
    None
}

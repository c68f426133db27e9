//! Plan guard for the send path: every statement the real server runs on
//! `members` while it claims, sends, records outcomes and applies signed
//! delivery callbacks is EXPLAINed against a database holding 100,000
//! members of the same tenant, and none may scan the table or walk a
//! tenant's or a campaign's members to find a few rows. A stopwatch would
//! pass on a fast machine and fail on a slow one; a plan does not.

use std::collections::BTreeSet;
use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use sqlx::{Connection, Row};

use crate::both_backends;
use crate::harness::{Backend, numbers_ending};

/// Members of an earlier, finished campaign of the same tenant.
const BULK_MEMBERS: i64 = 100_000;

async fn send_path_statements_use_indexes(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (mut herald, logs) =
        crate::harness::Herald::start_logging(backend, "warn,sqlx::query=trace").await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 10_000).await;
    let numbers = numbers_ending("4242", 3, 300);
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hi {{first_name}}").await;
    let bulk = api.campaign(channel, list, "earlier campaign").await;
    seed_finished_members(backend, herald.database_url(), campaign, bulk).await;

    let from = logs.lock().unwrap().len();
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    api.wait_status(campaign, "completed", Duration::from_secs(60))
        .await;
    // The campaign went through every step: sent, and delivered by signed
    // callbacks.
    assert_eq!(sim.stats().accepted, 3);
    let members = api.all_members(campaign).await;
    assert!(
        members.iter().all(|m| m["status"] == "delivered"),
        "{members:?}"
    );
    // A sequence: its follow-up falls due a day after the first message,
    // and the claim turns it into a send (the journey's advance).
    let (status, sequence) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "sequence", "channel_id": channel, "list_id": list,
                "body": "Hi {{first_name}}",
                "follow_ups": [{ "after_days": 1, "body": "Still there?" }] }),
        )
        .await;
    assert_eq!(status, 201, "{sequence}");
    let sequence = sequence["id"].as_i64().unwrap();
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{sequence}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    crate::support::eventually(
        "the sequence's first messages sent",
        Duration::from_secs(30),
        || async { sim.stats().accepted == 6 },
    )
    .await;
    // Each member's follow-up is planned with its outcome, just after the
    // provider took the message.
    crate::support::eventually(
        "the follow-ups planned",
        Duration::from_secs(30),
        || async {
            let members = api.all_members(sequence).await;
            members.iter().all(|m| m["status"] == "delivered")
        },
    )
    .await;
    herald.advance_clock(24 * 3600 + 60).await;
    api.wait_status(sequence, "completed", Duration::from_secs(60))
        .await;
    assert_eq!(sim.stats().accepted, 9, "3 first messages and 3 follow-ups");

    let statements: BTreeSet<String> = logs.lock().unwrap()[from..]
        .iter()
        .filter_map(|line| statement(line))
        .filter(|sql| touches_members(sql))
        .collect();
    // The paths this guard exists for were seen: the claim, the outcome
    // write, the receipt lookup and a follow-up's claim.
    for expected in [
        "UPDATE members SET status = 'claimed'",
        "UPDATE members SET status = 'sending'",
        "THEN 'cancelled' ELSE r.value ->> 'status' END, next_attempt_at = ",
        "JOIN members m ON m.tenant_id = CAST(r.value ->> 't' AS BIGINT) \
         AND m.provider_message_id = r.value ->> 'p'",
        // A follow-up claimed from its sent row (queueing one instead, when
        // its campaign has no share left, is the same statement but for
        // the columns it sets: `follow_up_claims::step_update`).
        "UPDATE members SET status = 'claimed', attempts = 1, ",
    ] {
        assert!(
            statements.iter().any(|s| s.contains(expected)),
            "no statement containing {expected:?} captured: {statements:#?}"
        );
    }

    let mut bad = Vec::new();
    match backend {
        Backend::Sqlite => {
            let url = herald.database_url().to_owned();
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            // As a new database plans (no statistics), then as one whose
            // statistics Herald refreshed.
            let partial: BTreeSet<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
            for stats in [
                "without statistics",
                "after ANALYZE",
                "with stale statistics",
            ] {
                match stats {
                    "after ANALYZE" => {
                        sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
                    }
                    "with stale statistics" => {
                        make_statistics_stale(&mut conn).await;
                        // A process starting on this database sets them right
                        // before it plans anything; a new connection reads
                        // what it left.
                        herald = herald.crash_and_restart(&[]).await;
                        wait_members_planned_large(&mut conn).await;
                        conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    }
                    _ => {}
                }
                for sql in &statements {
                    let plan = sqlite_plan(&mut conn, sql).await;
                    let why = sqlite_walks_members(sql, &plan, &partial)
                        .or(sqlite_scans_per_row(&mut conn, sql).await);
                    if let Some(why) = why {
                        bad.push(format!("{stats}: {why}\n  {sql}\n  plan: {plan:?}"));
                    }
                }
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(herald.database_url())
                .await
                .unwrap();
            // Prepared statements of a long-lived pool run generic plans.
            sqlx::query("SET plan_cache_mode = force_generic_plan")
                .execute(&mut conn)
                .await
                .unwrap();
            let partial: BTreeSet<String> = sqlx::query_scalar(
                "SELECT indexname::text FROM pg_indexes WHERE indexdef LIKE '% WHERE %'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
            // As PostgreSQL plans during a large campaign's sends when it
            // analysed `members` at the start (as Herald has it do), then
            // as one whose statistics are current.
            for stats in ["with statistics taken before a send", "after ANALYZE"] {
                if stats == "after ANALYZE" {
                    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
                } else {
                    analyse_before_sends(&mut conn).await;
                }
                for sql in &statements {
                    let plan = postgres_plan(&mut conn, sql).await;
                    if let Some(why) = postgres_walks_members(&plan, &partial) {
                        bad.push(format!("{stats}: {why}\n  {sql}\n  plan: {plan:#?}"));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} statement(s) walk members:\n{}",
        bad.len(),
        bad.join("\n\n")
    );
}
both_backends!(send_path_statements_use_indexes);

/// 100,000 contacts of the tenant, each a delivered member of `bulk` (a
/// draft, so nothing sends them) with its own provider message id.
async fn seed_finished_members(backend: Backend, url: &str, campaign: i64, bulk: i64) {
    let numbers = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BULK_MEMBERS}) \
             SELECT i FROM n"
        ),
        Backend::Postgres => format!("SELECT generate_series(1, {BULK_MEMBERS}) AS i"),
    };
    let contacts = format!(
        "INSERT INTO contacts (tenant_id, phone, first_name, created_at, updated_at) \
         SELECT k.tenant_id, '+1628' || CAST(1000000 + n.i AS TEXT), 'Bulk', 0, 0 \
         FROM ({numbers}) n, campaigns k WHERE k.id = {campaign}"
    );
    let members = format!(
        "INSERT INTO members (tenant_id, campaign_id, contact_id, address, status, attempts, \
         next_attempt_at, provider_message_id, sent_at, delivered_at, updated_at) \
         SELECT c.tenant_id, {bulk}, c.id, c.phone, 'delivered', 1, 0, \
         'SMbulk' || CAST(c.id AS TEXT), 0, 0, 0 FROM contacts c, campaigns k \
         WHERE k.id = {campaign} AND c.tenant_id = k.tenant_id AND c.phone LIKE '+1628%'"
    );
    let count = "SELECT COUNT(*) FROM members";
    let seeded: i64 = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            for sql in [&contacts, &members] {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            sqlx::query_scalar(count)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            for sql in [&contacts, &members] {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            sqlx::query_scalar(count)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    };
    assert!(seeded >= BULK_MEMBERS, "seeded {seeded} members");
}

/// The SQL of a `sqlx::query` log event (JSON line), if it is one.
fn statement(line: &str) -> Option<String> {
    let event: Value = serde_json::from_str(line).ok()?;
    if event["target"] != "sqlx::query" {
        return None;
    }
    let fields = &event["fields"];
    let full = fields["db.statement"].as_str().unwrap_or("").trim();
    let sql = if full.is_empty() {
        fields["summary"].as_str()?.trim()
    } else {
        full
    };
    Some(sql.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn touches_members(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == "members")
}

/// The names `members` goes by in a statement: itself and its aliases.
fn member_aliases(sql: &str) -> BTreeSet<String> {
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut names = BTreeSet::from(["members".to_owned()]);
    const KEYWORDS: [&str; 12] = [
        "SET",
        "WHERE",
        "JOIN",
        "ON",
        "AS",
        "GROUP",
        "ORDER",
        "LIMIT",
        "LEFT",
        "INNER",
        "USING",
        "RETURNING",
    ];
    for pair in words.windows(3) {
        if pair[0] == "members" {
            let alias = if pair[1].eq_ignore_ascii_case("AS") {
                pair[2]
            } else {
                pair[1]
            };
            if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(alias)) {
                names.insert(alias.to_owned());
            }
        }
    }
    names
}

async fn sqlite_plan(conn: &mut sqlx::SqliteConnection, sql: &str) -> Vec<String> {
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
async fn make_statistics_stale(conn: &mut sqlx::SqliteConnection) {
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
async fn wait_members_planned_large(conn: &mut sqlx::SqliteConnection) {
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
async fn sqlite_scans_per_row(conn: &mut sqlx::SqliteConnection, sql: &str) -> Option<String> {
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
fn sqlite_walks_members(sql: &str, plan: &[String], partial: &BTreeSet<String>) -> Option<String> {
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

async fn postgres_plan(conn: &mut sqlx::PgConnection, sql: &str) -> Vec<String> {
    let params = (1..=64)
        .rev()
        .find(|n| sql.contains(&format!("${n}")))
        .unwrap_or(0);
    // Parameter types as the server infers them; one it cannot infer (only
    // compared with NULL, say) is declared text, as the client binds it.
    let mut types = vec!["unknown"; params];
    loop {
        let declared = if params == 0 {
            String::new()
        } else {
            format!("({})", types.join(", "))
        };
        let prepared = sqlx::query(&format!("PREPARE plan_guard {declared} AS {sql}"))
            .execute(&mut *conn)
            .await;
        let Err(e) = prepared else { break };
        let message = e.to_string();
        let unknown = message
            .split_once("could not determine data type of parameter $")
            .and_then(|(_, n)| n.trim().parse::<usize>().ok())
            .filter(|n| (1..=params).contains(n) && types[n - 1] == "unknown");
        match unknown {
            Some(n) => types[n - 1] = "text",
            None => panic!("PREPARE {sql}: {message}"),
        }
    }
    let execute = if params == 0 {
        "EXPLAIN EXECUTE plan_guard".to_owned()
    } else {
        format!(
            "EXPLAIN EXECUTE plan_guard({})",
            vec!["NULL"; params].join(", ")
        )
    };
    let plan: Vec<String> = sqlx::query_scalar(&execute)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{execute} for {sql}: {e}"));
    sqlx::query("DEALLOCATE plan_guard")
        .execute(&mut *conn)
        .await
        .unwrap();
    plan
}

/// Statistics as PostgreSQL takes them at a campaign's start: `members`
/// analysed while none of its members had a message id, which the sends
/// then give them. A receipt's lookup by message id planned on these once
/// merge-joined its batch through a whole index of members (auto_explain,
/// dispatch benchmark), a walk a plan on current statistics did not show.
async fn analyse_before_sends(conn: &mut sqlx::PgConnection) {
    for sql in [
        // Nothing refreshes them behind the guard's back.
        "ALTER TABLE members SET (autovacuum_enabled = false)",
        "CREATE TEMP TABLE plan_guard_ids AS \
         SELECT id, provider_message_id FROM members WHERE provider_message_id IS NOT NULL",
        "UPDATE members SET provider_message_id = NULL",
        // Its indexes as the members' enrolment built them.
        "REINDEX TABLE members",
        "ANALYZE members",
        "UPDATE members SET provider_message_id = s.provider_message_id \
         FROM plan_guard_ids s WHERE s.id = members.id",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
}

/// Why a PostgreSQL plan walks members: a sequential scan, a scan of an
/// index of members with no condition (the whole index, in its order: a
/// merge join's input, say), or an index condition that narrows only to a
/// tenant or a campaign.
fn postgres_walks_members(plan: &[String], partial: &BTreeSet<String>) -> Option<String> {
    let mut scan = "";
    // The index scan of members whose condition has not been seen yet.
    let mut unbounded: Option<&str> = None;
    for line in plan {
        let step = line.trim().trim_start_matches("->").trim();
        if step.starts_with("Seq Scan on members") {
            return Some(format!("sequential scan of members: {step}"));
        }
        let node = line.trim_start().starts_with("->") || !line.starts_with(' ');
        if node {
            if let Some(walk) = unbounded {
                return Some(format!("walks a whole index of members: {walk}"));
            }
            unbounded = (step.starts_with("Index Scan") || step.starts_with("Index Only Scan"))
                .then_some(step)
                .filter(|s| s.contains(" on members"));
        }
        if step.starts_with("Index Cond: ") {
            unbounded = None;
        }
        if step.contains("Scan") {
            scan = step;
        }
        let on_partial = partial.iter().any(|index| {
            scan.contains(&format!("using {index} ")) || scan.ends_with(&format!("on {index}"))
        });
        if let Some(cond) = step.strip_prefix("Index Cond: ")
            && scan.contains("members")
            && !on_partial
        {
            let c = cond.trim_start_matches('(').trim_end_matches(')');
            let narrow_only = ["tenant_id = $", "campaign_id = $"]
                .iter()
                .any(|p| c.starts_with(p) && !c.contains(" AND "));
            if narrow_only {
                return Some(format!(
                    "walks a tenant's or campaign's members: {scan} {cond}"
                ));
            }
        }
    }
    unbounded.map(|walk| format!("walks a whole index of members: {walk}"))
}

/// The receipts' lookup as PostgreSQL planned it in the dispatch benchmark
/// with a partial message-id index analysed while it was empty
/// (auto_explain): a merge join through the whole index, which the guard
/// must refuse, and the nested loop it must accept.
#[test]
fn a_merge_join_through_a_whole_index_of_members_walks_members() {
    let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
    let merge = lines(
        "Merge Join  (cost=4.58..773.61 rows=1 width=31)
  Merge Cond: ((m.tenant_id = (((r.value ->> 't'::text))::bigint)) AND (m.provider_message_id = ((r.value ->> 'p'::text))))
  Join Filter: (((r.value ->> 'c'::text))::bigint = COALESCE(m.channel_id, (SubPlan 1)))
  ->  Index Scan using members_provider_message on members m  (cost=0.25..6.01 rows=50222 width=71)
  ->  Sort  (cost=4.33..4.58 rows=100 width=32)
        Sort Key: (((r.value ->> 't'::text))::bigint), ((r.value ->> 'p'::text))
        ->  Function Scan on jsonb_array_elements r  (cost=0.01..1.01 rows=100 width=32)
  SubPlan 1
    ->  Index Scan using campaigns_pkey on campaigns k  (cost=0.14..8.16 rows=1 width=8)
          Index Cond: (id = m.campaign_id)",
    );
    let nested = lines(
        "Nested Loop  (cost=0.43..1419.01 rows=1 width=34)
  ->  Function Scan on jsonb_array_elements r  (cost=0.00..1.00 rows=100 width=32)
  ->  Index Scan using members_provider_message on members m  (cost=0.43..14.17 rows=1 width=74)
        Index Cond: ((tenant_id = ((r.value ->> 't'::text))::bigint) AND (provider_message_id = (r.value ->> 'p'::text)))
        Filter: (((r.value ->> 'c'::text))::bigint = COALESCE(channel_id, (SubPlan 1)))
        SubPlan 1
          ->  Index Scan using campaigns_pkey on campaigns k  (cost=0.14..8.16 rows=1 width=8)
                Index Cond: (id = m.campaign_id)",
    );
    let partial = BTreeSet::from(["members_provider_message".to_owned()]);
    let why = postgres_walks_members(&merge, &partial);
    assert!(
        why.as_deref()
            .is_some_and(|w| w.starts_with("walks a whole index of members")),
        "{why:?}"
    );
    assert_eq!(postgres_walks_members(&nested, &partial), None);
}

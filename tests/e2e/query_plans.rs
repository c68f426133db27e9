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
use sqlx::Connection;

use crate::both_backends;

mod postgres;
mod sqlite;

use crate::harness::{Backend, numbers_ending};
use postgres::{analyse_before_sends, postgres_plan, postgres_walks_members};
use sqlite::{
    make_statistics_stale, sqlite_plan, sqlite_scans_per_row, sqlite_walks_members,
    wait_members_planned_large,
};

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
        "m.tenant_id = CAST(r.value ->> 't' AS BIGINT) \
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

//! The plan guard's PostgreSQL side: generic plans, statistics as at a
//! campaign's start, and what counts as walking members in a PostgreSQL
//! plan.

use std::collections::BTreeSet;

pub(super) async fn postgres_plan(conn: &mut sqlx::PgConnection, sql: &str) -> Vec<String> {
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
pub(super) async fn analyse_before_sends(conn: &mut sqlx::PgConnection) {
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
pub(super) fn postgres_walks_members(
    plan: &[String],
    partial: &BTreeSet<String>,
) -> Option<String> {
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

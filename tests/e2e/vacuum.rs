//! On a PostgreSQL server whose autovacuum does not attend to Herald's
//! tables, Herald vacuums them itself: a campaign's rewrites of `members`
//! (claimed, sending, sent, delivered) would otherwise pile up as dead
//! rows that every later query walks.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use sqlx::{Connection, PgConnection};

use crate::harness::{Backend, Herald};

/// `members` in PostgreSQL's statistics: manual vacuums (Herald's; the
/// server's own would count as autovacuums) and dead row versions.
#[derive(sqlx::FromRow, Debug)]
struct MembersUpkeep {
    vacuum_count: i64,
    dead: i64,
}

async fn members_upkeep(url: &str) -> MembersUpkeep {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT vacuum_count, n_dead_tup AS dead FROM pg_stat_user_tables \
         WHERE relname = 'members' AND schemaname = current_schema()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_left_to_herald_are_vacuumed_after_a_campaign() {
    if crate::harness::skip_postgres() {
        eprintln!("HERALD_SKIP_POSTGRES set: skipped");
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Postgres, &[]).await;
    // Whatever this server's autovacuum setting, it leaves `members`
    // alone now, as it would leave every table with `autovacuum = off`.
    let mut conn = PgConnection::connect(herald.database_url()).await.unwrap();
    sqlx::raw_sql("ALTER TABLE members SET (autovacuum_enabled = false)")
        .execute(&mut conn)
        .await
        .unwrap();

    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 5_000).await;
    let numbers: Vec<String> = (0..600)
        .map(|i| format!("+1737{:03}{:04}", 300 + i / 1000, 1000 + i % 1000))
        .collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "vacuum").await;
    api.start_to_completion(campaign, Duration::from_secs(60))
        .await;
    // The campaign's rewrites left dead rows behind: the marker that there
    // was something to vacuum (600 members, each rewritten several times,
    // against Herald's threshold of 1,000 dead rows for a table this size).
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = loop {
        let upkeep = members_upkeep(herald.database_url()).await;
        if upkeep.dead > 1_000 || upkeep.vacuum_count > 0 {
            break upkeep;
        }
        assert!(
            Instant::now() < deadline,
            "the campaign left fewer dead rows than expected: {upkeep:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Herald checks every 30 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let after = loop {
        let upkeep = members_upkeep(herald.database_url()).await;
        if upkeep.vacuum_count > 0 {
            break upkeep;
        }
        assert!(
            Instant::now() < deadline,
            "members never vacuumed (before: {before:?}, now: {upkeep:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        after.dead < before.dead.max(1_001),
        "the vacuum removed the dead rows: before {before:?}, after {after:?}"
    );
}

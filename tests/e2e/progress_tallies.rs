//! Progress is read from per-campaign tallies that triggers keep on every
//! write to `members` (migration 0030), not counted over the campaign's
//! members. The tallies must agree with a recount whatever happened to the
//! members: sends, failures, replies, opt-outs, a cancel, a deletion.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::console_client::Console;

use crate::harness::{Backend, Herald, numbers_ending, twilio_inbound};

/// Per status: members, sent, replied (never opted out), opted out.
type Counts = Vec<(String, i64, i64, i64, i64)>;

const RECOUNT: &str = "SELECT status, COUNT(*), COUNT(sent_at), \
     COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END), COUNT(opted_out_at) \
     FROM members WHERE campaign_id = $1 GROUP BY status ORDER BY status";
/// The tallies as progress reads them: folded rows plus PostgreSQL's
/// deltas not folded yet.
const TALLIES: &str = "SELECT status, CAST(SUM(members) AS BIGINT), CAST(SUM(sent) AS BIGINT), \
     CAST(SUM(replied) AS BIGINT), CAST(SUM(opted_out) AS BIGINT) \
     FROM (SELECT campaign_id, status, members, sent, replied, opted_out FROM member_tallies \
       UNION ALL SELECT campaign_id, status, members, sent, replied, opted_out \
       FROM member_tally_deltas) t WHERE campaign_id = $1 GROUP BY status \
     HAVING SUM(members) <> 0 OR SUM(sent) <> 0 OR SUM(replied) <> 0 OR SUM(opted_out) <> 0 \
     ORDER BY status";

async fn counts(backend: Backend, url: &str, sql: &str, campaign: i64) -> Counts {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_as(sql)
                .bind(campaign)
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(sql)
                .bind(campaign)
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
    }
}

/// Compares the tallies with a recount taken while nothing changed: the
/// two reads are separate statements, and a status callback landing between
/// them (a member going from sent to delivered) would make them differ
/// without the tallies being wrong. So the recount is read before and after
/// the tallies, and the comparison counts only when both recounts agree.
async fn assert_tallies_match(herald: &Herald, backend: Backend, campaign: i64) -> Counts {
    let url = herald.database_url();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = counts(backend, url, RECOUNT, campaign).await;
        let tallied = counts(backend, url, TALLIES, campaign).await;
        let after = counts(backend, url, RECOUNT, campaign).await;
        if before == after {
            assert_eq!(tallied, after, "campaign {campaign}: tallies vs recount");
            return after;
        }
        assert!(
            Instant::now() < deadline,
            "campaign {campaign}: the members never held still for a recount"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL's deltas are folded into the tallies within seconds (SQLite
/// writes none).
async fn assert_deltas_folded(herald: &Herald, backend: Backend) {
    let sql = "SELECT COUNT(*) FROM member_tally_deltas";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(herald.database_url())
                    .await
                    .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(herald.database_url())
                    .await
                    .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        };
        if left == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{left} deltas still unfolded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The performance tab's per-minute series add up to the campaign's
/// progress: every sent, delivered, failed and replied member counted in
/// exactly one minute.
async fn assert_activity_adds_up(herald: &Herald, key: &str, campaign: i64, progress: &Value) {
    let console = Console::sign_in(herald, key).await;
    let (status, page) = console
        .get(&format!("/campaigns/{campaign}/performance"))
        .await;
    assert_eq!(status, 200, "{page}");
    let start = page
        .find("id=\"perf-data\"")
        .expect("chart data on the page");
    let start = start + page[start..].find('>').unwrap() + 1;
    let end = start + page[start..].find("</script>").unwrap();
    let chart: Value = serde_json::from_str(&page[start..end]).unwrap();
    for series in ["sent", "delivered", "failed", "replied"] {
        let sum: i64 = chart[series]
            .as_array()
            .unwrap_or_else(|| panic!("{series} in {chart}"))
            .iter()
            .map(|v| v.as_i64().unwrap_or(0))
            .sum();
        assert_eq!(json!(sum), progress[series], "{series}: {chart}");
    }
}

crate::both_backends!(progress_agrees_with_a_recount_of_the_members);
async fn progress_agrees_with_a_recount_of_the_members(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("tallies").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // Delivered, refused at once (0001), undelivered after sending (0002).
    let delivered = numbers_ending("4100", 5, 300);
    let mut numbers = delivered.clone();
    numbers.extend(numbers_ending("0001", 2, 310));
    numbers.extend(numbers_ending("0002", 2, 320));
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "Hello").await;
    let done = api
        .start_to_completion(campaign, Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "completed", "{done}");

    // A reply and an opt-out after the campaign completed.
    for (i, (from, body)) in [(&delivered[0], "Thanks!"), (&delivered[1], "STOP")]
        .into_iter()
        .enumerate()
    {
        let sid = format!("SMtallyreply{i:020}");
        assert_eq!(
            twilio_inbound(&herald, &sim, channel, &sid, from, body).await,
            200
        );
    }
    let recount = assert_tallies_match(&herald, backend, campaign).await;
    assert_deltas_folded(&herald, backend).await;
    assert_eq!(
        assert_tallies_match(&herald, backend, campaign).await,
        recount
    );
    let total: i64 = recount.iter().map(|r| r.1).sum();
    assert_eq!(total, 9, "{recount:?}");

    let (status, p) = api.get(&format!("/v1/campaigns/{campaign}/progress")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["target"], 9, "{p}");
    assert_eq!(p["delivered"], 5, "{p}");
    assert_eq!(p["failed"], 4, "{p}");
    assert_eq!(p["replied"], 1, "{p}");
    assert_eq!(p["opted_out"], 1, "{p}");
    assert_activity_adds_up(&herald, &api.key, campaign, &p).await;

    // A cancel moves every member still queued in one statement: a slow
    // channel leaves most of them queued when it comes.
    let slow = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(slow, 1).await;
    let other = api.list_with(&numbers_ending("4200", 6, 400)).await;
    let cancelled = api.campaign(slow, other, "Later").await;
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{cancelled}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    let before = sim.stats().accepted;
    assert!(
        sim.wait_for(Duration::from_secs(20), |s| s.accepted > before)
            .await,
        "the slow campaign's first send never came"
    );
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{cancelled}/cancel"))
        .await;
    assert!(status < 300, "{status} {body}");
    let after = assert_tallies_match(&herald, backend, cancelled).await;
    assert_eq!(after.iter().map(|r| r.1).sum::<i64>(), 6, "{after:?}");
    assert!(
        after.iter().any(|r| r.0 == "cancelled"),
        "nothing cancelled: {after:?}"
    );
    assert!(after.iter().all(|r| r.0 != "queued"), "{after:?}");
}

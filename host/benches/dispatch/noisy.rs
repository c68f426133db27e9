//! The noisy neighbour (`--noisy`): one tenant's sending while another
//! tenant's plugin misbehaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::Value;

use crate::herald::Herald;
use crate::setup::{draft, tenant_with_channel};
use crate::{number, target_dir};

/// A's messages sent so far (its campaign's progress).
async fn sent(herald: &Herald, key: &str, campaign: i64) -> u64 {
    let p = herald
        .get(key, &format!("/v1/campaigns/{campaign}/progress"))
        .await;
    p["sent"].as_u64().unwrap_or(0)
}

/// What one window measured.
struct Window {
    /// A's messages sent per second.
    rate: f64,
    /// Herald's CPU per A message sent (B's calls included): unlike the
    /// rate, barely moved by whatever else the machine runs.
    cpu_per_message: Duration,
    health: Vec<Duration>,
}

/// A's rate over `window` from now, Herald's CPU meanwhile, and `/healthz`
/// latencies.
async fn rate_over(herald: &Herald, key: &str, campaign: i64, window: Duration) -> Window {
    let (from, started) = (sent(herald, key, campaign).await, Instant::now());
    let cpu_from = herald.cpu();
    let mut health = Vec::new();
    while started.elapsed() < window {
        let asked = Instant::now();
        let ok = herald
            .http
            .get(format!("{}/healthz", herald.base))
            .send()
            .await;
        assert!(ok.is_ok_and(|r| r.status().is_success()), "/healthz failed");
        health.push(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let messages = sent(herald, key, campaign).await.saturating_sub(from);
    Window {
        rate: messages as f64 / started.elapsed().as_secs_f64(),
        cpu_per_message: (herald.cpu() - cpu_from) / messages.max(1) as u32,
        health,
    }
}

/// A campaign's members by status and error code, straight from the
/// database: "status (code) n, …".
async fn member_counts(database_url: &str, campaign: i64) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT status, COALESCE(error_code, ''), COUNT(*) FROM members \
         WHERE campaign_id = $1 GROUP BY status, error_code ORDER BY 3 DESC",
    )
    .bind(campaign)
    .fetch_all(&mut db)
    .await
    .unwrap();
    rows.iter()
        .map(|(status, code, n)| format!("{status} ({code}) {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples
        .get((samples.len() * 99 / 100).min(samples.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// The noisy neighbour (`--noisy`): tenant A sends a campaign through
/// Twilio; midway tenant B starts one on the `test-hostile` plugin whose
/// every call spins (stopped by its CPU budget) or bombs its memory. B's
/// quarantine is kept out of reach so its calls go on for the whole
/// window: this measures the sandbox's limits, not the quarantine.
pub async fn noisy(sim: &Arc<Simulator>, database_url: &str, members: u64) {
    const WINDOW: Duration = Duration::from_secs(8);
    // The bundled plugins and test-hostile, as the test servers have them.
    let plugins = target_dir().join("test-plugins");
    let plugins = plugins.to_str().unwrap();
    let herald = Herald::start(
        database_url,
        &["--quarantine-after", "1000000000", "--plugins-dir", plugins],
    )
    .await;
    let (a_key, a_channel) = tenant_with_channel(&herald, sim, "a", "twilio-sms").await;
    let (b_key, b_channel) = tenant_with_channel(&herald, sim, "b", "test-hostile").await;
    let (a, _) = draft(
        &herald,
        &a_key,
        &a_channel,
        (0..members).map(number),
        Value::Null,
    )
    .await;
    // Two spinners for each memory bomb, 3,000 in all (four area codes: one
    // has 800 exchanges, and a number with a longer one is refused at
    // import, which left B 800 members before).
    let hostile = (0..3_000u64).map(|i| {
        let suffix = if i % 3 == 2 { "0777" } else { "0999" };
        let area = [628, 650, 510, 707][(i / 800) as usize];
        format!("+1{area}{:03}{suffix}", 200 + i % 800)
    });
    let (b, _) = draft(&herald, &b_key, &b_channel, hostile, Value::Null).await;
    let start = |key: String, id: i64| {
        let herald = &herald;
        async move {
            let path = format!("/v1/campaigns/{id}/start");
            herald.call(&key, reqwest::Method::POST, &path, None).await
        }
    };
    let (status, body) = start(a_key.clone(), a).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alone_from = monotonic_s();
    let before = rate_over(&herald, &a_key, a, WINDOW).await;
    let (status, body) = start(b_key.clone(), b).await;
    assert_eq!(status, 200, "{body}");
    let during_from = monotonic_s();
    let during = rate_over(&herald, &a_key, a, WINDOW).await;
    let during_to = monotonic_s();
    assert!(
        sent(&herald, &a_key, a).await < members,
        "A finished within the window: give it more members"
    );
    // B's own cost: A paused, Herald's CPU while only B's calls run. What
    // B costs A beyond this is interference (caches, TLB shootdowns from
    // resetting bombed memory, scheduling), not B's own work.
    let (status, body) = herald
        .call(
            &a_key,
            reqwest::Method::POST,
            &format!("/v1/campaigns/{a}/pause"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu_from, b_started, b_from) = (herald.cpu(), Instant::now(), monotonic_s());
    tokio::time::sleep(WINDOW).await;
    let b_cores = (herald.cpu() - cpu_from).as_secs_f64() / b_started.elapsed().as_secs_f64();
    // Where each window lies on the monotonic clock, for `perf record -k
    // CLOCK_MONOTONIC -p <herald pid>` and `perf report --time FROM,TO`.
    eprintln!(
        "noisy windows (CLOCK_MONOTONIC s): A alone {alone_from:.3},{during_from:.3}; \
         A with B {during_from:.3},{during_to:.3}; B alone {b_from:.3},{:.3}",
        monotonic_s()
    );
    println!(
        "| A alone | {:.0} msg/s | /healthz p99 {:.1} ms | Herald CPU {:.2} ms per A message |",
        before.rate,
        p99(before.health).as_secs_f64() * 1000.0,
        before.cpu_per_message.as_secs_f64() * 1000.0,
    );
    println!(
        "| A while B's plugin spins and bombs | {:.0} msg/s ({:.0}% of alone; target >= 85%) | /healthz p99 {:.1} ms (target <= 50) | Herald CPU {:.2} ms per A message ({:.0}% of alone); B's members: {}; peak RSS {:.0} MiB |",
        during.rate,
        100.0 * during.rate / before.rate.max(1e-9),
        p99(during.health).as_secs_f64() * 1000.0,
        during.cpu_per_message.as_secs_f64() * 1000.0,
        100.0 * during.cpu_per_message.as_secs_f64()
            / before.cpu_per_message.as_secs_f64().max(1e-12),
        member_counts(database_url, b).await,
        herald.peak_rss_mib()
    );
    println!(
        "| B alone (A paused) | Herald CPU {:.1}% of one core | A's CPU alone: {:.1}% of one core |",
        100.0 * b_cores,
        100.0 * before.rate * before.cpu_per_message.as_secs_f64(),
    );
}

/// Seconds on CLOCK_MONOTONIC, the clock `perf record -k CLOCK_MONOTONIC`
/// stamps samples with.
fn monotonic_s() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

//! Sending a campaign end to end, printed as figures next to a ceiling
//! measured in the same run
//! (`cargo bench -p herald --bench dispatch [-- MEMBERS] [--sqlite|--postgres]`):
//! - the ceiling: the same number of Twilio sends posted to the same
//!   simulator by a native Rust client at `--max-in-flight` concurrency
//!   (no database, no plugin, no callbacks);
//! - an SMS campaign of MEMBERS (default 100,000) through the bundled
//!   `twilio-sms` plugin to the simulator on loopback, with its signed
//!   status callbacks, on the release `herald` binary, on SQLite and
//!   PostgreSQL (skipped when HERALD_SKIP_POSTGRES is set or PostgreSQL
//!   does not answer): messages/s steady (10% -> 90% of accepted) and end to
//!   end, time until the campaign completes (every member final), Herald's
//!   CPU time per 1,000 members (callbacks included) and its peak RSS.
//!
//! With `--noisy`, the noisy neighbour instead: A's rate alone and while
//! another tenant's plugin spins and bombs its memory (see [`noisy`]).
//!
//! Build the plugins first (`./dev.sh build`).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN_KEY: &str = "bench-admin-key";
/// Herald's default `--max-in-flight`, also the ceiling client's concurrency.
const CONCURRENCY: usize = 128;
/// The channel's rate limit: the highest Herald accepts.
const RATE_PER_SECOND: u32 = 10_000;
/// A Wednesday 18:30 UTC: 10:30 in San Francisco, where every member
/// lives, well inside the default quiet hours.
const CLOCK: &str = "2026-01-14T18:30:00Z";
/// No campaign of this benchmark may take longer.
const DEADLINE: Duration = Duration::from_secs(3 * 3600);

/// A distinct valid San Francisco number for each `i` (7,200,000 of
/// them), none ending in the simulator's scripted last four digits (all
/// below 1000: refusals, failures, slow answers, resets, dropped
/// callbacks): this measures sending, not fault handling.
fn number(i: u64) -> String {
    format!("+1415{:03}{:04}", 200 + i / 9_000, 1_000 + i % 9_000)
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// The native client's run: `n` sends at `CONCURRENCY`.
async fn ceiling(sim: &Simulator, n: u64) -> Duration {
    let http = reqwest::Client::new();
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        sim.base_url(),
        sim.config().twilio_account_sid
    );
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let request = http
                .post(&url)
                .basic_auth(
                    &sim.config().twilio_account_sid,
                    Some(&sim.config().twilio_auth_token),
                )
                .form(&[
                    ("To", number(i)),
                    ("From", "+15005550006".to_owned()),
                    ("Body", format!("Hi C{i}, your order shipped.")),
                ]);
            async move { request.send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|_| async {})
        .await;
    started.elapsed()
}

/// A running release `herald serve`, killed when dropped.
struct Herald {
    base: String,
    pid: u32,
    http: reqwest::Client,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Herald {
    async fn start(database_url: &str, extra: &[&str]) -> Herald {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--allow-egress", "127.0.0.1"])
            .args(extra)
            .args(["--database-url", database_url])
            .args(["--test-clock", CLOCK, "--admin-key", ADMIN_KEY])
            .args(["--import-max-mb", "500"])
            .env("HERALD_PLUGINS_DIR", target_dir().join("plugins"))
            .env("HERALD_CACHE_DIR", target_dir().join("bench-compile-cache"))
            .env("HERALD_DATA_DIR", dir.path())
            .env(
                "RUST_LOG",
                std::env::var("HERALD_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting herald (cargo bench builds it)");
        let pid = child.id().expect("pid");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("herald listening on ") {
                    return addr.to_owned();
                }
            }
            panic!("herald exited before listening");
        })
        .await
        .expect("herald did not start within 120 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Herald {
            base,
            pid,
            http: reqwest::Client::new(),
            _child: child,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Herald's user + system CPU time so far.
    fn cpu(&self) -> Duration {
        cpu_of(self.pid)
    }

    fn peak_rss_mib(&self) -> f64 {
        common::peak_rss_mib(&self.pid.to_string())
    }
}

/// A process's user + system CPU time so far (from /proc).
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// One campaign's figures.
struct Run {
    accepted: u64,
    /// 10% -> 90% of accepted sends.
    steady_per_s: f64,
    /// Start -> last accepted send.
    end_to_end_per_s: f64,
    /// Start -> campaign `completed`.
    all_final: Duration,
    cpu_per_1000: Duration,
    /// This process's: the simulator answering Herald and sending its
    /// callbacks, on the same cores.
    sim_cpu_per_1000: Duration,
    peak_rss_mib: f64,
    duplicates: u64,
    max_in_flight: u64,
}

/// A tenant with a channel on `plugin` pointing at the simulator: (its
/// API key, the channel's id).
async fn tenant_with_channel(
    herald: &Herald,
    sim: &Simulator,
    name: &str,
    plugin: &str,
) -> (String, Value) {
    let (status, tenant) = herald
        .call(
            ADMIN_KEY,
            reqwest::Method::POST,
            "/v1/tenants",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(status, 201, "{tenant}");
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let (status, channel) = herald
        .call(
            &key,
            reqwest::Method::POST,
            "/v1/channels",
            Some(json!({
                "name": format!("{plugin} via simulator"),
                "plugin": plugin,
                "sender": "+15005550006",
                "config": { "account-sid": sim.config().twilio_account_sid, "base-url": sim.base_url() },
                "secrets": { "auth-token": sim.config().twilio_auth_token },
                "allowed_hosts": ["127.0.0.1"],
                "rate_per_second": RATE_PER_SECOND,
            })),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    (key, channel["id"].clone())
}

/// A draft campaign to `numbers` (imported as a list) on `channel`, and
/// how long the import took.
async fn draft(
    herald: &Herald,
    key: &str,
    channel: &Value,
    numbers: impl Iterator<Item = String>,
) -> (i64, Duration) {
    let (status, list) = herald
        .call(
            key,
            reqwest::Method::POST,
            "/v1/lists",
            Some(json!({"name": "audience"})),
        )
        .await;
    assert_eq!(status, 201, "{list}");
    let list = list["id"].as_i64().unwrap();
    let mut csv = String::from("phone,first_name\n");
    for (i, number) in numbers.enumerate() {
        csv.push_str(&format!("{number},C{i}\n"));
    }
    let enrol_started = Instant::now();
    let response = herald
        .http
        .post(format!("{}/v1/lists/{list}/imports", herald.base))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let job: Value = response.json().await.unwrap();
    let job = job["id"].as_i64().unwrap();
    loop {
        let (_, j) = herald
            .call(
                key,
                reqwest::Method::GET,
                &format!("/v1/imports/{job}"),
                None,
            )
            .await;
        match j["status"].as_str() {
            Some("completed") => break,
            Some("failed" | "cancelled") => panic!("import failed: {j}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        assert!(enrol_started.elapsed() < DEADLINE, "import too slow");
    }
    let imported = enrol_started.elapsed();
    let (status, c) = herald
        .call(
            key,
            reqwest::Method::POST,
            "/v1/campaigns",
            Some(json!({
                "name": "bench", "channel_id": channel, "list_id": list,
                "body": "Hi {{first_name}}, your order shipped.",
            })),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    (c["id"].as_i64().unwrap(), imported)
}

async fn campaign(sim: &Arc<Simulator>, database_url: &str, members: u64) -> Run {
    let herald = Herald::start(database_url, &[]).await;
    let (key, channel) = tenant_with_channel(&herald, sim, "bench", "twilio-sms").await;
    let post = |path: &str, body: Value| {
        let (herald, key, path) = (&herald, key.clone(), path.to_owned());
        async move {
            herald
                .call(&key, reqwest::Method::POST, &path, Some(body))
                .await
        }
    };
    let (id, imported) = draft(&herald, &key, &channel, (0..members).map(number)).await;

    // The simulator's accepted count over time, for the steady rate.
    let samples: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let sampler = {
        let (samples, sim) = (samples.clone(), sim.clone());
        tokio::spawn(async move {
            loop {
                let accepted = sim.stats().accepted;
                samples.lock().unwrap().push((Instant::now(), accepted));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (cpu_before, sim_cpu_before) = (herald.cpu(), cpu_of(std::process::id()));
    let started = Instant::now();
    let (status, body) = post(&format!("/v1/campaigns/{id}/start"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    loop {
        let (_, c) = herald
            .call(
                &key,
                reqwest::Method::GET,
                &format!("/v1/campaigns/{id}"),
                None,
            )
            .await;
        if c["status"] == "completed" {
            break;
        }
        if started.elapsed() > DEADLINE {
            let (_, p) = herald
                .call(
                    &key,
                    reqwest::Method::GET,
                    &format!("/v1/campaigns/{id}/progress"),
                    None,
                )
                .await;
            panic!("campaign not completed within {DEADLINE:?}: {p}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_final = started.elapsed();
    let cpu = herald.cpu() - cpu_before;
    let sim_cpu = cpu_of(std::process::id()) - sim_cpu_before;
    sampler.abort();
    let stats = sim.stats();
    let samples = samples.lock().unwrap().clone();
    let at = |fraction: f64| {
        let goal = (stats.accepted as f64 * fraction).ceil() as u64;
        samples
            .iter()
            .find(|(_, n)| *n >= goal)
            .map(|(t, n)| (*t, *n))
            .unwrap_or((Instant::now(), stats.accepted))
    };
    let (t10, n10) = at(0.1);
    let (t90, n90) = at(0.9);
    let (t_last, _) = at(1.0);
    eprintln!("  enrolment: {members} contacts imported in {imported:.1?}");
    Run {
        accepted: stats.accepted,
        steady_per_s: (n90 - n10) as f64 / (t90 - t10).as_secs_f64().max(1e-3),
        end_to_end_per_s: stats.accepted as f64 / (t_last - started).as_secs_f64().max(1e-3),
        all_final,
        cpu_per_1000: cpu.mul_f64(1000.0 / members.max(1) as f64),
        sim_cpu_per_1000: sim_cpu.mul_f64(1000.0 / members.max(1) as f64),
        peak_rss_mib: herald.peak_rss_mib(),
        duplicates: stats.duplicates,
        max_in_flight: stats.max_in_flight,
    }
}

/// A's messages sent so far (its campaign's progress).
async fn sent(herald: &Herald, key: &str, campaign: i64) -> u64 {
    let (_, p) = herald
        .call(
            key,
            reqwest::Method::GET,
            &format!("/v1/campaigns/{campaign}/progress"),
            None,
        )
        .await;
    p["sent"].as_u64().unwrap_or(0)
}

/// A's rate over `window` from now, and `/healthz` latencies meanwhile.
async fn rate_over(
    herald: &Herald,
    key: &str,
    campaign: i64,
    window: Duration,
) -> (f64, Vec<Duration>) {
    let (from, started) = (sent(herald, key, campaign).await, Instant::now());
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
    let to = sent(herald, key, campaign).await;
    (
        to.saturating_sub(from) as f64 / started.elapsed().as_secs_f64(),
        health,
    )
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
async fn noisy(sim: &Arc<Simulator>, database_url: &str, members: u64) {
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
    let (a, _) = draft(&herald, &a_key, &a_channel, (0..members).map(number)).await;
    // Two spinners for each memory bomb, 3,000 in all.
    let hostile = (0..3_000u64).map(|i| {
        let suffix = if i % 3 == 2 { "0777" } else { "0999" };
        format!("+1628{:03}{suffix}", 200 + i)
    });
    let (b, _) = draft(&herald, &b_key, &b_channel, hostile).await;
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
    let (before, health_before) = rate_over(&herald, &a_key, a, WINDOW).await;
    let (status, body) = start(b_key.clone(), b).await;
    assert_eq!(status, 200, "{body}");
    let (during, health_during) = rate_over(&herald, &a_key, a, WINDOW).await;
    let (_, bp) = herald
        .call(
            &b_key,
            reqwest::Method::GET,
            &format!("/v1/campaigns/{b}/progress"),
            None,
        )
        .await;
    assert!(
        sent(&herald, &a_key, a).await < members,
        "A finished within the window: give it more members"
    );
    println!(
        "| A alone | {before:.0} msg/s | /healthz p99 {:.1} ms | |",
        p99(health_before).as_secs_f64() * 1000.0
    );
    println!(
        "| A while B's plugin spins and bombs | {during:.0} msg/s ({:.0}% of alone; target >= 85%) | /healthz p99 {:.1} ms (target <= 50) | B: {} failed, {} queued; peak RSS {:.0} MiB |",
        100.0 * during / before.max(1e-9),
        p99(health_during).as_secs_f64() * 1000.0,
        bp["failed"],
        bp["queued"],
        herald.peak_rss_mib()
    );
}

fn print_run(label: &str, run: &Run, ceiling_per_s: f64) {
    // The rate at which Herald and the simulator together would use every
    // core at these costs per message: what this machine allows at most
    // while both run on it.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_message = (run.cpu_per_1000 + run.sim_cpu_per_1000).as_secs_f64() / 1000.0;
    println!(
        "| {label} | {:.0} | {:.0} ({:.1}% of ceiling) | {:.1} s | {:.2} s | {:.2} s | {:.0} | {:.0} MiB | {} | {} |",
        run.end_to_end_per_s,
        run.steady_per_s,
        100.0 * run.steady_per_s / ceiling_per_s,
        run.all_final.as_secs_f64(),
        run.cpu_per_1000.as_secs_f64(),
        run.sim_cpu_per_1000.as_secs_f64(),
        cores / per_message.max(1e-9),
        run.peak_rss_mib,
        run.max_in_flight,
        if run.duplicates == 0 {
            format!("{} accepted, 0 duplicates", run.accepted)
        } else {
            format!("{} accepted, {} DUPLICATES", run.accepted, run.duplicates)
        },
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let members: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let sqlite = !args.iter().any(|a| a == "--postgres");
    let postgres = !args.iter().any(|a| a == "--sqlite");
    assert!(
        target_dir().join("plugins/twilio_sms.wasm").exists(),
        "plugin components missing: run ./dev.sh build first"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    if args.iter().any(|a| a == "--noisy") {
        rt.block_on(async {
            let sim = Arc::new(Simulator::start(SimConfig::default()).await.unwrap());
            println!(
                "\nnoisy neighbour: A {members} members on twilio-sms; B 3,000 on test-hostile\n"
            );
            println!("| run | A's rate | /healthz | notes |");
            println!("|---|---|---|---|");
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("noisy.db").display());
            noisy(&sim, &url, members).await;
        });
        return;
    }
    rt.block_on(async {
        let sim = Arc::new(Simulator::start(SimConfig::default()).await.unwrap());
        let elapsed = ceiling(&sim, members).await;
        let ceiling_per_s = members as f64 / elapsed.as_secs_f64();
        sim.reset();
        println!("\n{members} members, channel rate {RATE_PER_SECOND}/s, {CONCURRENCY} in flight\n");
        println!("| run | messages/s end to end | messages/s steady | until all final | Herald CPU per 1,000 | simulator CPU per 1,000 | messages/s the cores allow at these costs | peak RSS | max in flight at provider | provider saw |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        println!(
            "| ceiling: native client, no database, no plugin | {ceiling_per_s:.0} | {ceiling_per_s:.0} (100%) | {:.1} s | - | - | - | - | {CONCURRENCY} | {members} requests |",
            elapsed.as_secs_f64()
        );
        if sqlite {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("bench.db").display());
            let run = campaign(&sim, &url, members).await;
            print_run("Herald, SQLite", &run, ceiling_per_s);
            sim.reset();
        }
        if postgres {
            match common::postgres_url("herald_dispatch").await {
                Some(url) => {
                    let run = campaign(&sim, &url, members).await;
                    print_run("Herald, PostgreSQL", &run, ceiling_per_s);
                    common::drop_database(&url).await;
                }
                None => println!("| Herald, PostgreSQL | skipped (not reachable or HERALD_SKIP_POSTGRES) |"),
            }
        }
    });
}

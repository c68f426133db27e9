//! One campaign sent end to end, measured from the outside.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::{Value, json};

use crate::herald::{Herald, cpu_of, postgres_server_cpu};
use crate::probes::{self, Latencies, Prober, ms, quantile};
use crate::rewrites::{self, Rewrites};
use crate::setup::{draft, tenant_with_channel};
use crate::{DEADLINE, fairness, number, scrape};

/// One campaign's figures.
pub struct Run {
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
    /// A PostgreSQL server's on this machine (`None` on SQLite, whose work
    /// is Herald's own, or with the server elsewhere).
    db_cpu_per_1000: Option<Duration>,
    peak_rss_mib: f64,
    duplicates: u64,
    max_in_flight: u64,
    /// Importing the campaign's contacts.
    enrolment: Duration,
    /// The pages a user watches, while the campaign ran.
    pages: Latencies,
    /// Another tenant's 20-member campaign started at 30% of this one:
    /// until the provider had all 20.
    neighbour: Duration,
    /// Herald's own counts per 1,000 messages (see [`scrape`]).
    work: Vec<(&'static str, f64, String)>,
    /// `members` rows rewritten during the run (PostgreSQL's counters).
    rewrites: Option<Rewrites>,
}

/// The median of each figure over several runs of one campaign (each
/// figure's own median: they need not come from the same run), and the
/// highest peak RSS.
pub struct Medians {
    pub runs: usize,
    pub steady_per_s: f64,
    pub end_to_end_per_s: f64,
    pub all_final: Duration,
    pub cpu_per_1000: Duration,
    pub sim_cpu_per_1000: Duration,
    pub db_cpu_per_1000: Option<Duration>,
    pub peak_rss_mib: f64,
    /// Plugin calls (sends and status callbacks) per 1,000 messages.
    pub plugin_calls_per_1000: f64,
    /// Herald's CPU (and a local database server's) per message divided
    /// by the simulator's in the same run: the simulator does the same
    /// work in every run, so this ratio moves with Herald's own cost but
    /// not with the machine's speed, which drifts by 10-15% between runs.
    pub cost_per_sim_cost: f64,
}

/// The middle value (the upper middle of an even count).
pub fn median<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> T {
    let mut all: Vec<T> = values.collect();
    all.sort_by(|a, b| a.partial_cmp(b).expect("no NaN among the figures"));
    all[all.len() / 2]
}

impl Medians {
    /// `runs` must not be empty.
    pub fn of(runs: &[Run]) -> Self {
        let db: Vec<Duration> = runs.iter().filter_map(|r| r.db_cpu_per_1000).collect();
        Self {
            runs: runs.len(),
            steady_per_s: median(runs.iter().map(|r| r.steady_per_s)),
            end_to_end_per_s: median(runs.iter().map(|r| r.end_to_end_per_s)),
            all_final: median(runs.iter().map(|r| r.all_final)),
            cpu_per_1000: median(runs.iter().map(|r| r.cpu_per_1000)),
            sim_cpu_per_1000: median(runs.iter().map(|r| r.sim_cpu_per_1000)),
            db_cpu_per_1000: (!db.is_empty()).then(|| median(db.into_iter())),
            peak_rss_mib: runs.iter().map(|r| r.peak_rss_mib).fold(0.0, f64::max),
            plugin_calls_per_1000: median(runs.iter().map(|r| {
                r.work
                    .iter()
                    .find(|(what, ..)| *what == scrape::PLUGIN_CALLS)
                    .map_or(0.0, |(_, per_thousand, _)| *per_thousand)
            })),
            cost_per_sim_cost: median(runs.iter().map(|r| {
                (r.cpu_per_1000 + r.db_cpu_per_1000.unwrap_or_default()).as_secs_f64()
                    / r.sim_cpu_per_1000.as_secs_f64().max(1e-9)
            })),
        }
    }
}

pub fn print_medians(label: &str, m: &Medians, ceiling_per_s: f64) {
    println!(
        "| {label} ({} runs) | {} | {:.0} MiB |",
        m.runs,
        rate_and_cost_columns(m, ceiling_per_s),
        m.peak_rss_mib,
    );
}

/// The columns a run's row and a median row share: the rates, the time
/// until all final, and the CPU per 1,000 messages of each process.
fn rate_and_cost_columns(m: &Medians, ceiling_per_s: f64) -> String {
    format!(
        "{:.0} | {:.0} ({:.1}% of ceiling) | {:.1} s | {:.2} s | {:.2} s | {}",
        m.end_to_end_per_s,
        m.steady_per_s,
        100.0 * m.steady_per_s / ceiling_per_s,
        m.all_final.as_secs_f64(),
        m.cpu_per_1000.as_secs_f64(),
        m.sim_cpu_per_1000.as_secs_f64(),
        m.db_cpu_per_1000
            .map_or("-".to_owned(), |c| format!("{:.2} s", c.as_secs_f64())),
    )
}

/// `extra`: more `herald serve` flags (`--native-provider twilio-sms`).
pub async fn campaign(
    sim: &Arc<Simulator>,
    database_url: &str,
    members: u64,
    extra: &[&str],
) -> Run {
    let herald = Herald::start(database_url, extra).await;
    let (key, channel) = tenant_with_channel(&herald, sim, "bench", "twilio-sms").await;
    let post = |path: &str, body: Value| {
        let (herald, key, path) = (&herald, key.clone(), path.to_owned());
        async move {
            herald
                .call(&key, reqwest::Method::POST, &path, Some(body))
                .await
        }
    };
    let (id, imported) = draft(
        &herald,
        &key,
        &channel,
        (0..members).map(number),
        Value::Null,
    )
    .await;
    let neighbour = fairness::prepare(&herald, sim).await;

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
    // Read before the baselines below: it waits for the counters to settle.
    let rewrites_before = rewrites::of_members(database_url).await;
    let histograms = scrape::histograms(&herald).await;
    let (cpu_before, sim_cpu_before) = (herald.cpu(), cpu_of(std::process::id()));
    let on_postgres = database_url.starts_with("postgres");
    let db_cpu_before = postgres_server_cpu().filter(|_| on_postgres);
    let started = Instant::now();
    let (status, body) = post(&format!("/v1/campaigns/{id}/start"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let first = probes::first_member(&herald.http, &herald.base, &key, id).await;
    let prober = Prober::start(&herald.base, &key, id, first, members);
    let neighbour_sent = async {
        while sim.stats().accepted < members * 3 / 10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        neighbour.time_to_all_sent(&herald, sim).await
    };
    let completed = async {
        loop {
            let c = herald.get(&key, &format!("/v1/campaigns/{id}")).await;
            if c["status"] == "completed" {
                break;
            }
            if started.elapsed() > DEADLINE {
                let p = herald
                    .get(&key, &format!("/v1/campaigns/{id}/progress"))
                    .await;
                panic!("campaign not completed within {DEADLINE:?}: {p}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        started.elapsed()
    };
    let (all_final, neighbour) = tokio::join!(completed, neighbour_sent);
    let pages = prober.stop();
    let work = scrape::per_thousand(&histograms, &scrape::histograms(&herald).await, members);
    let cpu = herald.cpu() - cpu_before;
    let sim_cpu = cpu_of(std::process::id()) - sim_cpu_before;
    let db_cpu = db_cpu_before.and_then(|before| Some(postgres_server_cpu()? - before));
    sampler.abort();
    let rewrites = match rewrites_before {
        Some(before) => rewrites::of_members(database_url)
            .await
            .map(|after| after.since(before)),
        None => None,
    };
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
    Run {
        accepted: stats.accepted,
        steady_per_s: (n90 - n10) as f64 / (t90 - t10).as_secs_f64().max(1e-3),
        end_to_end_per_s: stats.accepted as f64 / (t_last - started).as_secs_f64().max(1e-3),
        all_final,
        cpu_per_1000: cpu.mul_f64(1000.0 / members.max(1) as f64),
        sim_cpu_per_1000: sim_cpu.mul_f64(1000.0 / members.max(1) as f64),
        db_cpu_per_1000: db_cpu.map(|cpu| cpu.mul_f64(1000.0 / members.max(1) as f64)),
        peak_rss_mib: herald.peak_rss_mib(),
        duplicates: stats.duplicates,
        max_in_flight: stats.max_in_flight,
        enrolment: imported,
        pages,
        neighbour,
        work,
        rewrites,
    }
}

/// The rate at which processes costing `cpu_per_1000` together per 1,000
/// messages would use every core: what this machine allows at most while
/// all of them run on it.
pub fn rate_the_cores_allow(cpu_per_1000: Duration) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    cores / (cpu_per_1000.as_secs_f64() / 1000.0).max(1e-9)
}

pub fn print_run(label: &str, run: &Run, ceiling_per_s: f64) {
    // Herald, the simulator and a local database server together.
    let db_cpu = run.db_cpu_per_1000.unwrap_or_default();
    println!(
        "| {label} | {} | {:.0} | {:.0} MiB | {} | {} |",
        rate_and_cost_columns(&Medians::of(std::slice::from_ref(run)), ceiling_per_s),
        rate_the_cores_allow(run.cpu_per_1000 + run.sim_cpu_per_1000 + db_cpu),
        run.peak_rss_mib,
        run.max_in_flight,
        if run.duplicates == 0 {
            format!("{} accepted, 0 duplicates", run.accepted)
        } else {
            format!("{} accepted, {} DUPLICATES", run.accepted, run.duplicates)
        },
    );
}

/// The scale-of-state rows of a run: enrolment, each page's latency while
/// it sent, and the neighbour's wait.
pub fn print_state(label: &str, members: u64, run: &Run) {
    println!(
        "| {label}: enrolment ({members} contacts imported) | {:.1} s | | |",
        run.enrolment.as_secs_f64()
    );
    for (page, samples) in &run.pages {
        println!(
            "| {label}: {page} | {} | {} | {} asked |",
            ms(quantile(samples, 0.5)),
            ms(quantile(samples, 0.99)),
            samples.len()
        );
    }
    println!(
        "| {label}: fairness, another tenant's {}-member campaign started at 30% | {:.2} s until all sent | | |",
        fairness::MEMBERS,
        run.neighbour.as_secs_f64()
    );
}

/// Herald's own counts per 1,000 messages of a run, from its metrics.
pub fn print_work(label: &str, run: &Run) {
    for (what, per_thousand, mean) in &run.work {
        println!("| {label}: {what} | {per_thousand:.0} | {mean} |");
    }
    if let Some(r) = run.rewrites {
        let thousands = run.accepted.max(1) as f64 / 1000.0;
        println!(
            "| {label}: member rows rewritten (PostgreSQL), of them in place (HOT) | {:.0} | {:.0}% in place |",
            r.updated as f64 / thousands,
            100.0 * r.in_place as f64 / r.updated.max(1) as f64
        );
    }
}

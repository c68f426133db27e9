//! The same provider contract in two languages, side by side
//! (`cargo bench -p herald --bench languages`): the Rust `twilio-sms`
//! plugin and the Python `vonage-sms-py` (componentize-py), each
//! - as a file: component size, compile time, precompiled size;
//! - per call in the sandbox: instantiate + `send` with `http-send`
//!   refused at once by the host (no network), wall and CPU time;
//! - per call against the provider simulator on loopback: instantiate +
//!   `send` with its HTTP exchange, wall time, and calls/s 16 at a time;
//! - memory: the linear memory an instance starts with, and how much the
//!   process's peak RSS grew while 64 calls ran at once.
//!
//! Needs the components from `./dev.sh build`.

// Only its peak RSS reading is used here.
#[allow(dead_code)]
#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use herald::egress::EgressPolicy;
use herald::plugins::{
    CallContext, CompileCache, LoadedPlugin, Registry, Runtime, RuntimeLimits, wit,
};
use herald::store::Store;
use herald_sim::{SimConfig, Simulator};

const SEQUENTIAL: usize = 2_000;
const CONCURRENT: usize = 16;
const PER_TASK: usize = 100;

/// A channel's (config, secrets), as name-value pairs.
type Settings = (Vec<(String, String)>, Vec<(String, String)>);

struct Subject {
    label: &'static str,
    file: &'static str,
    /// Channel config and secrets that reach the simulator.
    settings: fn(&Simulator) -> Settings,
}

const SUBJECTS: [Subject; 2] = [
    Subject {
        label: "Rust twilio-sms",
        file: "twilio_sms.wasm",
        settings: |sim| {
            let c = sim.config();
            (
                vec![
                    ("account-sid".into(), c.twilio_account_sid.clone()),
                    ("base-url".into(), sim.base_url()),
                ],
                vec![("auth-token".into(), c.twilio_auth_token.clone())],
            )
        },
    },
    Subject {
        label: "Python vonage-sms-py",
        file: "vonage_sms_py.wasm",
        settings: |sim| {
            let c = sim.config();
            (
                vec![
                    ("api-key".into(), c.vonage_api_key.clone()),
                    ("base-url".into(), sim.base_url()),
                ],
                vec![
                    ("api-secret".into(), c.vonage_api_secret.clone()),
                    ("signature-secret".into(), c.vonage_signature_secret.clone()),
                ],
            )
        },
    },
];

fn message(i: usize) -> wit::OutboundMessage {
    wit::OutboundMessage {
        idempotency_key: format!("{i}-1-1"),
        // Last four digits from 1000 up: none of the simulator's scripted
        // outcomes (all below 1000), so every send is accepted at once.
        to: format!("+1415{:03}{:04}", 200 + i / 9_000 % 700, 1_000 + i % 9_000),
        sender: "+15005550006".into(),
        content: wit::Content::Text(wit::TextMessage {
            body: "Hi Ana, your order shipped.".into(),
            media: Vec::new(),
        }),
        status_callback_url: "http://127.0.0.1:9/webhooks/1".into(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn quantiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:>8.1?}  p99 {:>8.1?}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    )
}

/// Linear memory an instance starts with (the largest initial memory of
/// its core modules), from wasmtime's own reading of the component.
fn initial_memory_mib(wasm: &[u8]) -> anyhow::Result<f64> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config)?;
    let component = wasmtime::component::Component::new(&engine, wasm)?;
    // In 64 KiB wasm pages.
    let pages = component
        .resources_required()
        .and_then(|r| r.max_initial_memory_size)
        .unwrap_or(0);
    Ok(pages as f64 / 16.0)
}

/// `tasks` tasks each sending `each` messages; how many calls failed.
async fn concurrently(
    plugin: &Arc<LoadedPlugin>,
    ctx: &CallContext,
    config: &[(String, String)],
    tasks: usize,
    each: usize,
    first: usize,
) -> usize {
    let mut set = tokio::task::JoinSet::new();
    for w in 0..tasks {
        let (plugin, ctx, config) = (plugin.clone(), ctx.clone(), config.to_vec());
        set.spawn(async move {
            let mut failed = 0;
            for i in 0..each {
                let message = message(first + w * 10_000 + i);
                let (result, _) = plugin.send(ctx.clone(), config.clone(), message).await;
                failed += usize::from(!matches!(result, Ok(Ok(_))));
            }
            failed
        });
    }
    let mut failed = 0;
    while let Some(n) = set.join_next().await {
        failed += n.expect("a send task");
    }
    failed
}

/// `n` sends one after another: wall time of each, CPU per call.
async fn sequential(
    plugin: &LoadedPlugin,
    ctx: &CallContext,
    config: &[(String, String)],
    n: usize,
) -> (Vec<Duration>, Duration) {
    let mut samples = Vec::with_capacity(n);
    let cpu = ProcessTime::now();
    for i in 0..n {
        let started = Instant::now();
        let (result, _) = plugin.send(ctx.clone(), config.to_vec(), message(i)).await;
        samples.push(started.elapsed());
        assert!(result.is_ok(), "{result:?}");
    }
    (samples, cpu.elapsed() / n as u32)
}

/// `sim` answers at once; `slow` holds each answer 50 ms.
async fn subject(
    root: &std::path::Path,
    subject: &Subject,
    sim: &Simulator,
    slow: &Simulator,
) -> anyhow::Result<()> {
    let wasm = std::fs::read(root.join("target/plugins").join(subject.file))
        .expect("run ./dev.sh build first");
    let dir = tempfile::tempdir()?;
    let store =
        Store::connect(&format!("sqlite:{}", dir.path().join("bench.db").display())).await?;
    let runtime = Runtime::new(RuntimeLimits {
        egress: Arc::new(EgressPolicy::with_loopback()),
        ..RuntimeLimits::default()
    })?;
    let cache_dir = dir.path().join("cache");
    let registry = Registry::new(
        runtime,
        store,
        CompileCache::new(Some(cache_dir.clone())),
        u64::MAX,
    );
    let started = Instant::now();
    let plugin = registry.install(wasm.clone()).await?;
    let compile = started.elapsed();
    let precompiled: u64 = std::fs::read_dir(&cache_dir)?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let label = subject.label;
    println!(
        "{label:<22} component {:>6.2} MiB, compiled in {compile:>7.1?}, precompiled {:>6.2} MiB, \
         instance starts with {:>5.2} MiB of linear memory",
        wasm.len() as f64 / 1048576.0,
        precompiled as f64 / 1048576.0,
        initial_memory_mib(&wasm)?,
    );

    // The sandbox alone: no allowed hosts, so `http-send` answers at once.
    let (config, secrets) = (subject.settings)(sim);
    let bare = CallContext::bare(plugin.name(), plugin.version());
    sequential(&plugin, &bare, &config, 100).await;
    let (samples, cpu) = sequential(&plugin, &bare, &config, SEQUENTIAL).await;
    println!(
        "{label:<22} sandboxed send (instantiate + call)  {}  CPU {cpu:>8.1?} per call",
        quantiles(samples)
    );

    // With its HTTP exchange to the simulator.
    let ctx = CallContext {
        secrets: Arc::new(secrets.into_iter().collect::<BTreeMap<_, _>>()),
        allowed_hosts: Arc::new(vec!["127.0.0.1".into()]),
        ..bare
    };
    let (samples, cpu) = sequential(&plugin, &ctx, &config, SEQUENTIAL).await;
    println!(
        "{label:<22} send to the simulator                {}  CPU {cpu:>8.1?} per call \
         (simulator's included)",
        quantiles(samples)
    );
    for (how, budget) in [
        ("server's CPU budget", None),
        ("its own 250 ms budget", Some(Duration::from_millis(250))),
    ] {
        let ctx = CallContext {
            cpu_budget: budget,
            ..ctx.clone()
        };
        let started = Instant::now();
        let failed = concurrently(&plugin, &ctx, &config, CONCURRENT, PER_TASK, 0).await;
        let per_sec = (CONCURRENT * PER_TASK) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{label:<22} send to the simulator, {CONCURRENT} at a time   {per_sec:>8.0} calls/s \
             ({failed} failed; {how})"
        );
    }

    // Peak memory while 64 instances live at once (the slow simulator
    // holds each answer 50 ms, so the calls overlap).
    let (config, _) = (subject.settings)(slow);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = common::peak_rss_mib("self");
    let started = Instant::now();
    let failed = concurrently(&plugin, &ctx, &config, 64, 1, 500_000).await;
    println!(
        "{label:<22} peak RSS grew {:>6.1} MiB with 64 calls at once \
         ({failed} failed, all done in {:.1?})",
        common::peak_rss_mib("self") - before,
        started.elapsed()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let sim = Simulator::start(SimConfig::default()).await?;
    let slow = Simulator::start(SimConfig {
        response_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await?;
    for s in &SUBJECTS {
        subject(&root, s, &sim, &slow).await?;
    }
    Ok(())
}

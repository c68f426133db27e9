//! The wasmtime engine: pooling allocator, epoch-based deadlines, a memory cap
//! per call, and one fresh instance per call so no state leaks between calls
//! (or tenants).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy, Store, UpdateDeadline,
};

use super::bindings::reconciling::ReconcilingProviderPluginPre;
use super::bindings::{ProviderPlugin, ProviderPluginPre};
use super::call::{Call, Reply};
use super::cpu_gate::{self, CpuGate};
use super::cpu_meter::CpuMeter;
use super::exports::{HotExports, run_call};
use super::heavy_lane::HeavyLane;
use super::host_imports::{CallContext, HostState};
use super::limits::{FREE_PER_INSTANCE, MemoryBudget, MemoryCap};
use super::native::NativeProvider;
use super::usual_cpu::UsualCpu;
use super::wire::{WireLog, WireSeen};
use crate::egress::EgressPolicy;

/// A component linked and ready to instantiate: as the base world always,
/// and as the 1.1 world with `lookup` when it exports that too. Cloning
/// it is cheap (its parts are shared).
#[derive(Clone)]
pub(super) struct Prepared {
    pub(super) provider: ProviderPluginPre<HostState>,
    pub(super) lookup: Option<ReconcilingProviderPluginPre<HostState>>,
    /// Bytes of the shared memory budget an instance takes as soon as it
    /// exists (its largest memory's start size beyond
    /// [`FREE_PER_INSTANCE`]): 0 for the Rust plugins, about 10 MiB for
    /// a Python one, whose calls wait for it rather than fail.
    pub(super) start_memory: usize,
    /// The same provider compiled into the host, which then answers its
    /// sends and webhooks without the sandbox (`--native-provider`, for
    /// the dispatch benchmark only).
    pub(super) native: Option<NativeProvider>,
    /// `send` and `handle-webhook`, found once (`None`: not under the
    /// names this host knows; the generated bindings find them per call).
    pub(super) hot: Option<Arc<HotExports>>,
    /// What this version's calls usually cost: sizes its heavy threshold.
    pub(super) usual_cpu: Arc<UsualCpu>,
}

/// Where a call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// On the caller's thread, one of the server's workers: a version with
    /// a sound record.
    Worker,
    /// On the heavy lane's thread, on the heavy slot only past its
    /// threshold: a version without a record yet, whose first calls may
    /// spin; their ticks then hold the lane's thread rather than one of
    /// the server's two workers (the noisy benchmark's neighbour lost up
    /// to half its rate while a new hostile plugin made its first calls).
    Lane,
    /// On the heavy lane and the heavy slot from its first instruction: a
    /// suspect version.
    Heavy,
}

/// How often the engine's epoch advances: the granularity of deadlines and of
/// the cooperative yields that keep a busy guest from hogging a thread (the
/// HTTP server and the other sends share those threads: a long tick is a
/// long wait for them).
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(2);

#[derive(Clone, Debug)]
pub struct RuntimeLimits {
    /// Wall-clock budget of one plugin call, HTTP included.
    pub call_timeout: Duration,
    /// CPU budget of one plugin call: the guest's own work, not the time
    /// it waits for its provider.
    pub cpu_budget: Duration,
    /// Linear memory cap of one instance.
    pub memory_bytes: usize,
    /// Linear memory of all live instances together, beyond the first
    /// [`FREE_PER_INSTANCE`] of each.
    pub total_memory_bytes: usize,
    /// Instances alive at once; further calls wait for a slot.
    pub max_instances: u32,
    /// Where `http-send` may connect (public addresses, and what the
    /// operator allows).
    pub egress: Arc<EgressPolicy>,
    /// Plugins whose sends and webhooks run natively in the host instead
    /// of in the sandbox (see `native`): the benchmark's measure of the
    /// sandbox's share, never a production setting.
    pub native_providers: Vec<String>,
    /// Write a map of the plugins' compiled functions for `perf`
    /// (`--wasm-perf-map`): profiling, not production.
    pub perf_map: bool,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(5),
            cpu_budget: DEFAULT_CPU_BUDGET,
            memory_bytes: 16 << 20,
            total_memory_bytes: DEFAULT_TOTAL_MEMORY,
            max_instances: 256,
            egress: Arc::default(),
            native_providers: Vec::new(),
            perf_map: false,
        }
    }
}

/// Instances beyond the sends in flight: webhooks, lookups and sends
/// share the pool, and a send holds its instance while the provider
/// answers, so the pool grows with `--max-in-flight`; this much stays for
/// the calls that take an instance for microseconds (a webhook's).
const INSTANCES_BESIDE_SENDS: u32 = 256;

/// The instance pool for `max_in_flight` sends at once: each may hold an
/// instance for its provider's whole answer, and the other calls keep the
/// pool's room beside them (a pool smaller than the sends would cap them).
pub fn instances_for(max_in_flight: u32) -> u32 {
    max_in_flight.saturating_add(INSTANCES_BESIDE_SENDS)
}

/// A provider call builds a request and reads an answer: well under a
/// millisecond of CPU for the bundled plugins. 50 ms is a hundred times
/// that, and stops a spinning guest before it costs its neighbours much.
pub const DEFAULT_CPU_BUDGET: Duration = Duration::from_millis(50);

/// Linear memory that plugin instances may hold together beyond the first
/// 4 MiB each (a bundled plugin's instance holds about 1.1 MiB: its 1 MiB
/// stack and a small heap, so ordinary calls never draw on it): room for a
/// few large ones, and a bound on what memory-hungry guests can add to the
/// process's footprint, which they cannot take from anyone else's calls.
pub const DEFAULT_TOTAL_MEMORY: usize = 192 << 20;

/// A call that did not return normally. The engine treats each as a
/// transient failure of that one message.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PluginFailure {
    #[error("plugin call exceeded its deadline of {0:?}")]
    Timeout(Duration),
    #[error("plugin exceeded its memory limit of {0} bytes")]
    OutOfMemory(usize),
    #[error("plugin exceeded its CPU budget of {budget:?} (used {used:?})")]
    CpuBudget { budget: Duration, used: Duration },
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("plugin could not be instantiated: {0}")]
    Instantiate(String),
}

/// Bytes of each memory and table slot kept resident between calls when
/// only the first pages can be reset (memset of the whole span every
/// call): bounded so 256 slots cost at most 64 MiB.
const KEEP_RESIDENT: usize = 256 << 10;
/// Where the kernel reports which pages a call dirtied (`PAGEMAP_SCAN`,
/// Linux 6.7+), this many dirty bytes anywhere in the memory are reset in
/// place and only the rest decommitted: a bundled plugin's call dirties a
/// few hundred KiB across its 1 MiB stack, data and heap, so it pays no
/// page faults or decommit, while a memory bomb's slot keeps at most this
/// (256 slots: 256 MiB at worst, what calls touched, not reserved).
const KEEP_RESIDENT_SCANNED: usize = 1 << 20;
/// Slots decommitted together.
const DECOMMIT_BATCH: usize = 32;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    http: reqwest::Client,
    permits: Semaphore,
    limits: RuntimeLimits,
    memory: Arc<MemoryBudget>,
    heavy: Arc<CpuGate>,
    /// Where the calls of plugins that keep faulting run (see
    /// [`HeavyLane`]).
    heavy_lane: HeavyLane,
    /// The runtime the server (and `new`) runs on: where the heavy lane's
    /// calls send their HTTP requests (see `HostState::sending_from`).
    server_runtime: Option<tokio::runtime::Handle>,
}

/// The engine every plugin runs on. Its settings decide the machine code
/// (and so which compiled components it can load): `herald plugin
/// precompile` builds the same one from the same two figures (see
/// `compile_child`).
pub(super) fn engine(
    memory_bytes: usize,
    max_instances: u32,
    perf_map: bool,
) -> anyhow::Result<Engine> {
    let scanned = PoolingAllocationConfig::is_pagemap_scan_available();
    let keep_resident = if scanned {
        KEEP_RESIDENT_SCANNED
    } else {
        KEEP_RESIDENT
    };
    tracing::debug!(
        pagemap_scan = scanned,
        keep_resident,
        "plugin memory slots: pages kept resident between calls"
    );
    let mut pool = PoolingAllocationConfig::default();
    pool.pagemap_scan(if scanned { Enabled::Yes } else { Enabled::No })
        .total_component_instances(max_instances)
        .total_core_instances(max_instances * 4)
        .total_memories(max_instances * 2)
        .total_tables(max_instances * 4)
        .max_memory_size(memory_bytes)
        // Every call instantiates afresh, so slots are reset thousands
        // of times a second: up to `keep_resident` of a memory (its
        // dirty pages where the kernel reports them, else its first
        // pages) and of its tables are reset in place instead of
        // madvise (no page faults on reuse), and the rest is
        // decommitted in batches (one TLB shootdown for many slots
        // instead of one each).
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(KEEP_RESIDENT)
        .decommit_batch_size(DECOMMIT_BATCH);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // `perf` sees the guests' compiled code as anonymous addresses; with
    // this on, wasmtime writes /tmp/perf-PID.map as it loads each plugin
    // and a profile names the plugin's functions. The machine code is the
    // same either way.
    if perf_map {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

impl Runtime {
    pub fn new(limits: RuntimeLimits) -> anyhow::Result<Arc<Self>> {
        let engine = engine(limits.memory_bytes, limits.max_instances, limits.perf_map)?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        ProviderPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;

        // A plain thread, not a tokio task: a guest spinning on a runtime
        // worker must not be able to stop the clock that interrupts it.
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("herald-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;

        let http = reqwest::Client::builder()
            // Redirects could leave the allowed hosts.
            .redirect(reqwest::redirect::Policy::none())
            // Names resolve to permitted addresses only, and the connection
            // goes to the address checked.
            .dns_resolver(limits.egress.resolver())
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Arc::new(Self {
            engine,
            linker,
            http,
            permits: Semaphore::new(limits.max_instances as usize),
            memory: MemoryBudget::new(limits.total_memory_bytes),
            heavy: Arc::new(CpuGate::default()),
            heavy_lane: HeavyLane::start()?,
            server_runtime: tokio::runtime::Handle::try_current().ok(),
            limits,
        }))
    }

    pub fn limits(&self) -> &RuntimeLimits {
        &self.limits
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Links a compiled component against the host imports once, so each
    /// call only instantiates.
    pub(super) fn prepare(&self, component: &Component) -> wasmtime::Result<Prepared> {
        let pre = self.linker.instantiate_pre(component)?;
        // In 64 KiB pages; `None` only for components importing core
        // modules, which the provider worlds cannot.
        let start_pages = component
            .resources_required()
            .and_then(|r| r.max_initial_memory_size)
            .unwrap_or(0);
        let start_bytes =
            usize::try_from(start_pages.saturating_mul(64 << 10)).unwrap_or(usize::MAX);
        Ok(Prepared {
            // Past the cap the instance cannot start at all: nothing to
            // wait for.
            start_memory: if start_bytes <= self.limits.memory_bytes {
                start_bytes.saturating_sub(FREE_PER_INSTANCE)
            } else {
                0
            },
            // Only a component that exports `lookup` links as this world.
            lookup: ReconcilingProviderPluginPre::new(pre.clone()).ok(),
            provider: ProviderPluginPre::new(pre)?,
            native: None,
            hot: HotExports::find(component).map(Arc::new),
            usual_cpu: Arc::default(),
        })
    }

    /// The native provider that stands in for plugin `name`, when the
    /// server was started with `--native-provider NAME`.
    pub(super) fn native_for(&self, name: &str) -> Option<NativeProvider> {
        self.limits
            .native_providers
            .iter()
            .any(|n| n == name)
            .then(|| NativeProvider::named(name))
            .flatten()
    }

    pub(super) async fn invoke(
        self: &Arc<Self>,
        pre: &Prepared,
        ctx: CallContext,
        call: Call,
    ) -> Result<Reply, PluginFailure> {
        self.invoke_watched(pre, ctx, call, Placement::Worker)
            .await
            .0
    }

    /// A call, and what its `http-send` exchanges may have done at the
    /// provider (known even when the call failed or was cut off).
    pub(super) async fn invoke_watched(
        self: &Arc<Self>,
        pre: &Prepared,
        ctx: CallContext,
        call: Call,
        placement: Placement,
    ) -> (Result<Reply, PluginFailure>, WireSeen) {
        let wire = WireLog::default();
        let result = self
            .invoke_with_wires(pre, ctx, call, placement, vec![wire.clone()])
            .await;
        (result, wire.seen())
    }

    /// A call whose exchanges are recorded in `wires`: one log per message
    /// of a `send-all`, one for any other call (see `HostState::wires`).
    pub(super) async fn invoke_with_wires(
        self: &Arc<Self>,
        pre: &Prepared,
        ctx: CallContext,
        call: Call,
        placement: Placement,
        wires: Vec<WireLog>,
    ) -> Result<Reply, PluginFailure> {
        match placement {
            // Boxed: the call's future (about 1.5 KB: the host state until
            // it moves into the store, the permits) would otherwise sit in
            // every future awaiting a plugin call, a send's and a webhook
            // handler's, copied whole at every move through the dispatcher
            // and the HTTP layers (memcpy was 7% of Herald's CPU while a
            // campaign sent, with wasmtime's futures inline too: see
            // `run_call` below). The lane's call is a task's handle.
            Placement::Worker => {
                Box::pin(self.invoke_logged(pre, ctx, call, wires, placement)).await
            }
            Placement::Lane | Placement::Heavy => {
                self.invoke_on_heavy_lane(pre, ctx, call, wires, placement)
                    .await
            }
        }
    }

    /// A call run on the [`HeavyLane`] (`placement` is `Lane` or `Heavy`).
    async fn invoke_on_heavy_lane(
        self: &Arc<Self>,
        pre: &Prepared,
        ctx: CallContext,
        call: Call,
        wires: Vec<WireLog>,
        placement: Placement,
    ) -> Result<Reply, PluginFailure> {
        let (runtime, pre) = (self.clone(), pre.clone());
        let task = self.heavy_lane.run(async move {
            runtime
                .invoke_logged(&pre, ctx, call, wires, placement)
                .await
        });
        match task.await {
            Ok(result) => result,
            Err(e) => Err(PluginFailure::Trap(format!("the call's task ended: {e}"))),
        }
    }

    /// The call itself, on the thread `placement` says.
    async fn invoke_logged(
        &self,
        pre: &Prepared,
        ctx: CallContext,
        call: Call,
        wires: Vec<WireLog>,
        placement: Placement,
    ) -> Result<Reply, PluginFailure> {
        let suspect = placement == Placement::Heavy;
        // Off the server's runtime, HTTP requests are sent from it (see
        // `HostState::sending_from`).
        let http_home = match placement {
            Placement::Worker => None,
            Placement::Lane | Placement::Heavy => self.server_runtime.clone(),
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut memory = MemoryCap::new(self.limits.memory_bytes, self.memory.clone());
        if pre.start_memory > 0 {
            memory = memory.with_reservation(self.memory.reserve(pre.start_memory).await);
        }
        let timeout = self.limits.call_timeout;
        let deadline = Instant::now() + timeout;
        // A batch of webhooks: each keeps the budget it would have alone.
        let weight = call.weight();
        let budget = ctx.cpu_budget.unwrap_or(self.limits.cpu_budget) * weight;
        let light = pre.usual_cpu.heavy_after(budget / weight) * weight;
        let state = HostState::new(ctx, self.http.clone(), deadline, memory, wires)
            .with_egress(self.limits.egress.clone())
            .sending_from(http_home);
        if let Some(native) = pre.native.filter(|n| n.answers(&call)) {
            let mut state = state;
            return match tokio::time::timeout(timeout, Box::pin(native.call(&mut state, call)))
                .await
            {
                Ok(result) => result.map_err(|e| PluginFailure::Trap(e.to_string())),
                Err(_) => Err(PluginFailure::Timeout(timeout)),
            };
        }
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(1);
        let cpu = Arc::new(CpuMeter::default());
        let over_budget = Arc::new(AtomicBool::new(false));
        let (meter, over) = (cpu.clone(), over_budget.clone());
        let (gate, turn) = (self.heavy.clone(), cpu_gate::Turn::default());
        // A plugin that keeps faulting (and is not quarantined: its rate is
        // judged over a minute, or quarantine is off) runs only on the
        // heavy slot, from its first instruction: its traps, bombs and
        // spins then cost its neighbours no more than one spinning guest.
        if suspect {
            gate.next_turn(&turn, Duration::ZERO).await;
        }
        // Runs each tick while the guest executes: past either budget the
        // guest is interrupted, else it yields so others get the thread (a
        // heavy guest, to the shared slot's next turn).
        store.epoch_deadline_callback(move |_| {
            // Most ticks a call sees passed while it waited for its HTTP
            // exchange, and the callback runs as the guest resumes: nothing
            // to judge, no turn to give up (`CpuMeter::nothing_to_judge`).
            if !suspect && meter.nothing_to_judge(light) && Instant::now() < deadline {
                return Ok(UpdateDeadline::Continue(1));
            }
            meter.go_precise();
            let used = meter.used();
            if used > budget {
                over.store(true, Ordering::Relaxed);
                Ok(UpdateDeadline::Interrupt)
            } else if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else if suspect || used > light {
                Ok(UpdateDeadline::YieldCustom(1, gate.next_turn(&turn, used)))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        // The epoch stops a guest that computes; this stops one whose host
        // call (HTTP) would outlive the deadline. Boxed: wasmtime's
        // instantiation and call futures are ~5 KB, and inline they made
        // every future awaiting a plugin call as large, copied whole into
        // each layer above (the timeout, a webhook's handler and axum's
        // route futures: 15-19 KB copies, memmove 6% of Herald's CPU).
        let run = cpu.meter(Box::pin(run_call(pre, &mut store, call)));
        let result = match tokio::time::timeout(timeout + EPOCH_TICK * 5, run).await {
            Ok(result) => result,
            Err(_) => return Err(PluginFailure::Timeout(timeout)),
        };
        metrics::histogram!("herald_plugin_call_cpu_seconds").record(cpu.used());
        if result.is_ok() {
            pre.usual_cpu.observe(cpu.used() / weight);
        }
        metrics::gauge!("herald_plugin_linear_memory_bytes").set(self.memory.used() as f64);
        result.map_err(|err| {
            if over_budget.load(Ordering::Relaxed) {
                PluginFailure::CpuBudget {
                    budget,
                    used: cpu.used(),
                }
            } else if store.data().memory.exceeded {
                PluginFailure::OutOfMemory(self.limits.memory_bytes)
            } else if matches!(
                err.downcast_ref::<wasmtime::Trap>(),
                Some(wasmtime::Trap::Interrupt)
            ) {
                PluginFailure::Timeout(timeout)
            } else {
                // The wasm backtrace is for plugin authors, in the log; members
                // and pause reasons get the one-line cause.
                tracing::warn!(plugin = %store.data().call.plugin, error = format!("{err:?}"), "plugin trapped");
                PluginFailure::Trap(err.root_cause().to_string())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `--wasm-perf-map`, loading a plugin writes the map `perf`
    /// reads (/tmp/perf-PID.map) with the plugin's own function names;
    /// without it, nothing is written.
    #[test]
    fn the_perf_map_switch_names_a_plugins_functions_for_perf() {
        let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()));
        let _ = std::fs::remove_file(&map);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/plugins/twilio_sms.wasm");
        let wasm = std::fs::read(&path).expect("run ./dev.sh build first");

        let off = engine(16 << 20, 4, false).unwrap();
        Component::new(&off, &wasm).unwrap();
        assert!(!map.exists(), "a map was written without the switch");

        let on = engine(16 << 20, 4, true).unwrap();
        Component::new(&on, &wasm).unwrap();
        let text = std::fs::read_to_string(&map).expect("the map is written");
        std::fs::remove_file(&map).unwrap();
        // `perf`'s format: start address and size in hexadecimal, then the
        // function's name.
        assert!(
            text.lines().any(|line| line.split(' ').count() >= 3
                && line.contains("twilio_sms")
                && line.contains("send")),
            "the plugin's send is not named: {} lines, e.g. {:?}",
            text.lines().count(),
            text.lines().take(3).collect::<Vec<_>>()
        );
    }
}

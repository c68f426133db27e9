//! The engine: the dispatcher that claims due members and sends them through
//! their channel's plugin, the writer that records outcomes in batches, the
//! lease sweeper, and webhook event application.

mod admission;
mod batch;
mod call_start;
mod channels;
mod completion;
mod content;
mod credits;
mod dispatcher;
mod drain;
mod faults;
mod import_jobs;
pub mod import_reader;
mod instances;
mod opt_out;
mod outcome;
mod provider_errors;
mod rate_limit;
mod receipt_writer;
mod reconciler;
mod replies;
mod scheduler;
mod send_slots;
mod send_writer;
mod templates;
mod uncertain;
mod vacuum;
mod webhook_guard;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::plugins::Registry;
use crate::store::Store;
use channels::ChannelCache;

pub use import_jobs::Importer;
pub use templates::SyncError;
pub use webhooks::{VERSION_PARAM, WebhookReply, WebhookTarget, webhook_result};

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Base URL providers use to reach Herald's webhooks.
    pub public_url: String,
    /// Where requests on a tenant's behalf may go (reply forwarding).
    pub egress: Arc<crate::egress::EgressPolicy>,
    /// Distinguishes this process's leases from other instances'.
    pub instance_id: String,
    /// Members claimed per query.
    pub batch_size: i64,
    /// Sends in flight at once, from their claim until the provider has
    /// answered (see `dispatcher`, `send_slots`).
    pub max_in_flight: usize,
    /// How long a claim stays valid; a send whose lease expires is `unknown`.
    pub lease: Duration,
    /// How long after a send its receipt is awaited before Herald asks the
    /// provider (and again after each further period).
    pub receipt_check: Duration,
    /// Consecutive provider errors after which a campaign pauses.
    pub max_provider_errors: u32,
    /// How long after an uncertain send Herald asks the provider whether
    /// it has the message (its listing may lag a little behind).
    pub lookup_after: Duration,
    /// The largest webhook body a plugin is given (WhatsApp plugins get
    /// Meta's documented maximum if larger, see `webhook_guard`).
    pub webhook_max_body: usize,
}

/// `--max-in-flight` by default. A real provider answers a send in tens to
/// hundreds of milliseconds, and a send holds its slot that long: at 128, a
/// lone tenant's 96 slots held a campaign to about 1,300 messages/s against
/// a provider answering in 50 ms, half of what the cores allowed (the
/// dispatch benchmark's `--provider-latency-ms=50`; 2,500 at 256). Not
/// more: when the provider answers at once the sends queue for the cores
/// instead, each holding memory meanwhile (its plugin instance's pages, its
/// connection's buffers), and at 256 the benchmark's peak RSS for 100,000
/// members on PostgreSQL passed the 150 MB its issue allows (149-157 MiB;
/// 123 MiB at 192).
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 192;

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            egress: Arc::default(),
            // The pid alone may repeat on another host sharing the database.
            instance_id: format!(
                "herald-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            batch_size: 100,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT as usize,
            lease: Duration::from_secs(300),
            receipt_check: Duration::from_secs(600),
            max_provider_errors: provider_errors::DEFAULT_MAX_PROVIDER_ERRORS,
            lookup_after: Duration::from_secs(5),
            webhook_max_body: 64 << 10,
        }
    }
}

pub struct Engine {
    store: Store,
    registry: Arc<Registry>,
    config: EngineConfig,
    channels: ChannelCache,
    wake: Notify,
    /// A reply was queued for forwarding.
    replies_due: Notify,
    /// Credits reserved by sends in flight.
    credits: credits::Credits,
    /// Per-sender rate limits.
    rate_limits: rate_limit::RateLimits,
    /// Consecutive provider errors per campaign (auto-pause).
    provider_errors: provider_errors::ProviderErrors,
    /// Delivery receipts, committed in batches.
    receipts: receipt_writer::ReceiptWriter,
    /// Claims becoming sends, committed in batches.
    call_starts: call_start::CallStarts,
    /// Calls and outcomes under way, and whether the engine is stopping.
    in_flight: drain::InFlight,
    /// Each tenant's and each plugin's share of the send slots.
    send_slots: Arc<send_slots::SendSlots>,
    /// Campaigns the send path may have finished, checked coalesced.
    completion: completion::CompletionChecks,
    /// Webhook faults per channel.
    webhook_guard: webhook_guard::WebhookGuard,
}

impl Engine {
    pub fn new(store: Store, registry: Arc<Registry>, config: EngineConfig) -> Arc<Self> {
        let send_slots = send_slots::SendSlots::new(config.max_in_flight);
        // Instances on one PostgreSQL database share each sender's slots.
        let rate_limits = match store.backend() {
            crate::store::Backend::Postgres => rate_limit::RateLimits::shared(store.clone()),
            crate::store::Backend::Sqlite => rate_limit::RateLimits::default(),
        };
        Arc::new(Self {
            channels: ChannelCache::new(store.clone()),
            store,
            registry,
            provider_errors: provider_errors::ProviderErrors::new(config.max_provider_errors),
            config,
            wake: Notify::new(),
            replies_due: Notify::new(),
            credits: credits::Credits::default(),
            rate_limits,
            receipts: receipt_writer::ReceiptWriter::default(),
            call_starts: call_start::CallStarts::default(),
            in_flight: drain::InFlight::default(),
            send_slots,
            completion: completion::CompletionChecks::default(),
            webhook_guard: webhook_guard::WebhookGuard::default(),
        })
    }

    /// Starts the dispatcher, the send path's writer, the lease sweeper
    /// and the scheduler.
    pub fn start(self: &Arc<Self>) {
        let (finished, outcomes) = tokio::sync::mpsc::channel(self.config.max_in_flight * 2);
        for inputs in send_writer::Inputs::split(self, outcomes) {
            let writer = tokio::spawn(send_writer::run(self.clone(), inputs));
            tokio::spawn(supervise(self.clone(), "send writer", writer));
        }
        let dispatcher = tokio::spawn(dispatcher::run(self.clone(), finished));
        tokio::spawn(supervise(self.clone(), "dispatcher", dispatcher));
        let engine = self.clone();
        tokio::spawn(async move { engine.completion.run(&engine).await });
        tokio::spawn(sweep_leases(self.clone()));
        tokio::spawn(fold_tallies(self.clone()));
        tokio::spawn(reconciler::run(self.clone()));
        tokio::spawn(uncertain::run(self.clone()));
        tokio::spawn(replies::run(self.clone()));
        tokio::spawn(scheduler::run(self.clone()));
        tokio::spawn(faults::run(self.clone()));
        tokio::spawn(instances::run(self.clone()));
        tokio::spawn(vacuum::run(self.clone()));
    }

    /// Where requests on a tenant's behalf may go.
    pub fn egress(&self) -> &crate::egress::EgressPolicy {
        &self.config.egress
    }

    /// A channel was edited: the next send reads it afresh (other instances
    /// within the cache's one-second lifetime).
    pub fn channel_changed(&self, id: i64) {
        self.channels.forget(id);
    }

    /// New due work exists (a campaign started or resumed): claim now rather
    /// than at the next tick.
    /// How long after a send its receipt is awaited before a lookup.
    pub fn receipt_check_ms(&self) -> i64 {
        self.config.receipt_check.as_millis() as i64
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Where the provider posts status callbacks for a channel. A
    /// canary's sends name their version (`?herald_version=SHA256`), so
    /// that their callbacks are verified by it (see `webhook_target`).
    fn callback_url(&self, channel_id: i64, canary: Option<&str>) -> String {
        let base = self.config.public_url.trim_end_matches('/');
        match canary {
            None => format!("{base}/webhooks/{channel_id}"),
            Some(sha256) => {
                format!(
                    "{base}/webhooks/{channel_id}?{}={sha256}",
                    webhooks::VERSION_PARAM
                )
            }
        }
    }

    /// The call context for a channel's plugin: its secrets and the hosts it
    /// may reach (the channel's override, else the manifest's).
    fn call_context(
        &self,
        plugin: &crate::plugins::LoadedPlugin,
        channel: &crate::store::Channel,
    ) -> crate::plugins::CallContext {
        crate::plugins::CallContext {
            plugin: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
            channel_id: Some(channel.id),
            secrets: channel.secrets.clone(),
            allowed_hosts: match &channel.allowed_hosts {
                Some(hosts) => Arc::new(hosts.clone()),
                None => plugin.allowed_hosts.clone(),
            },
            cpu_budget: self.registry.cpu_budget(plugin.name()),
        }
    }

    async fn complete_campaigns(&self, candidates: &[i64]) {
        match self.store.complete_finished_campaigns(candidates).await {
            Ok(done) => {
                for id in done {
                    tracing::info!(
                        campaign = id,
                        "campaign completed: every member reached a final state"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "checking campaign completion failed"),
        }
    }
}

/// Sending stops rather than going on without one of its parts: a task of
/// the send path that ends (a panic, a closed channel) while the engine is
/// not stopping ends the process, non-zero, for its supervisor to restart;
/// claims and sends under way are recovered by their leases.
async fn supervise(engine: Arc<Engine>, task: &'static str, handle: tokio::task::JoinHandle<()>) {
    let ended = handle.await;
    if engine.draining() {
        return;
    }
    match ended {
        Err(e) => {
            tracing::error!(task, error = %e, "engine task failed; exiting so a supervisor restarts Herald")
        }
        Ok(()) => tracing::error!(
            task,
            "engine task ended unexpectedly; exiting so a supervisor restarts Herald"
        ),
    }
    std::process::exit(70);
}

/// Lost leases (run out, or their instance stopped beating): claims go
/// back to the queue, sends whose call was under way become `unknown`
/// (never resent blindly); stale parked receipts are dropped. Every second
/// at most, so a dead instance's claims are sent by the others within
/// seconds of its heartbeat going stale.
/// Folds PostgreSQL's progress deltas into the campaigns' tallies (see
/// `store::tallies`); SQLite keeps its tallies up to date by itself.
async fn fold_tallies(engine: Arc<Engine>) {
    if engine.store.backend() != crate::store::Backend::Postgres {
        return;
    }
    loop {
        match engine.store.fold_tallies().await {
            Ok(n) if n > 0 => metrics::counter!("herald_tally_rows_folded_total").increment(n),
            Ok(_) => {}
            // Progress still adds up the deltas: only the reads get longer.
            Err(e) => tracing::warn!(error = %e, "folding progress deltas failed; retrying in 1 s"),
        }
        tokio::time::sleep(crate::store::TALLY_FOLD_EVERY).await;
    }
}

async fn sweep_leases(engine: Arc<Engine>) {
    let every =
        (engine.config.lease / 10).clamp(Duration::from_millis(200), Duration::from_secs(1));
    // Chores run at start too: statistics an earlier process left (or a
    // database analysed while it was small) are set right before the
    // first claim is planned with them.
    chores(&engine).await;
    let mut last_chores = std::time::Instant::now();
    loop {
        let lookup_after = engine.config.lookup_after.as_millis() as i64;
        match engine
            .store
            .expire_leases(&engine.config.instance_id, lookup_after)
            .await
        {
            Ok(touched) if !touched.is_empty() => {
                tracing::warn!(campaigns = ?touched, "sends cut off during the provider call by a stopped process marked unknown, never resent automatically (members with status=unknown)");
                engine.complete_campaigns(&touched).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "lease sweep failed"),
        }
        if last_chores.elapsed() >= CHORES_EVERY {
            last_chores = std::time::Instant::now();
            chores(&engine).await;
        }
        tokio::time::sleep(every).await;
    }
}

/// Housekeeping that need not run every second: parked receipts nobody
/// will claim, and SQLite's planner statistics (see `Store::optimize`).
async fn chores(engine: &Engine) {
    // A day is far beyond any send's lease: such receipts are not ours.
    match engine.store.prune_early_receipts(24 * 3600 * 1000).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            receipts = n,
            "dropped receipts for messages Herald never sent"
        ),
        Err(e) => tracing::error!(error = %e, "pruning parked receipts failed"),
    }
    if let Err(e) = engine.store.optimize().await {
        tracing::warn!(error = %e, "refreshing the query planner's statistics failed");
    }
}

/// How often `chores` run.
const CHORES_EVERY: Duration = Duration::from_secs(600);

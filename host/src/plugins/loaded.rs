//! One compiled plugin version, ready to instantiate, with its statistics.

use std::sync::Arc;
use std::time::Instant;

use super::SentQuery;
use super::call::{Call, Reply};
use super::channel_faults::ChannelFaults;
use super::host_imports::CallContext;
use super::runtime::{Placement, PluginFailure, Prepared, Runtime};
use super::send_batch::SendBatches;
use super::send_counters::SendCounters;
use super::stats::CallStats;
use super::webhook_batch::WebhookBatches;
use super::wire::WireSeen;
use super::wit;

pub struct LoadedPlugin {
    pub manifest: wit::PluginManifest,
    /// The manifest's allowed hosts, shared by the call contexts of every
    /// channel that keeps them (not copied per send).
    pub allowed_hosts: Arc<Vec<String>>,
    pub sha256: String,
    /// The provider world version it implements, e.g. `1.0.0`.
    pub world: String,
    /// Every call but `handle-webhook`: what quarantine and the heavy slot
    /// judge the version by.
    pub stats: CallStats,
    /// The same calls counted per channel: whether a fault lies with the
    /// version or with one channel's use of it.
    pub channel_faults: ChannelFaults,
    /// `handle-webhook` calls, apart: anyone can post a webhook, so its
    /// faults must not quarantine the plugin or slow its sends (they are
    /// judged per channel instead, see `engine::webhook_guard`).
    pub webhook_stats: CallStats,
    /// Its webhooks waiting for a call per channel (1.4 plugins only).
    pub(super) webhook_batches: WebhookBatches,
    /// Its messages waiting for a call per channel (1.5 plugins only).
    pub(super) send_batches: SendBatches,
    /// Its sends counted by kind and outcome (`herald_sends_total`).
    pub(super) send_counters: SendCounters,
    pub(super) pre: Prepared,
    pub(super) runtime: Arc<Runtime>,
}

/// Calls in the last minute after which a version whose calls fault at
/// least half the time runs its calls on the heavy slot only.
const SUSPECT_AFTER_CALLS: u64 = 20;

/// A version's record over the last minute, which sizes its share of the
/// send slots (see `engine::send_slots`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Fewer calls than it takes to judge: a small share until it has
    /// made them.
    Unproven,
    /// At least half of its calls faulted: they run on the heavy slot.
    Suspect,
    Sound,
}

/// Unwraps the reply variant that matches the call made.
macro_rules! expect_reply {
    ($reply:expr, $variant:ident) => {
        match $reply {
            Reply::$variant(r) => r,
            _ => unreachable!("reply matches call"),
        }
    };
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// Whether the manifest's allowed hosts already cover an allowed-hosts
    /// entry (a name, or a `*.` pattern under one of the manifest's).
    pub fn manifest_covers_host(&self, entry: &str) -> bool {
        let name = entry.strip_prefix("*.").unwrap_or(entry);
        self.manifest.allowed_hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(entry)
                || crate::egress::host_pattern_matches(allowed, name)
        })
    }

    /// The plugin exports `lookup` (herald:provider 1.1): it can find the
    /// messages of uncertain sends.
    pub fn can_look_up(&self) -> bool {
        self.pre.lookup.is_some()
    }

    /// The plugin exports `webhooks` (herald:provider 1.4): a busy
    /// channel's webhooks share one call.
    pub fn batches_webhooks(&self) -> bool {
        self.pre.batches_webhooks()
    }

    /// What this version's calls of the last minute say of it (one read of
    /// its window).
    pub fn record(&self) -> Record {
        let (calls, faults) = self.stats.last_minute();
        if calls < SUSPECT_AFTER_CALLS {
            Record::Unproven
        } else if super::stats::half_faulting(calls, faults) {
            Record::Suspect
        } else {
            Record::Sound
        }
    }

    /// This version's calls faulted at least half the time lately: they run
    /// on the heavy slot only, and its sends get a small share of the slots.
    pub fn suspect(&self) -> bool {
        self.record() == Record::Suspect
    }

    /// A call for `channel` that returned normally but gave an unusable
    /// answer (an oversized message id): a fault after all, for the
    /// version and for the channel.
    pub fn reclassify_as_fault(&self, channel: i64) {
        self.stats.reclassify_as_fault();
        self.channel_faults.reclassify_as_fault(channel);
    }

    /// Where its calls run, by its record.
    pub(super) fn placement(&self) -> Placement {
        match self.record() {
            Record::Sound => Placement::Worker,
            Record::Unproven => Placement::Lane,
            Record::Suspect => Placement::Heavy,
        }
    }

    /// One call, counted in the version's statistics.
    async fn call(&self, ctx: CallContext, call: Call) -> Result<Reply, PluginFailure> {
        self.call_watched(ctx, call).await.0
    }

    async fn call_watched(
        &self,
        ctx: CallContext,
        call: Call,
    ) -> (Result<Reply, PluginFailure>, WireSeen) {
        let started = Instant::now();
        let export = call.export();
        let placement = self.placement();
        let channel = ctx.channel_id;
        let (result, wire) = self
            .runtime
            .invoke_watched(&self.pre, ctx, call, placement)
            .await;
        self.stats.record(started.elapsed(), result.is_err());
        if let Some(channel) = channel {
            self.channel_faults
                .record(channel, started.elapsed(), result.is_err());
        }
        metrics::histogram!("herald_plugin_call_seconds", "export" => export)
            .record(started.elapsed());
        (result, wire)
    }

    pub async fn validate_config(
        &self,
        ctx: CallContext,
        config: wit::Config,
    ) -> Result<Result<(), String>, PluginFailure> {
        Ok(expect_reply!(
            self.call(ctx, Call::ValidateConfig(config)).await?,
            ValidateConfig
        ))
    }

    /// Counts one of its sends of `kind` that ended in `outcome`
    /// (`herald_sends_total`).
    pub fn count_send(&self, kind: &'static str, outcome: &'static str) {
        self.send_counters
            .get(self.name(), self.version(), kind, outcome)
            .increment(1);
    }

    /// Sends one message; also says whether, when it failed, the provider
    /// may have taken it anyway (see `wire`).
    pub async fn send(
        &self,
        ctx: CallContext,
        config: wit::Config,
        message: wit::OutboundMessage,
    ) -> (
        Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure>,
        WireSeen,
    ) {
        let (reply, wire) = self.call_watched(ctx, Call::Send(config, message)).await;
        (reply.map(|r| expect_reply!(r, Send)), wire)
    }

    /// Finds the message of an uncertain send (only if [`Self::can_look_up`]).
    pub async fn find_sent(
        &self,
        ctx: CallContext,
        config: wit::Config,
        query: SentQuery,
    ) -> Result<Result<Option<wit::DeliveryUpdate>, wit::SendError>, PluginFailure> {
        let call = Call::FindSent(config, query);
        Ok(expect_reply!(self.call(ctx, call).await?, FindSent))
    }

    /// Verifies and parses a webhook, counted in [`Self::webhook_stats`];
    /// `heavy`: on the heavy slot from its first instruction (its channel's
    /// webhooks keep faulting).
    pub async fn handle_webhook(
        &self,
        ctx: CallContext,
        config: wit::Config,
        request: wit::WebhookRequest,
        heavy: bool,
    ) -> Result<Result<wit::WebhookOutcome, wit::WebhookError>, PluginFailure> {
        let started = Instant::now();
        let call = Call::Webhook(config, request);
        // Not on the lane while unproven: a version's record is its sends',
        // and an inbound-only channel's webhooks would then all queue on
        // one thread; a channel whose webhooks fault is strained instead.
        let placement = if heavy || self.suspect() {
            Placement::Heavy
        } else {
            Placement::Worker
        };
        let (result, _) = self
            .runtime
            .invoke_watched(&self.pre, ctx, call, placement)
            .await;
        self.webhook_stats
            .record(started.elapsed(), result.is_err());
        metrics::histogram!("herald_plugin_call_seconds", "export" => "handle-webhook")
            .record(started.elapsed());
        Ok(expect_reply!(result?, Webhook))
    }

    /// One batch of webhooks (see `webhook_batch`): an answer per request,
    /// or `None` when the call failed as a whole or answered a list of the
    /// wrong length.
    pub(crate) async fn handle_webhooks(
        &self,
        ctx: CallContext,
        config: wit::Config,
        requests: Arc<Vec<wit::WebhookRequest>>,
    ) -> Option<Vec<Result<wit::WebhookOutcome, wit::WebhookError>>> {
        let started = Instant::now();
        let count = requests.len();
        let call = Call::Webhooks(config, requests);
        let (result, _) = self
            .runtime
            .invoke_watched(&self.pre, ctx, call, Placement::Worker)
            .await;
        metrics::histogram!("herald_plugin_call_seconds", "export" => "handle-webhooks")
            .record(started.elapsed());
        match result {
            Ok(Reply::Webhooks(replies)) if replies.len() == count => Some(replies),
            Ok(Reply::Webhooks(replies)) => {
                tracing::warn!(
                    plugin = self.name(),
                    requests = count,
                    answers = replies.len(),
                    "handle-webhooks answered a list of the wrong length; each webhook is handled alone"
                );
                None
            }
            Ok(_) => unreachable!("reply matches call"),
            Err(failure) => {
                // Each webhook is then handled alone, and the one at fault
                // is counted and logged there.
                tracing::debug!(plugin = self.name(), requests = count, error = %failure,
                    "handle-webhooks failed; each webhook is handled alone");
                None
            }
        }
    }

    pub async fn fetch_status(
        &self,
        ctx: CallContext,
        config: wit::Config,
        provider_message_id: String,
    ) -> Result<Result<Option<wit::DeliveryUpdate>, wit::SendError>, PluginFailure> {
        let call = Call::FetchStatus(config, provider_message_id);
        Ok(expect_reply!(self.call(ctx, call).await?, FetchStatus))
    }

    pub async fn list_templates(
        &self,
        ctx: CallContext,
        config: wit::Config,
    ) -> Result<Result<Vec<wit::TemplateInfo>, wit::SendError>, PluginFailure> {
        Ok(expect_reply!(
            self.call(ctx, Call::ListTemplates(config)).await?,
            ListTemplates
        ))
    }
}

//! What a webhook may cost before its channel's plugin sees it. Anyone can
//! post to `/webhooks/{channel}`, so:
//! - a fault of the plugin there never counts toward the plugin's
//!   quarantine (which stops every tenant's campaigns) nor makes its sends
//!   suspect: a forged request that traps the guest would otherwise let a
//!   stranger stop them (`LoadedPlugin::webhook_stats` keeps them apart).
//!   Faults are judged per channel instead: a channel whose webhooks fault
//!   at least half the time over a minute (at least [`STRAIN_AFTER_CALLS`])
//!   is *strained* until [`STRAIN`] after its last fault: its webhook calls
//!   take turns one at a time, on the heavy CPU slot from their first
//!   instruction, and one that cannot get its turn within [`TURN_WAIT`] is
//!   answered 503 with `Retry-After` (providers retry). The plugin stays
//!   active, campaigns keep sending, other channels are untouched.
//! - a body reaches the guest only up to what the provider's format needs
//!   ([`body_limit`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::plugins::{CallStats, LoadedPlugin, wit};
use crate::store::Id;

/// Calls in the last minute after which a channel whose webhooks fault at
/// least half the time is strained (the plugin-wide quarantine's default).
const STRAIN_AFTER_CALLS: u64 = 20;
/// How long a strain lasts after the channel's last fault.
const STRAIN: Duration = Duration::from_secs(30);
/// How long a webhook of a strained channel waits for its turn.
const TURN_WAIT: Duration = Duration::from_secs(2);
/// How often channels without recent webhooks are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Meta documents WhatsApp Cloud API webhook payloads of up to 3 MB (it
/// batches up to 1,000 updates in one notification).
const META_WEBHOOK_BYTES: usize = 3 << 20;

/// The largest webhook body handed to `plugin`: `default`, or Meta's
/// documented maximum for a plugin that serves WhatsApp.
pub(super) fn body_limit(plugin: Option<&LoadedPlugin>, default: usize) -> usize {
    let whatsapp = plugin.is_some_and(|p| {
        p.manifest
            .channels
            .iter()
            .any(|c| matches!(c, wit::ChannelKind::Whatsapp))
    });
    if whatsapp {
        default.max(META_WEBHOOK_BYTES)
    } else {
        default
    }
}

/// One channel's webhooks.
struct ChannelWebhooks {
    stats: CallStats,
    strained_until: Mutex<Option<Instant>>,
    /// The one turn of a strained channel.
    turn: Arc<Semaphore>,
}

impl ChannelWebhooks {
    /// How long the strain still lasts, if the channel is strained.
    fn strained_for(&self) -> Option<Duration> {
        let until = (*self.strained_until.lock().expect("strain lock"))?;
        until.checked_duration_since(Instant::now())
    }
}

#[derive(Default)]
struct Tracked {
    channels: HashMap<Id, Arc<ChannelWebhooks>>,
    pruned_at: Option<Instant>,
}

#[derive(Default)]
pub(super) struct WebhookGuard {
    tracked: Mutex<Tracked>,
}

/// Leave for a webhook's plugin calls; held until they are done.
pub(super) struct Pass {
    channel_id: Id,
    channel: Arc<ChannelWebhooks>,
    turn: Option<OwnedSemaphorePermit>,
}

impl WebhookGuard {
    /// Leave for one webhook of `channel`, or, when the channel is strained
    /// and its turn did not come, how long the strain still lasts.
    pub(super) async fn admit(&self, channel: Id) -> Result<Pass, Duration> {
        let entry = self.entry(channel);
        let Some(remaining) = entry.strained_for() else {
            return Ok(Pass {
                channel_id: channel,
                channel: entry,
                turn: None,
            });
        };
        match tokio::time::timeout(TURN_WAIT, entry.turn.clone().acquire_owned()).await {
            Ok(permit) => Ok(Pass {
                channel_id: channel,
                turn: Some(permit.expect("the turn is never closed")),
                channel: entry,
            }),
            Err(_) => {
                metrics::counter!("herald_webhooks_total", "result" => "channel_strained")
                    .increment(1);
                Err(remaining)
            }
        }
    }

    fn entry(&self, channel: Id) -> Arc<ChannelWebhooks> {
        let mut tracked = self.tracked.lock().expect("webhook guard lock");
        let now = Instant::now();
        if tracked
            .pruned_at
            .is_none_or(|at| now.duration_since(at) >= PRUNE_EVERY)
        {
            // Channels with no webhook in the last minute and no strain
            // start afresh next time: the map holds only busy channels.
            tracked
                .channels
                .retain(|_, c| c.strained_for().is_some() || c.stats.last_minute().0 > 0);
            tracked.pruned_at = Some(now);
        }
        tracked
            .channels
            .entry(channel)
            .or_insert_with(|| {
                Arc::new(ChannelWebhooks {
                    stats: CallStats::default(),
                    strained_until: Mutex::default(),
                    turn: Arc::new(Semaphore::new(1)),
                })
            })
            .clone()
    }
}

impl Pass {
    /// The channel is strained: its calls run on the heavy slot.
    pub(super) fn heavy(&self) -> bool {
        self.turn.is_some()
    }

    /// Counts a call that returned (verified, refused or not).
    pub(super) fn returned(&self, elapsed: Duration) {
        self.channel.stats.record(elapsed, false);
    }

    /// Counts a call that faulted; strains the channel when its webhooks
    /// fault at least half the time. Answers whether it is strained (its
    /// faults are then counted, not logged one by one).
    pub(super) fn faulted(&self, plugin: &str, elapsed: Duration, failure: &str) -> bool {
        self.channel.stats.record(elapsed, true);
        metrics::counter!("herald_webhook_faults_total", "plugin" => plugin.to_owned())
            .increment(1);
        let Some((calls, faults)) = self.channel.stats.faulty_window(STRAIN_AFTER_CALLS) else {
            return self.channel.strained_for().is_some();
        };
        let now = Instant::now();
        let newly = {
            let mut until = self.channel.strained_until.lock().expect("strain lock");
            let newly = until.is_none_or(|u| u <= now);
            *until = Some(now + STRAIN);
            newly
        };
        if newly {
            metrics::counter!("herald_webhook_strains_total", "plugin" => plugin.to_owned())
                .increment(1);
            tracing::error!(
                channel = self.channel_id,
                plugin,
                calls,
                faults,
                last = failure,
                strain_secs = STRAIN.as_secs(),
                "webhooks of this channel fault heavily: they run one at a time on the \
                 heavy slot until strain_secs after the last fault (the plugin stays \
                 active, campaigns keep sending). Forged requests are barred by source; \
                 if the provider's own callbacks fault, the plugin has a bug"
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_whose_webhooks_mostly_fault_is_strained_alone() {
        let guard = WebhookGuard::default();
        for i in 0..STRAIN_AFTER_CALLS - 1 {
            let pass = guard.admit(1).await.expect("not strained yet");
            assert!(!pass.heavy());
            assert!(!pass.faulted("p", Duration::ZERO, "trap"), "call {i}");
        }
        let pass = guard.admit(1).await.expect("not strained yet");
        assert!(pass.faulted("p", Duration::ZERO, "trap"), "20 faults in 20");
        drop(pass);

        // Its webhooks now take turns; another channel's do not.
        let first = guard.admit(1).await.expect("the turn is free");
        assert!(first.heavy());
        assert!(!guard.admit(2).await.expect("other channel").heavy());
        let started = Instant::now();
        let Err(remaining) = guard.admit(1).await else {
            panic!("a second webhook waits for the turn, then is refused");
        };
        assert!(started.elapsed() >= TURN_WAIT);
        assert!(remaining <= STRAIN, "{remaining:?}");
        drop(first);
        assert!(guard.admit(1).await.is_ok(), "the turn is free again");
    }

    #[tokio::test]
    async fn faults_among_many_good_calls_strain_nothing() {
        let guard = WebhookGuard::default();
        for i in 0..200 {
            let pass = guard.admit(7).await.expect("never strained");
            if i % 3 == 0 {
                assert!(!pass.faulted("p", Duration::ZERO, "trap"));
            } else {
                pass.returned(Duration::ZERO);
            }
        }
    }
}

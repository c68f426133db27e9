//! A version's faults counted per channel as well as in all: a plugin
//! shared by many tenants (the bundled `twilio-sms`) may fault for one
//! channel only (its recipients, its content or its configuration lead the
//! guest into a trap or a spin). Quarantine stops every tenant's campaigns
//! on the plugin, so it is for a version that faults wherever it runs; a
//! version that faults for one channel while its other channels' calls are
//! sound stops that channel's campaigns only (see
//! `Registry::after_fault`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::stats::CallStats;

/// Channels whose window holds no calls are forgotten once the map grows
/// past this many.
const PRUNE_PAST: usize = 64;

#[derive(Default)]
pub struct ChannelFaults {
    channels: Mutex<HashMap<i64, Arc<CallStats>>>,
}

/// What a fault says about a version's channels.
#[derive(Debug, PartialEq, Eq)]
pub enum Spread {
    /// The channel's own calls are not (yet) faulting half the time.
    ChannelSound,
    /// The channel's calls fault at least half the time, and so do those
    /// of every other channel that called the version lately (or there is
    /// none): the version is at fault.
    Everywhere,
    /// The channel's calls fault at least half the time while another
    /// channel's calls through the same version are sound: (calls,
    /// faults) of this channel.
    ThisChannel(u64, u64),
}

impl ChannelFaults {
    fn of(&self, channel: i64) -> Arc<CallStats> {
        let mut channels = self.channels.lock().expect("channel faults lock");
        if !channels.contains_key(&channel) && channels.len() >= PRUNE_PAST {
            channels.retain(|_, s| s.last_minute().0 > 0);
        }
        channels.entry(channel).or_default().clone()
    }

    pub fn record(&self, channel: i64, elapsed: Duration, fault: bool) {
        self.of(channel).record(elapsed, fault);
    }

    /// A call of `channel` worth `calls` calls (see `CallStats::record_many`).
    pub fn record_many(&self, channel: i64, elapsed: Duration, calls: u64, faults: u64) {
        self.of(channel).record_many(elapsed, calls, faults);
    }

    /// A call of `channel` that returned an unusable answer.
    pub fn reclassify_as_fault(&self, channel: i64) {
        self.of(channel).reclassify_as_fault();
    }

    /// Where the faults of `channel`'s calls lie, judged over windows of
    /// at least `min_calls` calls.
    pub fn spread(&self, channel: i64, min_calls: u64) -> Spread {
        let channels = self.channels.lock().expect("channel faults lock");
        let Some((calls, faults)) = channels
            .get(&channel)
            .and_then(|s| s.faulty_window(min_calls))
        else {
            return Spread::ChannelSound;
        };
        let another_sound = channels.iter().any(|(&other, stats)| {
            let (calls, faults) = stats.last_minute();
            other != channel && calls > 0 && !super::stats::half_faulting(calls, faults)
        });
        if another_sound {
            Spread::ThisChannel(calls, faults)
        } else {
            Spread::Everywhere
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_channel_alone_at_fault_is_told_apart_from_the_version() {
        let faults = ChannelFaults::default();
        for _ in 0..19 {
            faults.record(1, MS, true);
        }
        assert_eq!(
            faults.spread(1, 20),
            Spread::ChannelSound,
            "too few to judge"
        );
        faults.record(1, MS, true);
        assert_eq!(faults.spread(1, 20), Spread::Everywhere, "no other channel");
        faults.record(2, MS, false);
        assert_eq!(faults.spread(1, 20), Spread::ThisChannel(20, 20));
        assert_eq!(faults.spread(2, 20), Spread::ChannelSound);
        for _ in 0..2 {
            faults.record(2, MS, true);
        }
        assert_eq!(
            faults.spread(1, 20),
            Spread::Everywhere,
            "the other channel faults too"
        );
    }

    #[test]
    fn an_unusable_answer_counts_for_its_channel() {
        let faults = ChannelFaults::default();
        faults.record(2, MS, false);
        for _ in 0..20 {
            faults.record(1, MS, false);
            faults.reclassify_as_fault(1);
        }
        assert_eq!(faults.spread(1, 20), Spread::ThisChannel(20, 20));
    }
}

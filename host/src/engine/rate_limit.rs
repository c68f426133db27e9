//! Per-sender rate limits: how many messages per second one channel's sender
//! may send, shared by every campaign sending through it, applied right
//! before the plugin call.
//!
//! Each sender keeps a schedule of evenly spaced slots (1/rate apart, as
//! carriers meter them; GCRA's "theoretical arrival time"): a send takes
//! the next free slot and sleeps until it, so any number of sends wait at
//! once, each for its own slot, in claim order. (Asking a limiter one send
//! at a time, as before, woke one waiter per tick and capped a sender far
//! below its rate: at 10,000/s two sends were ever in flight.) When the
//! provider answers "rate limited, retry after N", the whole sender pauses
//! for N, not only the member that got the answer: the next sends would be
//! refused too. Several Herald processes on one database split each
//! sender's rate equally between them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::credits::ChannelKind;
use crate::store::Id;

/// Messages per second for a channel that does not set its own rate, by
/// kind: providers' usual account-level limits (Twilio and Infobip SMS 100,
/// Meta's WhatsApp Cloud API 80, email APIs 100). Voice has none here: a
/// voice campaign's `max_concurrent` bounds its calls.
pub fn default_rate(kind: ChannelKind) -> Option<u32> {
    match kind {
        ChannelKind::Sms | ChannelKind::Mms => Some(100),
        ChannelKind::Whatsapp => Some(80),
        ChannelKind::Email => Some(100),
        ChannelKind::Voice => None,
    }
}

/// A channel's sender: sends through different channels never share a limit.
pub type SenderKey = (Id, String);

struct Sender {
    rate: u32,
    interval: Duration,
    /// The next free slot: a send takes the later of it and now, and moves
    /// it one interval on.
    next_slot: Mutex<Option<Instant>>,
    /// The provider asked us to stop until then.
    blocked_until: Mutex<Option<Instant>>,
    /// Slots promised to members handed back to the queue run up to here:
    /// each refusal books the next one, so a backlog comes back due at the
    /// sender's pace instead of all at once (and is not claimed and handed
    /// back over and over).
    booked_until: Mutex<Option<Instant>>,
}

impl Sender {
    fn new(rate: u32) -> Self {
        Self {
            rate,
            interval: Duration::from_secs(1) / rate.max(1),
            next_slot: Mutex::new(None),
            blocked_until: Mutex::new(None),
            booked_until: Mutex::new(None),
        }
    }

    fn blocked_until(&self) -> Option<Instant> {
        let until = *self.blocked_until.lock().expect("rate lock");
        until.filter(|t| *t > Instant::now())
    }

    /// Takes the next free slot if it comes within `max_wait`; else books
    /// one for a member handed back and says how far ahead it is.
    fn take_slot(&self, max_wait: Duration) -> Result<Instant, Duration> {
        let now = Instant::now();
        let earliest = self.blocked_until().unwrap_or(now);
        let mut next = self.next_slot.lock().expect("rate lock");
        let slot = next.map_or(earliest, |n| n.max(earliest));
        let expected = slot - now;
        if expected > max_wait {
            let mut booked = self.booked_until.lock().expect("rate lock");
            let promised = booked.map_or(now + expected, |b| b.max(now + expected));
            *booked = Some(promised + self.interval);
            return Err(promised - now);
        }
        *next = Some(slot + self.interval);
        Ok(slot)
    }
}

/// This instance's share of a sender's `rate` when `instances` Herald
/// processes send through it: an equal part, rounded down so together they
/// stay within the rate, and never nothing (a rate below the number of
/// instances is then exceeded by at most one message per second each).
pub fn share_of(rate: u32, instances: u32) -> u32 {
    (rate / instances.max(1)).max(1)
}

pub struct RateLimits {
    senders: Mutex<HashMap<SenderKey, Arc<Sender>>>,
    /// Herald processes sharing the database (see `engine::instances`).
    instances: AtomicU32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            senders: Mutex::default(),
            instances: AtomicU32::new(1),
        }
    }
}

impl RateLimits {
    /// How many instances share every sender from now on; true if that
    /// changed.
    pub fn set_instances(&self, n: u32) -> bool {
        self.instances.swap(n.max(1), Ordering::Relaxed) != n.max(1)
    }

    fn sender(&self, key: &SenderKey, rate: u32) -> Arc<Sender> {
        let mut senders = self.senders.lock().expect("rate lock");
        match senders.get(key) {
            Some(s) if s.rate == rate => s.clone(),
            // New, or its rate was edited: sends already waiting finish on
            // the old limiter, new ones use the new rate.
            _ => {
                let s = Arc::new(Sender::new(rate));
                senders.insert(key.clone(), s.clone());
                s
            }
        }
    }

    /// Waits for the sender's next free slot. Refuses (with the time until
    /// a slot booked for it) when the queue ahead is longer than `max_wait`:
    /// the caller then hands the member back to the database, due then,
    /// rather than hold its lease.
    pub async fn wait_turn(
        &self,
        key: &SenderKey,
        rate: Option<u32>,
        max_wait: Duration,
    ) -> Result<(), Duration> {
        let Some(rate) = rate else { return Ok(()) };
        let rate = share_of(rate, self.instances.load(Ordering::Relaxed));
        let sender = self.sender(key, rate);
        loop {
            let slot = sender.take_slot(max_wait)?;
            tokio::time::sleep_until(slot).await;
            // A "retry after" that arrived while this send waited for its
            // slot applies to it too: it takes a slot after the pause.
            if sender.blocked_until().is_none() {
                return Ok(());
            }
        }
    }

    /// The provider said the sender is over its limit: nothing more leaves
    /// through it for `retry_after`.
    pub fn back_off(&self, key: &SenderKey, retry_after: Duration) {
        let senders = self.senders.lock().expect("rate lock");
        if let Some(sender) = senders.get(key) {
            let until = Instant::now() + retry_after;
            let mut blocked = sender.blocked_until.lock().expect("rate lock");
            if blocked.is_none_or(|t| t < until) {
                *blocked = Some(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SenderKey {
        (1, "+15005550006".into())
    }

    proptest::proptest! {
        // Together the instances never exceed the sender's rate (unless it
        // is below their number), and each gets at least one per second.
        #[test]
        fn shares_add_up_to_at_most_the_rate(rate in 1u32..20_000, instances in 1u32..64) {
            let share = share_of(rate, instances);
            proptest::prop_assert!(share >= 1);
            if rate >= instances {
                proptest::prop_assert!(share * instances <= rate);
                // Rounding loses less than one message per instance.
                proptest::prop_assert!(rate - share * instances < instances);
            }
        }
    }

    #[tokio::test]
    async fn a_second_instance_halves_each_share() {
        let limits = RateLimits::default();
        assert!(limits.set_instances(2));
        assert!(!limits.set_instances(2));
        let start = std::time::Instant::now();
        // 20/s on one sender shared by two instances: 10/s here.
        for _ in 0..4 {
            limits
                .wait_turn(&key(), Some(20), Duration::from_secs(10))
                .await
                .unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(290));
    }

    #[tokio::test]
    async fn sends_are_spaced_by_the_rate() {
        let limits = RateLimits::default();
        let start = std::time::Instant::now();
        for _ in 0..6 {
            limits
                .wait_turn(&key(), Some(20), Duration::from_secs(10))
                .await
                .unwrap();
        }
        // Five gaps of 50 ms after the first, immediate, send.
        assert!(
            start.elapsed() >= Duration::from_millis(240),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn no_rate_means_no_wait() {
        let limits = RateLimits::default();
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            limits
                .wait_turn(&key(), None, Duration::ZERO)
                .await
                .unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_queue_longer_than_allowed_is_refused() {
        let limits = Arc::new(RateLimits::default());
        // Occupy the slot, then queue a waiter so one send is ahead.
        limits
            .wait_turn(&key(), Some(1), Duration::from_secs(5))
            .await
            .unwrap();
        let l = limits.clone();
        let queued =
            tokio::spawn(async move { l.wait_turn(&key(), Some(1), Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = limits
            .wait_turn(&key(), Some(1), Duration::from_millis(500))
            .await;
        // Its slot would come after the queued one's, ~2 s after the first.
        let wait = refused.unwrap_err();
        assert!(
            wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        // The next refusal books the slot after that one.
        let refused = limits
            .wait_turn(&key(), Some(1), Duration::from_millis(500))
            .await;
        let wait = refused.unwrap_err();
        assert!(
            wait > Duration::from_millis(2900) && wait <= Duration::from_secs(3),
            "{wait:?}"
        );
        queued.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn retry_after_blocks_the_whole_sender() {
        let limits = RateLimits::default();
        limits
            .wait_turn(&key(), Some(1000), Duration::from_secs(5))
            .await
            .unwrap();
        limits.back_off(&key(), Duration::from_millis(300));
        let start = std::time::Instant::now();
        limits
            .wait_turn(&key(), Some(1000), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );
        // Another sender is not affected.
        let other = (2, "+15005550006".to_owned());
        let start = std::time::Instant::now();
        limits
            .wait_turn(&other, Some(1000), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}

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
//! sender's rate: on PostgreSQL they take runs of slots from one schedule
//! in the database (`store::sender_slots`), so together they keep to it
//! whatever their number; elsewhere each keeps an equal share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::credits::ChannelKind;
use crate::store::{Id, SlotRun, Store};

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
    /// The earliest moment the next send may actually leave (see `Turn`).
    next_release: Mutex<Option<Instant>>,
    /// Slots taken from the shared schedule and not yet handed out.
    run: tokio::sync::Mutex<Run>,
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
            next_release: Mutex::new(None),
            run: tokio::sync::Mutex::new(Run {
                next_us: 0,
                left: 0,
            }),
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
            return Err(self.book(expected));
        }
        *next = Some(slot + self.interval);
        Ok(slot)
    }

    /// Books a slot `expected` from now for a member handed back, after the
    /// ones booked before it, and says how far ahead it is.
    fn book(&self, expected: Duration) -> Duration {
        let now = Instant::now();
        let mut booked = self.booked_until.lock().expect("rate lock");
        let promised = booked.map_or(now + expected, |b| b.max(now + expected));
        *booked = Some(promised + self.interval);
        promised - now
    }

    /// As `take_slot`, from runs of the schedule every instance shares.
    async fn take_shared_slot(
        &self,
        store: &Store,
        key: &SenderKey,
        max_wait: Duration,
    ) -> Result<Instant, Duration> {
        let interval_us = self.interval.as_micros() as i64;
        let mut run = self.run.lock().await;
        loop {
            let now_us = wall_us();
            // A slot this far behind is gone: sent now, it would leave
            // together with the slots other instances hold now, and the
            // provider counts arrivals. (A run fetched on a busy machine
            // can come back partly stale.)
            while run.left > 0 && run.next_us < now_us - STALE_SLOT_US {
                run.next_us += interval_us;
                run.left -= 1;
            }
            if run.left > 0 {
                break;
            }
            let size = run_size(self.rate);
            let run_us = interval_us * i64::from(size);
            let horizon_us = max_wait.as_micros() as i64;
            match store
                .take_sender_slots(key.0, &key.1, now_us, run_us, horizon_us)
                .await
            {
                Ok(SlotRun::Taken { start_us }) => {
                    *run = Run {
                        next_us: start_us,
                        left: size,
                    };
                }
                Ok(SlotRun::Booked { free_at_us }) => {
                    let ahead = (free_at_us - wall_us()).max(0) as u64;
                    return Err(self.book(Duration::from_micros(ahead)));
                }
                Err(e) => {
                    // Sending on a private schedule would exceed the rate
                    // N times over; the member waits for the database.
                    tracing::warn!(error = %e, sender = key.1, "taking send slots failed; member queued again");
                    return Err(self.book(Duration::from_secs(1)));
                }
            }
        }
        let ahead = Duration::from_micros((run.next_us - wall_us()).max(0) as u64);
        let now = Instant::now();
        let slot = (now + ahead).max(self.blocked_until().unwrap_or(now));
        if slot - now > max_wait {
            return Err(self.book(slot - now));
        }
        run.next_us += interval_us;
        run.left -= 1;
        Ok(slot)
    }
}

/// A run of slots taken from the shared schedule: the next at `next_us`
/// (wall-clock µs), then one every interval.
struct Run {
    next_us: i64,
    left: u32,
}

/// How late a shared slot may still be used (see `take_shared_slot`): at
/// most 2% of a second's sends can cross into the next second this way.
const STALE_SLOT_US: i64 = 20_000;

/// How long after its slot a held-up send may still leave (see `Turn`):
/// longer than a slot may wait to be handed out, since retaking one wastes
/// the first; at most a tenth of a second's sends can cross into the next.
const LATE_RELEASE: Duration = Duration::from_millis(100);

fn wall_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Slots taken per statement: 20 ms of the rate (one at 50/s and below).
/// Longer runs cost fewer statements; a killed instance loses the rest of
/// its run, and an instance that stops sending leaves it unused.
fn run_size(rate: u32) -> u32 {
    (rate / 50).max(1)
}

/// This instance's share of a sender's `rate` when `instances` Herald
/// processes send through it: an equal part, rounded down so together they
/// stay within the rate, and never nothing (a rate below the number of
/// instances is then exceeded by at most one message per second each).
pub fn share_of(rate: u32, instances: u32) -> u32 {
    (rate / instances.max(1)).max(1)
}

/// A send whose slot is about to come. Between the slot wait and the
/// plugin call the send still writes to the database (its start, its
/// credits). Done after the slot, a stall there (a slow commit, a busy
/// machine) would let sends whose slots were spaced leave together, and the
/// provider counts arrivals. So `wait_turn` answers `LEAD` before the slot,
/// the writes happen in that time, and `release` waits out the rest, one
/// interval after the previous release at least. Where instances share the
/// schedule, a send held up well past its slot takes a new one: late, it
/// would leave together with the sends other instances make on time.
pub struct Turn<'a> {
    sender: Option<Arc<Sender>>,
    slot: Instant,
    shared: Option<(&'a Store, &'a SenderKey)>,
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("limited", &self.sender.is_some())
            .field("slot", &self.slot)
            .finish()
    }
}

impl Turn<'_> {
    /// Waits until the send may leave.
    pub async fn release(self) {
        let Some(sender) = self.sender else { return };
        let mut slot = self.slot;
        if let Some((store, key)) = self.shared
            && Instant::now() > slot + LATE_RELEASE
        {
            metrics::counter!("herald_send_slots_retaken_total").increment(1);
            // No horizon: this member is already on its way out.
            if let Ok(again) = sender
                .take_shared_slot(store, key, Duration::from_secs(3600))
                .await
            {
                slot = again;
            }
        }
        // A "retry after" that came since.
        let slot = slot.max(sender.blocked_until().unwrap_or(slot));
        let at = {
            let mut next = sender.next_release.lock().expect("rate lock");
            let at = next.map_or(slot, |n| n.max(slot)).max(Instant::now());
            *next = Some(at + sender.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// How long before its slot a send starts its last database writes.
const LEAD: Duration = Duration::from_millis(50);

pub struct RateLimits {
    senders: Mutex<HashMap<SenderKey, Arc<Sender>>>,
    /// Herald processes sharing the database (see `engine::instances`).
    instances: AtomicU32,
    /// Where the shared schedule lives (PostgreSQL); `None`: each instance
    /// keeps its share.
    shared: Option<Store>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            senders: Mutex::default(),
            instances: AtomicU32::new(1),
            shared: None,
        }
    }
}

impl RateLimits {
    /// Limits whose slots every instance on `store` takes from one
    /// schedule there.
    pub fn shared(store: Store) -> Self {
        Self {
            shared: Some(store),
            ..Self::default()
        }
    }

    /// True when instances share one schedule instead of splitting rates.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

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

    /// Waits until shortly before the sender's next free slot (the rest is
    /// `Turn::release`'s). Refuses (with the time until
    /// a slot booked for it) when the queue ahead is longer than `max_wait`:
    /// the caller then hands the member back to the database, due then,
    /// rather than hold its lease.
    pub async fn wait_turn<'a>(
        &'a self,
        key: &'a SenderKey,
        rate: Option<u32>,
        max_wait: Duration,
    ) -> Result<Turn<'a>, Duration> {
        let Some(rate) = rate else {
            return Ok(Turn {
                sender: None,
                slot: Instant::now(),
                shared: None,
            });
        };
        let rate = match self.shared {
            Some(_) => rate,
            None => share_of(rate, self.instances.load(Ordering::Relaxed)),
        };
        let sender = self.sender(key, rate);
        loop {
            let slot = match &self.shared {
                Some(store) => sender.take_shared_slot(store, key, max_wait).await?,
                None => sender.take_slot(max_wait)?,
            };
            tokio::time::sleep_until(slot.checked_sub(LEAD).unwrap_or(slot)).await;
            // A "retry after" that arrived while this send waited for its
            // slot applies to it too: it takes a slot after the pause.
            if sender.blocked_until().is_none() {
                return Ok(Turn {
                    sender: Some(sender),
                    slot,
                    shared: self.shared.as_ref().map(|store| (store, key)),
                });
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

    /// Waits for a turn and its release, as a send does.
    async fn go(limits: &RateLimits, key: &SenderKey, rate: Option<u32>, max_wait: Duration) {
        limits
            .wait_turn(key, rate, max_wait)
            .await
            .unwrap()
            .release()
            .await;
    }

    fn key() -> &'static SenderKey {
        static KEY: std::sync::LazyLock<SenderKey> =
            std::sync::LazyLock::new(|| (1, "+15005550006".into()));
        &KEY
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
            go(&limits, key(), Some(20), Duration::from_secs(10)).await;
        }
        assert!(start.elapsed() >= Duration::from_millis(290));
    }

    #[tokio::test]
    async fn sends_are_spaced_by_the_rate() {
        let limits = RateLimits::default();
        let start = std::time::Instant::now();
        for _ in 0..6 {
            go(&limits, key(), Some(20), Duration::from_secs(10)).await;
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
            go(&limits, key(), None, Duration::ZERO).await;
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_queue_longer_than_allowed_is_refused() {
        let limits = Arc::new(RateLimits::default());
        // Occupy the slot, then queue a waiter so one send is ahead.
        go(&limits, key(), Some(1), Duration::from_secs(5)).await;
        let l = limits.clone();
        let queued = tokio::spawn(async move {
            l.wait_turn(key(), Some(1), Duration::from_secs(5))
                .await
                .map(|_| ())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = limits
            .wait_turn(key(), Some(1), Duration::from_millis(500))
            .await;
        // Its slot would come after the queued one's, ~2 s after the first.
        let wait = refused.unwrap_err();
        assert!(
            wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        // The next refusal books the slot after that one.
        let refused = limits
            .wait_turn(key(), Some(1), Duration::from_millis(500))
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
        go(&limits, key(), Some(1000), Duration::from_secs(5)).await;
        limits.back_off(key(), Duration::from_millis(300));
        let start = std::time::Instant::now();
        go(&limits, key(), Some(1000), Duration::from_secs(5)).await;
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );
        // Another sender is not affected.
        let other = (2, "+15005550006".to_owned());
        let start = std::time::Instant::now();
        go(&limits, &other, Some(1000), Duration::from_secs(5)).await;
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn sends_held_up_after_their_slots_still_leave_spaced() {
        let limits = RateLimits::default();
        let mut turns = Vec::new();
        for _ in 0..3 {
            turns.push(
                limits
                    .wait_turn(key(), Some(20), Duration::from_secs(10))
                    .await
                    .unwrap(),
            );
        }
        // A stall (a slow commit) after all three slots came: released
        // together, they still leave 50 ms apart.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = std::time::Instant::now();
        let left: Vec<Duration> = futures::future::join_all(turns.into_iter().map(|t| async {
            t.release().await;
            start.elapsed()
        }))
        .await;
        assert!(left[0] < Duration::from_millis(30), "{left:?}");
        assert!(left[2] >= Duration::from_millis(95), "{left:?}");
    }
}

//! The CPU time one plugin call spends, as opposed to its wall time: a
//! call waiting for its provider's answer (an `http-send` in flight) or for
//! a worker thread costs nothing; a guest that computes does. Measured
//! across each poll of the call's future (wasmtime runs the guest on a
//! fiber inside the poll, so that is where its instructions execute), and
//! read by the epoch callback while the guest runs, so a spinning guest is
//! stopped within a tick of its budget.
//!
//! The thread's CPU clock is a system call (Linux has no vDSO for it), and
//! reading it twice a poll was 1.6% of Herald's CPU while a campaign sent.
//! A poll's wall time is at least its CPU time and costs a vDSO read, so a
//! call is timed by the wall clock until its polls add up to
//! [`PRECISE_AFTER`], and by the thread's CPU clock from its next poll on.
//! A bundled plugin's call (tens of microseconds) never reaches it; any
//! decision about a guest's CPU (the heavy slot's 2 ms, budgets of
//! milliseconds) is made on the precise clock, give or take those first
//! 0.5 ms counted at most as their wall time.
//!
//! Decisions are made by the epoch callback, in the middle of a poll, and
//! a poll's wall time includes any time its thread was descheduled: on a
//! loaded machine a first poll of a few microseconds of guest CPU read
//! 56-93 ms of wall time and the call was stopped as over its 50 ms budget
//! (the dispatch benchmark, 1,000,000 members on PostgreSQL). So the
//! callback first switches the poll under way to the precise clock
//! ([`CpuMeter::go_precise`]), counting what it ran before at most as
//! [`PRECISE_AFTER`].

use std::future::Future;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;

/// Polls of one call add up to this much wall time before its CPU is read
/// from the thread's CPU clock.
pub const PRECISE_AFTER: Duration = Duration::from_micros(500);

/// A poll this young when an epoch tick passes has not run its guest long
/// enough to judge (see [`CpuMeter::nothing_to_judge`]): a tenth of a
/// tick, far above the microseconds between a guest's resumption and its
/// first epoch check.
const JUST_RESUMED: Duration = Duration::from_micros(200);

#[derive(Default)]
pub struct CpuMeter {
    /// Nanoseconds of the polls that have finished: wall time while not
    /// `precise`, CPU time after.
    spent_ns: AtomicU64,
    /// The clock's reading (ns) when the current poll began; 0 between
    /// polls.
    poll_began_ns: AtomicU64,
    /// Polls are timed by the thread's CPU clock (set between polls only,
    /// so a poll reads one clock at both ends).
    precise: AtomicBool,
}

fn thread_cpu_ns() -> u64 {
    ThreadTime::now().as_duration().as_nanos() as u64
}

/// Monotonic nanoseconds since the first reading (never 0).
fn wall_ns() -> u64 {
    static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);
    BASE.elapsed().as_nanos() as u64 + 1
}

impl CpuMeter {
    fn clock(&self) -> u64 {
        if self.precise.load(Ordering::Relaxed) {
            thread_cpu_ns()
        } else {
            wall_ns()
        }
    }

    /// The poll under way began less than `within` ago, by the wall clock,
    /// and the meter is not yet precise: the guest cannot have computed
    /// for longer than that since it last waited. A wall-clock read (vDSO),
    /// so the epoch callback can answer a call that has just come back
    /// from its HTTP exchange without the thread's CPU clock.
    fn just_resumed(&self, within: Duration) -> bool {
        if self.precise.load(Ordering::Relaxed) {
            return false;
        }
        let began = self.poll_began_ns.load(Ordering::Relaxed);
        began != 0 && wall_ns().saturating_sub(began) < within.as_nanos() as u64
    }

    /// Nothing to judge at this tick: the guest has just resumed (see
    /// [`JUST_RESUMED`]) and has used at most `share` in all, by the wall
    /// clock's upper bound. Most calls that see a tick pass were waiting
    /// for their HTTP exchange while it passed; judging them switched them
    /// to the thread's CPU clock (a system call at each later poll) and
    /// made them yield, a task wake-up for nothing.
    pub fn nothing_to_judge(&self, share: Duration) -> bool {
        self.just_resumed(JUST_RESUMED) && self.used() <= share
    }

    /// CPU used so far, the current poll included (an upper bound until
    /// [`PRECISE_AFTER`]). Call it from the thread that polls (the epoch
    /// callback runs there).
    pub fn used(&self) -> Duration {
        let began = self.poll_began_ns.load(Ordering::Relaxed);
        let current = if began == 0 {
            0
        } else {
            self.clock().saturating_sub(began)
        };
        Duration::from_nanos(self.spent_ns.load(Ordering::Relaxed) + current)
    }

    /// Times the rest of the poll under way, and every later one, by the
    /// thread's CPU clock; the poll's wall time so far counts at most as
    /// [`PRECISE_AFTER`] (it may be mostly time the thread did not run).
    /// Call it from the thread that polls, before judging [`used`].
    ///
    /// [`used`]: CpuMeter::used
    pub fn go_precise(&self) {
        if self.precise.load(Ordering::Relaxed) {
            return;
        }
        let began = self.poll_began_ns.load(Ordering::Relaxed);
        if began != 0 {
            let so_far = wall_ns()
                .saturating_sub(began)
                .min(PRECISE_AFTER.as_nanos() as u64);
            self.spent_ns.fetch_add(so_far, Ordering::Relaxed);
            self.poll_began_ns
                .store(thread_cpu_ns().max(1), Ordering::Relaxed);
        }
        self.precise.store(true, Ordering::Relaxed);
    }

    /// Runs `call`, metering the CPU of each of its polls.
    pub async fn meter<F: Future>(self: &Arc<Self>, call: F) -> F::Output {
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| {
            self.poll_began_ns
                .store(self.clock().max(1), Ordering::Relaxed);
            let polled = call.as_mut().poll(cx);
            // Read again: `go_precise` may have moved it to the CPU clock.
            let began = self.poll_began_ns.load(Ordering::Relaxed);
            let spent = self.clock().saturating_sub(began);
            self.poll_began_ns.store(0, Ordering::Relaxed);
            let total = self.spent_ns.fetch_add(spent, Ordering::Relaxed) + spent;
            if total >= PRECISE_AFTER.as_nanos() as u64 {
                self.precise.store(true, Ordering::Relaxed);
            }
            polled
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_costs_nothing_and_computing_counts() {
        let meter = Arc::new(CpuMeter::default());
        meter
            .meter(tokio::time::sleep(Duration::from_millis(50)))
            .await;
        assert!(
            meter.used() < Duration::from_millis(10),
            "{:?}",
            meter.used()
        );
        meter
            .meter(async {
                let until = std::time::Instant::now() + Duration::from_millis(30);
                let mut x = 0u64;
                while std::time::Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
            .await;
        assert!(
            meter.used() >= Duration::from_millis(20),
            "{:?}",
            meter.used()
        );
    }

    fn spin(how_long: Duration) {
        let until = Instant::now() + how_long;
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[tokio::test]
    async fn past_the_first_half_millisecond_a_blocked_thread_costs_nothing() {
        let meter = Arc::new(CpuMeter::default());
        meter
            .meter(async {
                spin(Duration::from_millis(1));
                // The next poll is timed by the thread's CPU clock.
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(40));
            })
            .await;
        let used = meter.used();
        assert!(used >= Duration::from_millis(1), "{used:?}");
        assert!(used < Duration::from_millis(15), "{used:?}");
    }

    /// A first poll whose thread is descheduled (here: blocked) for longer
    /// than a budget is judged by the CPU it used, not by the wall time:
    /// the epoch callback calls `go_precise` before it reads `used`.
    #[tokio::test]
    async fn a_first_poll_descheduled_past_the_budget_is_not_charged_for_it() {
        let meter = Arc::new(CpuMeter::default());
        let inside = meter.clone();
        let judged = meter
            .meter(async move {
                std::thread::sleep(Duration::from_millis(80));
                let unjudged = inside.used();
                inside.go_precise();
                spin(Duration::from_millis(3));
                (unjudged, inside.used())
            })
            .await;
        let (unjudged, judged) = judged;
        // Without the switch the 80 ms would be charged.
        assert!(unjudged >= Duration::from_millis(80), "{unjudged:?}");
        assert!(judged >= Duration::from_millis(2), "{judged:?}");
        assert!(judged < Duration::from_millis(20), "{judged:?}");
        let total = meter.used();
        assert!(total < Duration::from_millis(20), "{total:?}");
    }

    /// The epoch callback's shortcut holds only for a poll that has just
    /// begun on the wall clock: not between polls, not once the guest has
    /// run longer or past its share, and not once the call is timed by its
    /// CPU clock.
    #[tokio::test]
    async fn only_a_young_poll_on_the_wall_clock_has_nothing_to_judge() {
        let within = Duration::from_secs(1);
        let meter = Arc::new(CpuMeter::default());
        assert!(!meter.just_resumed(within), "between polls");
        let inside = meter.clone();
        let (young, over_share, old) = meter
            .meter(async move {
                let young = inside.just_resumed(within);
                spin(Duration::from_micros(50));
                let over_share = inside.nothing_to_judge(Duration::from_micros(10));
                spin(Duration::from_millis(3));
                (
                    young,
                    over_share,
                    inside.just_resumed(Duration::from_millis(1)),
                )
            })
            .await;
        assert!(young, "a poll that has just begun");
        assert!(!over_share, "a call past its share is judged");
        assert!(!old, "a poll that has computed for 3 ms");
        let inside = meter.clone();
        let precise = meter
            .meter(async move {
                inside.go_precise();
                inside.just_resumed(within)
            })
            .await;
        assert!(!precise, "a call timed by its CPU clock");
        // Right as a poll begins there is nothing to judge (a busy test
        // machine may deschedule a poll past `JUST_RESUMED`: one of twenty
        // fresh calls must see it).
        let mut seen = false;
        for _ in 0..20 {
            let meter = Arc::new(CpuMeter::default());
            let inside = meter.clone();
            if meter
                .meter(async move { inside.nothing_to_judge(Duration::from_secs(1)) })
                .await
            {
                seen = true;
                break;
            }
        }
        assert!(seen, "no fresh poll had nothing to judge");
    }
}

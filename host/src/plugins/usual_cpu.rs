//! What a plugin version's calls usually cost in guest CPU, learned from
//! the calls that returned normally, so the heavy threshold fits the
//! plugin: a CPython call needs 2-3 ms on this machine and more on a busy
//! one, close enough to the fixed 5 ms threshold that a loaded machine put
//! its ordinary calls on the heavy slot, where they queued past the call
//! deadline (a send cut off before its request: retried, one attempt
//! spent). A Rust plugin's calls need tens of microseconds and keep the
//! fixed threshold.
//!
//! Only normal returns teach it: a spinning call ends at its budget as a
//! fault and never raises the threshold. A plugin that makes its ordinary
//! calls expensive on purpose moves its own threshold to at most a quarter
//! of its budget, where the budget still stops it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::cpu_gate;

/// How many times its usual CPU a call may use before it is heavy.
const HEADROOM: u32 = 4;
/// Each normal return moves the average this fraction of the way.
const WEIGHT: u64 = 16;

#[derive(Default)]
pub struct UsualCpu {
    /// Moving average of normal returns' CPU, in ns (0: none yet).
    average_ns: AtomicU64,
}

impl UsualCpu {
    /// A call that returned normally used `used`.
    pub fn observe(&self, used: Duration) {
        let sample = (used.as_nanos() as u64).max(1);
        let _ = self
            .average_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some(if avg == 0 {
                    sample
                } else {
                    let moved = (sample as i128 - avg as i128) / WEIGHT as i128;
                    (avg as i128 + moved).max(1) as u64
                })
            });
    }

    pub fn usual(&self) -> Duration {
        Duration::from_nanos(self.average_ns.load(Ordering::Relaxed))
    }

    /// Guest CPU after which a call of this version under `budget` is
    /// heavy: the fixed threshold ([`cpu_gate::light_for`]), or
    /// [`HEADROOM`] times the usual call, up to a quarter of the budget.
    pub fn heavy_after(&self, budget: Duration) -> Duration {
        let fitted = (self.usual() * HEADROOM).min(budget / 4);
        cpu_gate::light_for(budget).max(fitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_millis(50);

    #[test]
    fn a_cheap_plugin_keeps_the_fixed_threshold() {
        let usual = UsualCpu::default();
        assert_eq!(usual.heavy_after(BUDGET), cpu_gate::LIGHT);
        for _ in 0..100 {
            usual.observe(Duration::from_micros(40));
        }
        assert_eq!(usual.heavy_after(BUDGET), cpu_gate::LIGHT);
    }

    #[test]
    fn a_python_plugin_gets_room_above_its_usual_call() {
        let usual = UsualCpu::default();
        for _ in 0..100 {
            usual.observe(Duration::from_micros(2_500));
        }
        assert_eq!(usual.heavy_after(BUDGET), Duration::from_millis(10));
        // A loaded machine: its calls take longer, the threshold follows.
        for _ in 0..200 {
            usual.observe(Duration::from_micros(3_000));
        }
        let after = usual.heavy_after(BUDGET);
        assert!(after > Duration::from_millis(11), "{after:?}");
        // A spin now and then (a fault, never observed) moves nothing; a
        // slow normal return moves it a sixteenth of the way.
        usual.observe(Duration::from_millis(50));
        assert_eq!(usual.heavy_after(BUDGET), BUDGET / 4);
    }

    #[test]
    fn expensive_calls_move_it_a_quarter_of_the_budget_at_most() {
        let usual = UsualCpu::default();
        for _ in 0..100 {
            usual.observe(Duration::from_millis(40));
        }
        assert_eq!(usual.heavy_after(BUDGET), BUDGET / 4);
        let larger = Duration::from_millis(250);
        assert_eq!(usual.heavy_after(larger), larger / 4);
    }
}

//! Call statistics (a plugin version's, its webhooks', a channel's
//! webhooks'), and the fault rate over the last minute that drives
//! quarantine (of a version, by its sends) and strain (of a channel's
//! webhooks, see `engine::webhook_guard`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How far back the fault rate looks.
const WINDOW: Duration = Duration::from_secs(60);

/// Calls and faults of one second.
struct Second {
    at: Instant,
    calls: u64,
    faults: u64,
}

#[derive(Default)]
pub struct CallStats {
    /// The last minute, a bucket per second that had calls.
    recent: Mutex<VecDeque<Second>>,
    calls: AtomicU64,
    /// Calls that trapped, timed out or ran out of memory.
    faults: AtomicU64,
    /// Faults since the last call that returned normally.
    consecutive_faults: AtomicU64,
    total_micros: AtomicU64,
    max_micros: AtomicU64,
}

#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub faults: u64,
    pub consecutive_faults: u64,
    pub mean_latency_ms: f64,
    pub max_latency_ms: f64,
}

impl CallStats {
    /// Records a call; returns the consecutive-fault count after it.
    pub fn record(&self, elapsed: Duration, fault: bool) -> u64 {
        self.record_many(elapsed, 1, fault as u64)
    }

    /// Records a call that did the work of `calls` calls (a `send-all`:
    /// one per message it decided), `faults` of them ended by its fault;
    /// returns the consecutive-fault count after it.
    pub fn record_many(&self, elapsed: Duration, calls: u64, faults: u64) -> u64 {
        let micros = elapsed.as_micros() as u64;
        self.count_recent(calls, faults);
        self.calls.fetch_add(calls, Ordering::Relaxed);
        self.total_micros
            .fetch_add(micros.saturating_mul(calls), Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
        if faults > 0 {
            self.faults.fetch_add(faults, Ordering::Relaxed);
            self.consecutive_faults.fetch_add(faults, Ordering::Relaxed) + faults
        } else {
            self.consecutive_faults.store(0, Ordering::Relaxed);
            0
        }
    }

    /// A call that returned normally but gave an unusable answer (an
    /// oversized message id): a fault after all.
    pub fn reclassify_as_fault(&self) {
        self.count_recent(0, 1);
        self.faults.fetch_add(1, Ordering::Relaxed);
        self.consecutive_faults.fetch_add(1, Ordering::Relaxed);
    }

    fn count_recent(&self, calls: u64, faults: u64) {
        let now = Instant::now();
        let mut recent = self.recent.lock().expect("stats lock");
        while recent
            .front()
            .is_some_and(|s| now.duration_since(s.at) > WINDOW)
        {
            recent.pop_front();
        }
        match recent.back_mut() {
            Some(s) if now.duration_since(s.at) < Duration::from_secs(1) => {
                s.calls += calls;
                s.faults += faults;
            }
            _ => recent.push_back(Second {
                at: now,
                calls,
                faults,
            }),
        }
    }

    /// (calls, faults) of the last minute.
    pub fn last_minute(&self) -> (u64, u64) {
        let now = Instant::now();
        let recent = self.recent.lock().expect("stats lock");
        recent
            .iter()
            .filter(|s| now.duration_since(s.at) <= WINDOW)
            .fold((0, 0), |(c, f), s| (c + s.calls, f + s.faults))
    }

    /// (calls, faults) of the last minute when at least `min_calls` were
    /// made and at least half of them were faults.
    pub fn faulty_window(&self, min_calls: u64) -> Option<(u64, u64)> {
        let (calls, faults) = self.last_minute();
        (calls >= min_calls.max(1) && half_faulting(calls, faults)).then_some((calls, faults))
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let calls = self.calls.load(Ordering::Relaxed);
        let total = self.total_micros.load(Ordering::Relaxed);
        StatsSnapshot {
            calls,
            faults: self.faults.load(Ordering::Relaxed),
            consecutive_faults: self.consecutive_faults.load(Ordering::Relaxed),
            mean_latency_ms: if calls == 0 {
                0.0
            } else {
                total as f64 / calls as f64 / 1000.0
            },
            max_latency_ms: self.max_micros.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// At least half of `calls` faulted: the rule of every judgement of a
/// window (quarantine, the heavy slot, a channel's webhooks).
pub fn half_faulting(calls: u64, faults: u64) -> bool {
    faults * 2 >= calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normal_call_resets_the_fault_streak() {
        let s = CallStats::default();
        assert_eq!(s.record(Duration::from_millis(1), true), 1);
        assert_eq!(s.record(Duration::from_millis(1), true), 2);
        assert_eq!(s.record(Duration::from_millis(3), false), 0);
        assert_eq!(s.record(Duration::from_millis(1), true), 1);
        let snap = s.snapshot();
        assert_eq!((snap.calls, snap.faults), (4, 3));
        assert_eq!(snap.max_latency_ms, 3.0);
    }

    #[test]
    fn half_the_calls_faulting_is_a_faulty_window_whatever_their_order() {
        let s = CallStats::default();
        for i in 0..19 {
            s.record(Duration::from_millis(1), i % 2 == 0);
        }
        assert_eq!(s.faulty_window(20), None, "19 calls are too few to judge");
        s.record(Duration::from_millis(1), false);
        assert_eq!(s.faulty_window(20), Some((20, 10)), "half of 20");
        s.reclassify_as_fault();
        assert_eq!(s.faulty_window(20), Some((20, 11)));
        let healthy = CallStats::default();
        for i in 0..40 {
            healthy.record(Duration::from_millis(1), i % 4 == 0);
        }
        assert_eq!(healthy.faulty_window(20), None, "a quarter faulting is not");
    }
}

//! Per-version call statistics, and the consecutive-fault count that
//! drives quarantine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct CallStats {
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
        let micros = elapsed.as_micros() as u64;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
        if fault {
            self.faults.fetch_add(1, Ordering::Relaxed);
            self.consecutive_faults.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.consecutive_faults.store(0, Ordering::Relaxed);
            0
        }
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
}

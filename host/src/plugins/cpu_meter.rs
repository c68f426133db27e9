//! The CPU time one plugin call spends, as opposed to its wall time: a
//! call waiting for its provider's answer (an `http-send` in flight) or for
//! a worker thread costs nothing; a guest that computes does. Measured as
//! the calling thread's CPU time across each poll of the call's future
//! (wasmtime runs the guest on a fiber inside the poll, so that is where
//! its instructions execute), and read by the epoch callback while the
//! guest runs, so a spinning guest is stopped within a tick of its budget.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cpu_time::ThreadTime;

#[derive(Default)]
pub struct CpuMeter {
    /// CPU nanoseconds of the polls that have finished.
    spent_ns: AtomicU64,
    /// The thread's CPU clock (ns) when the current poll began; 0 between
    /// polls.
    poll_began_ns: AtomicU64,
}

fn thread_cpu_ns() -> u64 {
    ThreadTime::now().as_duration().as_nanos() as u64
}

impl CpuMeter {
    /// CPU used so far, the current poll included. Call it from the thread
    /// that polls (the epoch callback runs there).
    pub fn used(&self) -> Duration {
        let began = self.poll_began_ns.load(Ordering::Relaxed);
        let current = if began == 0 {
            0
        } else {
            thread_cpu_ns().saturating_sub(began)
        };
        Duration::from_nanos(self.spent_ns.load(Ordering::Relaxed) + current)
    }

    /// Runs `call`, metering the CPU of each of its polls.
    pub async fn meter<F: Future>(self: &Arc<Self>, call: F) -> F::Output {
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| {
            let began = thread_cpu_ns().max(1);
            self.poll_began_ns.store(began, Ordering::Relaxed);
            let polled = call.as_mut().poll(cx);
            let spent = thread_cpu_ns().saturating_sub(began);
            self.poll_began_ns.store(0, Ordering::Relaxed);
            self.spent_ns.fetch_add(spent, Ordering::Relaxed);
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
}

//! Graceful stop (SIGTERM, SIGINT): stop claiming, let the plugin calls
//! under way finish (bounded by the grace period), write their outcomes,
//! hand back every claim not yet called, then let HTTP close. A send still
//! under way at the deadline is left `sending`: once this instance's
//! heartbeat goes stale another instance (or the next start) marks it
//! `unknown` for reconciliation; it is never marked failed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::Engine;

/// What the engine has under way, for the drain to wait on.
#[derive(Default)]
pub struct InFlight {
    stopping: AtomicBool,
    /// Plugin `send` calls started and not yet returned.
    calls: AtomicUsize,
    /// Outcomes handed to the writer and not yet committed.
    outcomes: AtomicUsize,
}

/// Counts one plugin call while it lives.
pub struct CallGuard<'a>(&'a InFlight);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlight {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn call(&self) -> CallGuard<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        CallGuard(self)
    }

    pub fn outcome_queued(&self) {
        self.outcomes.fetch_add(1, Ordering::SeqCst);
    }

    pub fn outcomes_written(&self, n: usize) {
        self.outcomes.fetch_sub(n, Ordering::SeqCst);
    }
}

/// Polls `done` until it holds or `deadline` passes; true if it held.
async fn wait_until(deadline: Instant, done: impl Fn() -> bool) -> bool {
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

impl Engine {
    /// Whether the engine is stopping (readiness answers 503).
    pub fn draining(&self) -> bool {
        self.in_flight.stopping()
    }

    /// Stops sending gracefully within `grace` (see the module).
    pub async fn drain(&self, grace: Duration) {
        let started = Instant::now();
        let deadline = started + grace;
        self.in_flight.stopping.store(true, Ordering::SeqCst);
        self.wake();
        let calls = || self.in_flight.calls.load(Ordering::SeqCst);
        if !wait_until(deadline, || calls() == 0).await {
            tracing::warn!(
                calls = calls(),
                "grace period over with provider calls under way; they are left for reconciliation"
            );
        }
        // The writer lingers a few ms per batch; a stuck database gets the
        // rest of the grace period.
        let outcomes = || self.in_flight.outcomes.load(Ordering::SeqCst);
        let flush_by = deadline.max(Instant::now() + Duration::from_secs(5));
        if !wait_until(flush_by, || outcomes() == 0).await {
            tracing::error!(
                outcomes = outcomes(),
                "outcomes not written before shutdown; their members become unknown"
            );
        }
        self.completion.check_now(self).await;
        match self.store.release_claims(&self.config.instance_id).await {
            Ok(n) => tracing::info!(
                released = n,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "engine drained: claims not yet sent handed back"
            ),
            Err(e) => {
                tracing::error!(error = %e, "handing back claims at shutdown failed; their leases expire instead")
            }
        }
    }
}

//! Per-call resource limits enforced inside the store: a cap on one
//! instance's linear memory, and a budget shared by every live instance,
//! so a crowd of memory-hungry calls cannot take the process's memory
//! with them (each would fit its own cap).
//!
//! Growth while a guest runs draws on the budget at once or fails (a
//! memory bomb is stopped, not queued). An instance whose memory *starts*
//! larger than [`FREE_PER_INSTANCE`] (a Python plugin's interpreter image:
//! 12 MiB) instead waits for that start before it is instantiated
//! ([`MemoryBudget::reserve`]), so such calls queue rather than fail when
//! many run at once; the budget's bound is the same.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What each instance may hold without drawing on the shared budget:
/// enough for any ordinary call, so a crowd of memory-hungry guests
/// exhausting the budget fails only calls that want more.
pub const FREE_PER_INSTANCE: usize = 2 << 20;

/// The budget's unit: a WebAssembly page (memories grow by whole pages).
const PAGE: usize = 64 << 10;

fn pages(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(PAGE)).unwrap_or(u32::MAX)
}

/// Linear memory of all live plugin instances together, beyond
/// [`FREE_PER_INSTANCE`] each: a semaphore of pages.
pub struct MemoryBudget {
    total: usize,
    pages: Arc<Semaphore>,
}

/// Part of the budget held for one instance's start (see
/// [`MemoryCap::with_reservation`]).
pub struct Reservation(OwnedSemaphorePermit);

impl MemoryBudget {
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            pages: Arc::new(Semaphore::new(pages(total) as usize)),
        })
    }

    /// Takes `bytes` if they are free now.
    fn take(&self, bytes: usize) -> bool {
        match self.pages.try_acquire_many(pages(bytes)) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    fn give_back(&self, bytes: usize) {
        self.pages.add_permits(pages(bytes) as usize);
    }

    /// Waits until `bytes` are free and holds them (at most the whole
    /// budget: a larger start fails at instantiation instead).
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let wanted = pages(bytes.min(self.total));
        let permit = self
            .pages
            .clone()
            .acquire_many_owned(wanted)
            .await
            .expect("the budget is never closed");
        Reservation(permit)
    }

    pub fn used(&self) -> usize {
        self.total
            .saturating_sub(self.pages.available_permits() * PAGE)
    }
}

/// Caps a call's linear memory; remembers that a cap was hit so the
/// failure is reported as out-of-memory rather than a generic trap.
pub struct MemoryCap {
    pub max_bytes: usize,
    pub exceeded: bool,
    budget: Arc<MemoryBudget>,
    /// What this call holds of the shared budget (in whole pages).
    held: usize,
    /// Of `held`, what a reservation brought and growth has not used yet.
    reserved: usize,
}

impl MemoryCap {
    pub fn new(max_bytes: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            max_bytes,
            exceeded: false,
            budget,
            held: 0,
            reserved: 0,
        }
    }

    /// Starts the call holding `reservation`: the instance's memories draw
    /// on it before the shared budget, and it is given back with the rest.
    pub fn with_reservation(mut self, reservation: Reservation) -> Self {
        let bytes = reservation.0.num_permits() * PAGE;
        reservation.0.forget();
        self.held += bytes;
        self.reserved += bytes;
        self
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            // An error traps the guest at once instead of returning -1 from
            // memory.grow, which Rust guests turn into an abort anyway.
            wasmtime::bail!("memory limit of {} bytes exceeded", self.max_bytes);
        }
        let more = desired.saturating_sub(current.max(FREE_PER_INSTANCE));
        let from_reservation = more.min(self.reserved);
        self.reserved -= from_reservation;
        let rest = (more - from_reservation).div_ceil(PAGE) * PAGE;
        if rest > 0 && !self.budget.take(rest) {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit exceeded: plugin instances together may hold {} bytes",
                self.budget.total
            );
        }
        self.held += rest;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    #[test]
    fn instances_share_one_budget_beyond_their_free_part() {
        const MIB: usize = 1 << 20;
        const FREE: usize = FREE_PER_INSTANCE;
        let budget = MemoryBudget::new(10 * MIB);
        let mut a = MemoryCap::new(FREE + 20 * MIB, budget.clone());
        let mut b = MemoryCap::new(FREE + 20 * MIB, budget.clone());
        assert!(a.memory_growing(0, FREE + 6 * MIB, None).unwrap());
        assert!(b.memory_growing(0, FREE + 4 * MIB, None).unwrap());
        assert_eq!(
            budget.used(),
            10 * MIB,
            "6 + 4 beyond the free part of each"
        );
        assert!(
            b.memory_growing(FREE + 4 * MIB, FREE + 5 * MIB, None)
                .is_err(),
            "11 in all"
        );
        assert!(b.exceeded);
        // An ordinary call needs nothing from the exhausted budget.
        let mut c = MemoryCap::new(FREE + 20 * MIB, budget.clone());
        assert!(c.memory_growing(0, FREE, None).unwrap());
        assert!(
            a.memory_growing(FREE + 6 * MIB, FREE + 21 * MIB, None)
                .is_err(),
            "over its own cap"
        );
        drop(a);
        assert_eq!(budget.used(), 4 * MIB);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn a_large_start_waits_for_the_budget_instead_of_failing() {
        const MIB: usize = 1 << 20;
        const FREE: usize = FREE_PER_INSTANCE;
        let budget = MemoryBudget::new(16 * MIB);
        let first = budget.reserve(10 * MIB).await;
        let mut a = MemoryCap::new(FREE + 12 * MIB, budget.clone()).with_reservation(first);
        // The instance's memory is created at its start size: the
        // reservation pays for it, the shared budget is not drawn again.
        assert!(a.memory_growing(0, FREE + 10 * MIB, None).unwrap());
        assert_eq!(budget.used(), 10 * MIB);
        // Growth past the start draws on the budget as before.
        assert!(
            a.memory_growing(FREE + 10 * MIB, FREE + 11 * MIB, None)
                .unwrap()
        );
        assert_eq!(budget.used(), 11 * MIB);

        // A second such start does not fit: it waits, and gets its turn
        // when the first instance is dropped.
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(10 * MIB).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "5 MiB free of the 10 it needs");
        drop(a);
        let second = waiting.await.unwrap();
        let b = MemoryCap::new(FREE + 12 * MIB, budget.clone()).with_reservation(second);
        assert_eq!(budget.used(), 10 * MIB);
        // An unused reservation is given back whole.
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}

//! Per-call resource limits enforced inside the store: a cap on one
//! instance's linear memory, and a budget shared by every live instance,
//! so a crowd of memory-hungry calls cannot take the process's memory
//! with them (each would fit its own cap).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What each instance may hold without drawing on the shared budget:
/// enough for any ordinary call, so a crowd of memory-hungry guests
/// exhausting the budget fails only calls that want more.
pub const FREE_PER_INSTANCE: usize = 2 << 20;

/// Linear memory of all live plugin instances together, beyond
/// [`FREE_PER_INSTANCE`] each.
pub struct MemoryBudget {
    total: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` if they fit.
    fn take(&self, bytes: usize) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.total {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Caps a call's linear memory; remembers that a cap was hit so the
/// failure is reported as out-of-memory rather than a generic trap.
pub struct MemoryCap {
    pub max_bytes: usize,
    pub exceeded: bool,
    budget: Arc<MemoryBudget>,
    /// What this call holds of the shared budget.
    held: usize,
}

impl MemoryCap {
    pub fn new(max_bytes: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            max_bytes,
            exceeded: false,
            budget,
            held: 0,
        }
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
        if !self.budget.take(more) {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit exceeded: plugin instances together may hold {} bytes",
                self.budget.total
            );
        }
        self.held += more;
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
}

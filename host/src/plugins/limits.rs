//! Per-call resource limits enforced inside the store: a cap on one
//! instance's linear memory, and a budget shared by every live instance,
//! so a crowd of memory-hungry calls cannot take the process's memory
//! with them (each would fit its own cap).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Linear memory of all live plugin instances together.
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
        let more = desired.saturating_sub(current);
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
    fn instances_share_one_budget_and_give_it_back() {
        let budget = MemoryBudget::new(10 << 20);
        let mut a = MemoryCap::new(8 << 20, budget.clone());
        let mut b = MemoryCap::new(8 << 20, budget.clone());
        assert!(a.memory_growing(0, 6 << 20, None).unwrap());
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert!(
            b.memory_growing(4 << 20, 5 << 20, None).is_err(),
            "11 MiB in all"
        );
        assert!(b.exceeded);
        assert!(
            a.memory_growing(6 << 20, 9 << 20, None).is_err(),
            "over its own cap"
        );
        drop(a);
        assert_eq!(budget.used(), 4 << 20);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}

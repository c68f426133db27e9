//! A tenant's share of the send slots (issue 13, §5): no tenant holds more
//! than three quarters of `--max-in-flight` at once, so a tenant whose
//! plugin or provider is slow (every call running into its deadline)
//! cannot take every slot, and another tenant's sends always find one.
//! A claim gives no tenant more than its room under the cap; the claim
//! itself shares out fairly (see `store::fair_claim`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::{Id, TenantRoom};

pub struct TenantSlots {
    cap: usize,
    held: Mutex<HashMap<Id, usize>>,
}

/// One send's hold on its tenant's share, given back when dropped.
pub struct TenantSlot {
    slots: Arc<TenantSlots>,
    tenant: Id,
}

impl TenantSlots {
    pub fn new(max_in_flight: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: (max_in_flight - max_in_flight / 4).max(1),
            held: Mutex::default(),
        })
    }

    pub fn take(self: &Arc<Self>, tenant: Id) -> TenantSlot {
        *self.lock().entry(tenant).or_insert(0) += 1;
        TenantSlot {
            slots: self.clone(),
            tenant,
        }
    }

    /// What each tenant may still claim, now.
    pub fn room(&self) -> TenantRoom {
        TenantRoom {
            cap: self.cap,
            held: self.lock().clone(),
        }
    }

    /// Some tenant holds its whole share.
    pub fn any_capped(&self) -> bool {
        self.lock().values().any(|held| *held >= self.cap)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, usize>> {
        self.held.lock().expect("tenant slots poisoned")
    }
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        let mut held = self.slots.lock();
        if let Some(n) = held.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_at_three_quarters_of_the_slots_waits() {
        let slots = TenantSlots::new(8);
        let held: Vec<_> = (0..5).map(|_| slots.take(1)).collect();
        let other = slots.take(2);
        assert_eq!(slots.room().of(1), 1);
        assert_eq!(slots.room().of(2), 5);
        assert_eq!(slots.room().of(3), 6);
        let sixth = slots.take(1);
        assert_eq!(slots.room().of(1), 0);
        drop(sixth);
        assert_eq!(slots.room().of(1), 1);
        drop((held, other));
        assert!(slots.lock().is_empty());
    }

    #[test]
    fn one_slot_is_never_a_cap_of_zero() {
        let slots = TenantSlots::new(1);
        assert_eq!(slots.room().of(1), 1);
        let _one = slots.take(1);
        assert_eq!(slots.room().of(1), 0);
    }
}

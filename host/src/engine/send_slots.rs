//! Shares of the send slots (issue 13, §5): no tenant holds more than
//! three quarters of `--max-in-flight` at once, and no plugin more than
//! seven eighths. A tenant whose provider is slow (every call running into
//! its deadline) leaves a quarter of the slots to the others, an eighth
//! even to tenants on the same plugin; a plugin whose provider degrades for
//! several tenants leaves an eighth to the other plugins. (A tenant cap of
//! half cost a single tenant a quarter of its PostgreSQL throughput.) A claim gives no tenant and no
//! campaign's plugin more than its room under its cap; the claim itself
//! shares out fairly (`store::fair_claim`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::{Id, SendRoom};

/// What a slot is held for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Holder {
    Tenant(Id),
    Plugin(String),
}

pub struct SendSlots {
    tenant_cap: usize,
    plugin_cap: usize,
    held: Mutex<HashMap<Holder, usize>>,
}

/// One send's hold on a share, given back when dropped.
pub struct Slot {
    slots: Arc<SendSlots>,
    holder: Holder,
}

impl SendSlots {
    pub fn new(max_in_flight: usize) -> Arc<Self> {
        Arc::new(Self {
            tenant_cap: (max_in_flight - max_in_flight / 4).max(1),
            plugin_cap: (max_in_flight - max_in_flight / 8).max(1),
            held: Mutex::default(),
        })
    }

    /// Held from the claim until the send's outcome is known.
    pub fn take(self: &Arc<Self>, tenant: Id) -> Slot {
        self.hold(Holder::Tenant(tenant))
    }

    /// Held while the send goes through its channel's plugin.
    pub fn take_plugin(self: &Arc<Self>, plugin: &str) -> Slot {
        self.hold(Holder::Plugin(plugin.to_owned()))
    }

    fn hold(self: &Arc<Self>, holder: Holder) -> Slot {
        *self.lock().entry(holder.clone()).or_insert(0) += 1;
        Slot {
            slots: self.clone(),
            holder,
        }
    }

    /// What each tenant and plugin may still claim, now.
    pub fn room(&self) -> SendRoom {
        let mut room = SendRoom {
            cap: self.tenant_cap,
            plugin_cap: self.plugin_cap,
            ..SendRoom::default()
        };
        for (holder, n) in self.lock().iter() {
            match holder {
                Holder::Tenant(t) => room.held.insert(*t, *n),
                Holder::Plugin(p) => room.plugins_held.insert(p.clone(), *n),
            };
        }
        room
    }

    /// Some tenant or plugin holds its whole share.
    pub fn any_capped(&self) -> bool {
        self.lock().iter().any(|(holder, held)| match holder {
            Holder::Tenant(_) => *held >= self.tenant_cap,
            Holder::Plugin(_) => *held >= self.plugin_cap,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Holder, usize>> {
        self.held.lock().expect("send slots poisoned")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.lock();
        if let Some(n) = held.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_at_three_quarters_of_the_slots_waits() {
        let slots = SendSlots::new(8);
        let held: Vec<_> = (0..5).map(|_| slots.take(1)).collect();
        let other = slots.take(2);
        assert_eq!(slots.room().of(1), 1);
        assert_eq!(slots.room().of(2), 5);
        assert_eq!(slots.room().of(3), 6);
        let sixth = slots.take(1);
        assert_eq!(slots.room().of(1), 0);
        assert!(slots.any_capped());
        drop(sixth);
        assert_eq!(slots.room().of(1), 1);
        drop((held, other));
        assert!(slots.lock().is_empty());
    }

    #[test]
    fn plugins_have_their_own_share() {
        let slots = SendSlots::new(8);
        let slow: Vec<_> = (0..7).map(|_| slots.take_plugin("twilio-sms")).collect();
        assert_eq!(slots.room().of_plugin("twilio-sms"), 0);
        assert_eq!(slots.room().of_plugin("mailgun-email"), 7);
        assert_eq!(slots.room().of(1), 6, "tenants count apart");
        drop(slow);
        assert_eq!(slots.room().of_plugin("twilio-sms"), 7);
    }

    #[test]
    fn one_slot_is_never_a_cap_of_zero() {
        let slots = SendSlots::new(1);
        assert_eq!(slots.room().of(1), 1);
        let _one = slots.take(1);
        assert_eq!(slots.room().of(1), 0);
    }
}

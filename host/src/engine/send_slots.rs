//! Shares of the send slots (issue 13, §5; issue 18). A tenant sending
//! alone may hold three quarters of `--max-in-flight` at once, a plugin
//! seven eighths (a cap of half cost a lone tenant a quarter of its
//! PostgreSQL throughput); while several tenants (plugins) hold slots, each
//! may hold half. So a tenant whose calls are slow (its provider, or its
//! plugin waiting on its budgets) leaves at least half of the slots to the
//! others, and a lone tenant keeps room for a newcomer. A claim gives no
//! tenant and no campaign's plugin more than its room under its cap; the
//! claim itself shares out fairly (`store::fair_claim`).

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
    /// The cap of each while several tenants (or plugins) hold slots.
    shared_cap: usize,
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
            shared_cap: (max_in_flight / 2).max(1),
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
        let held = self.lock();
        let (tenant_cap, plugin_cap) = self.caps(&held);
        let mut room = SendRoom {
            cap: tenant_cap,
            plugin_cap,
            ..SendRoom::default()
        };
        for (holder, n) in held.iter() {
            match holder {
                Holder::Tenant(t) => room.held.insert(*t, *n),
                Holder::Plugin(p) => room.plugins_held.insert(p.clone(), *n),
            };
        }
        room
    }

    /// The caps now: a tenant (plugin) sending alone may hold three
    /// quarters (seven eighths) of the slots, which a lone tenant's
    /// throughput needs; once several hold slots, none may hold more than
    /// half, so a tenant whose calls are slow (a plugin spinning or
    /// waiting on its budgets) can never crowd another below half.
    fn caps(&self, held: &HashMap<Holder, usize>) -> (usize, usize) {
        let tenants = held
            .keys()
            .filter(|h| matches!(h, Holder::Tenant(_)))
            .count();
        let plugins = held.len() - tenants;
        (
            if tenants > 1 {
                self.shared_cap
            } else {
                self.tenant_cap
            },
            if plugins > 1 {
                self.shared_cap
            } else {
                self.plugin_cap
            },
        )
    }

    /// Some tenant or plugin holds its whole share.
    pub fn any_capped(&self) -> bool {
        let held = self.lock();
        let (tenant_cap, plugin_cap) = self.caps(&held);
        held.iter().any(|(holder, n)| match holder {
            Holder::Tenant(_) => *n >= tenant_cap,
            Holder::Plugin(_) => *n >= plugin_cap,
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
    fn a_lone_tenant_may_hold_three_quarters_and_with_others_half() {
        let slots = SendSlots::new(8);
        let held: Vec<_> = (0..5).map(|_| slots.take(1)).collect();
        assert_eq!(slots.room().of(1), 1, "alone: 6 of 8");
        let sixth = slots.take(1);
        assert_eq!(slots.room().of(1), 0);
        assert!(slots.any_capped());
        drop(sixth);
        let other = slots.take(2);
        assert_eq!(
            slots.room().of(1),
            0,
            "with another: 4 of 8, and it holds 5"
        );
        assert_eq!(slots.room().of(2), 3);
        assert_eq!(slots.room().of(3), 4);
        drop(other);
        assert_eq!(slots.room().of(1), 1);
        drop(held);
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

//! Shares of the send slots (issue 13, §5; issue 18). A tenant sending
//! alone may hold three quarters of `--max-in-flight` at once, a plugin
//! seven eighths (a cap of half cost a lone tenant a quarter of its
//! PostgreSQL throughput). While several tenants (plugins) hold slots each
//! is guaranteed half, and may take more of what the others leave unused:
//! a tenant whose calls are slow (its provider, or its plugin waiting on its
//! budgets) leaves at least half of the slots to the others, and one that
//! sends little costs the others nothing. A plugin whose calls fault at
//! least half the time runs them one at a time on the heavy slot
//! (`plugins::cpu_gate`), so it may hold a sixteenth: more would only wait
//! there, holding slots its neighbours' sends could use. A plugin without a
//! record (fewer calls in the last minute than it takes to judge one) may
//! hold a quarter, what a lone tenant leaves free, until it has one: a new
//! tenant's plugin that spins or bombs held half of the slots for the
//! seconds its first calls took to fail, and a neighbour sending as fast as
//! its slots allow lost a third of its rate meanwhile (the noisy-neighbour
//! benchmark). A lone tenant keeps
//! room for a newcomer. A claim gives no tenant and no campaign's plugin
//! more than its room under its cap; the claim itself shares out fairly
//! (`store::fair_claim`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::{Id, PluginStanding, SendRoom};

/// What a slot is held for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Holder {
    Tenant(Id),
    Plugin(String),
}

pub struct SendSlots {
    total: usize,
    tenant_cap: usize,
    plugin_cap: usize,
    /// The share each is guaranteed while several tenants (or plugins)
    /// hold slots.
    shared_cap: usize,
    /// The cap of a plugin whose calls run on the heavy slot only.
    held_back_cap: usize,
    /// The cap of a plugin without a record yet: what a lone tenant
    /// leaves free, so that it never narrows a neighbour's lone share.
    unproven_cap: usize,
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
            total: max_in_flight.max(1),
            held_back_cap: (max_in_flight / 16).max(1),
            unproven_cap: (max_in_flight / 4).max(1),
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

    /// What each tenant and plugin may still claim, now; plugins held back
    /// (calls on the heavy slot only) or unproven get their small caps
    /// whether they hold slots yet or not.
    pub fn room(&self, standing: &PluginStanding) -> SendRoom {
        let held = self.lock();
        let counts = Counts::of(&held);
        let mut room = SendRoom {
            new_tenant: self.cap(&counts.tenants, 0, self.tenant_cap),
            new_plugin: self.cap(&counts.plugins, 0, self.plugin_cap),
            ..SendRoom::default()
        };
        for (holder, &n) in held.iter() {
            match holder {
                Holder::Tenant(t) => {
                    let cap = self.cap(&counts.tenants, n, self.tenant_cap);
                    room.tenants.insert(*t, cap.saturating_sub(n));
                }
                Holder::Plugin(p) => {
                    let cap = self.cap(&counts.plugins, n, self.plugin_cap);
                    let cap = if standing.held_back.contains(p) {
                        self.held_back_cap
                    } else if standing.unproven.contains(p) {
                        cap.min(self.unproven_cap)
                    } else {
                        cap
                    };
                    room.plugins.insert(p.clone(), cap.saturating_sub(n));
                }
            };
        }
        for p in &standing.held_back {
            room.plugins.entry(p.clone()).or_insert(self.held_back_cap);
        }
        let new_plugin = room.new_plugin.min(self.unproven_cap);
        for p in &standing.unproven {
            room.plugins.entry(p.clone()).or_insert(new_plugin);
        }
        room
    }

    /// The cap of a tenant (plugin) holding `mine` of `kind`'s slots: the
    /// lone cap while no other holds any; else its guaranteed half, or
    /// more when the others leave more unused, up to the lone cap.
    fn cap(&self, kind: &Kind, mine: usize, lone_cap: usize) -> usize {
        let others_held = kind.held - mine;
        let others = kind.holders - usize::from(mine > 0);
        if others == 0 {
            lone_cap
        } else {
            lone_cap.min(self.shared_cap.max(self.total.saturating_sub(others_held)))
        }
    }

    /// Some tenant or plugin holds its whole share (under the same caps as
    /// [`Self::room`], the small ones of held-back and unproven plugins
    /// included).
    pub fn any_capped(&self, standing: &PluginStanding) -> bool {
        let room = self.room(standing);
        room.tenants
            .values()
            .chain(room.plugins.values())
            .any(|&left| left == 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Holder, usize>> {
        self.held.lock().expect("send slots poisoned")
    }
}

/// How many tenants (plugins) hold slots, and how many they hold.
#[derive(Default)]
struct Kind {
    holders: usize,
    held: usize,
}

#[derive(Default)]
struct Counts {
    tenants: Kind,
    plugins: Kind,
}

impl Counts {
    fn of(held: &HashMap<Holder, usize>) -> Self {
        let mut counts = Self::default();
        for (holder, &n) in held {
            let kind = match holder {
                Holder::Tenant(_) => &mut counts.tenants,
                Holder::Plugin(_) => &mut counts.plugins,
            };
            kind.holders += 1;
            kind.held += n;
        }
        counts
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
    use std::collections::HashSet;

    use super::*;

    fn none() -> PluginStanding {
        PluginStanding::default()
    }

    fn one(plugin: &str) -> HashSet<String> {
        HashSet::from([plugin.to_owned()])
    }

    #[test]
    fn a_lone_tenant_may_hold_three_quarters_and_with_a_busy_other_half() {
        let slots = SendSlots::new(8);
        let held: Vec<_> = (0..5).map(|_| slots.take(1)).collect();
        assert_eq!(slots.room(&none()).of(1), 1, "alone: 6 of 8");
        let sixth = slots.take(1);
        assert_eq!(slots.room(&none()).of(1), 0);
        assert!(slots.any_capped(&none()));
        drop(sixth);
        assert!(!slots.any_capped(&none()));
        let other = slots.take(2);
        assert_eq!(
            slots.room(&none()).of(1),
            1,
            "the other holds 1 of 8: up to the lone cap of 6"
        );
        assert_eq!(slots.room(&none()).of(2), 3, "half is guaranteed");
        assert_eq!(slots.room(&none()).of(3), 4);
        let busy: Vec<_> = (0..3).map(|_| slots.take(2)).collect();
        assert_eq!(slots.room(&none()).of(1), 0, "the other holds 4: 4 each");
        drop(busy);
        drop(other);
        assert_eq!(slots.room(&none()).of(1), 1);
        drop(held);
        assert!(slots.lock().is_empty());
    }

    #[test]
    fn a_tenant_takes_what_a_quiet_neighbour_leaves() {
        let slots = SendSlots::new(16);
        let _quiet = slots.take(2);
        let busy: Vec<_> = (0..8).map(|_| slots.take(1)).collect();
        assert_eq!(
            slots.room(&none()).of(1),
            4,
            "the lone cap of 12, not half: the neighbour uses 1 slot"
        );
        drop(busy);
    }

    #[test]
    fn plugins_have_their_own_share() {
        let slots = SendSlots::new(8);
        let slow: Vec<_> = (0..7).map(|_| slots.take_plugin("twilio-sms")).collect();
        assert_eq!(slots.room(&none()).of_plugin("twilio-sms"), 0);
        assert_eq!(
            slots.room(&none()).of_plugin("mailgun-email"),
            4,
            "half is guaranteed"
        );
        assert_eq!(slots.room(&none()).of(1), 6, "tenants count apart");
        drop(slow);
        assert_eq!(slots.room(&none()).of_plugin("twilio-sms"), 7);
    }

    #[test]
    fn a_faulting_plugin_is_held_to_a_sixteenth() {
        let slots = SendSlots::new(128);
        let faulty = PluginStanding {
            held_back: one("hostile"),
            ..none()
        };
        assert_eq!(slots.room(&faulty).of_plugin("hostile"), 8, "before any");
        let held: Vec<_> = (0..3).map(|_| slots.take_plugin("hostile")).collect();
        assert_eq!(slots.room(&faulty).of_plugin("hostile"), 5, "8 of 128");
        assert_eq!(slots.room(&faulty).of_plugin("twilio-sms"), 112);
        drop(held);
    }

    #[test]
    fn a_plugin_without_a_record_is_held_to_a_quarter_until_it_has_one() {
        let slots = SendSlots::new(128);
        let new = PluginStanding {
            unproven: one("hostile"),
            ..none()
        };
        assert_eq!(slots.room(&new).of_plugin("hostile"), 32, "before any");
        let held: Vec<_> = (0..30).map(|_| slots.take_plugin("hostile")).collect();
        assert_eq!(slots.room(&new).of_plugin("hostile"), 2, "32 of 128");
        assert!(!slots.any_capped(&new));
        let more: Vec<_> = (0..2).map(|_| slots.take_plugin("hostile")).collect();
        assert!(
            slots.any_capped(&new),
            "at its small cap, far below the lone one"
        );
        assert!(!slots.any_capped(&none()));
        drop(more);
        assert!(
            slots.room(&new).of_plugin("twilio-sms") >= 96,
            "a neighbour's plugin still has room for a tenant's lone share"
        );
        assert_eq!(
            slots.room(&none()).of_plugin("hostile"),
            82,
            "with a record: the lone cap of 112"
        );
        drop(held);
    }

    #[test]
    fn one_slot_is_never_a_cap_of_zero() {
        let slots = SendSlots::new(1);
        assert_eq!(slots.room(&none()).of(1), 1);
        let _one = slots.take(1);
        assert_eq!(slots.room(&none()).of(1), 0);
    }
}

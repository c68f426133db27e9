//! Where each campaign's queue starts now, as this instance last claimed
//! from it: on PostgreSQL a claim then starts there instead of at the
//! queue's head.
//!
//! Why: a claim takes a campaign's queued members in order (due time, id)
//! through the index of (campaign, status, due time, id), and PostgreSQL
//! leaves the index entries of the members it claimed in place until
//! vacuum. Every claim, and the check for campaigns with due members,
//! walked all those dead entries first: on a 40,000-member campaign about
//! 360 pages per statement by its end, growing with the campaign
//! (`pg_stat_statements`, dispatch benchmark). SQLite removes an index
//! entry when its row changes, so it keeps no fronts.
//!
//! A front is a hint, never a reason to leave a member behind: a claim
//! from a front that finds fewer members than it asked for claims again
//! from the head (members can be queued again behind a front: a lost
//! lease, a claim handed back), and a front is trusted for one second
//! only, after which the next claim starts from the head again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Id;

/// How long a front is trusted: members queued again behind it wait at
/// most about this long for their turn.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// The last claimed member's place in its campaign's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    pub due_at: i64,
    pub id: Id,
}

struct Front {
    place: Place,
    /// When a claim from the head set it.
    since: Instant,
}

#[derive(Default)]
pub(super) struct QueueFronts {
    fronts: Mutex<HashMap<Id, Front>>,
}

impl QueueFronts {
    /// The campaign's front, while it may be trusted.
    pub(super) fn of(&self, campaign: Id) -> Option<Place> {
        let mut fronts = self.fronts.lock().expect("queue fronts lock");
        match fronts.get(&campaign) {
            Some(front) if front.since.elapsed() < TRUSTED_FOR => Some(front.place),
            Some(_) => {
                fronts.remove(&campaign);
                None
            }
            None => None,
        }
    }

    /// Campaigns with a trusted front: their last claim found members
    /// enough, so they are worth a claim without looking first. The others
    /// are forgotten here (a campaign that stopped sending would otherwise
    /// keep its entry for good).
    pub(super) fn campaigns(&self) -> Vec<Id> {
        let mut fronts = self.fronts.lock().expect("queue fronts lock");
        fronts.retain(|_, front| front.since.elapsed() < TRUSTED_FOR);
        fronts.keys().copied().collect()
    }

    /// A claim took all it asked for, up to `place`: the next starts after
    /// it. `from_head`: this claim started at the queue's head, so the
    /// front is trusted anew.
    pub(super) fn claimed_up_to(&self, campaign: Id, place: Place, from_head: bool) {
        let mut fronts = self.fronts.lock().expect("queue fronts lock");
        match fronts.get_mut(&campaign) {
            Some(front) if !from_head => front.place = front.place.max(place),
            _ => {
                fronts.insert(
                    campaign,
                    Front {
                        place,
                        since: Instant::now(),
                    },
                );
            }
        }
    }

    /// A claim found fewer members than it asked for: the next starts at
    /// the head.
    pub(super) fn forget(&self, campaign: Id) {
        self.fronts
            .lock()
            .expect("queue fronts lock")
            .remove(&campaign);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(due_at: i64, id: Id) -> Place {
        Place { due_at, id }
    }

    #[test]
    fn a_front_moves_forward_only_and_is_forgotten_when_a_claim_runs_short() {
        let fronts = QueueFronts::default();
        assert_eq!(fronts.of(7), None);
        fronts.claimed_up_to(7, place(100, 50), true);
        fronts.claimed_up_to(7, place(100, 40), false);
        assert_eq!(fronts.of(7), Some(place(100, 50)));
        fronts.claimed_up_to(7, place(100, 90), false);
        assert_eq!(fronts.of(7), Some(place(100, 90)));
        assert_eq!(fronts.campaigns(), vec![7]);
        fronts.forget(7);
        assert_eq!(fronts.of(7), None);
        assert!(fronts.campaigns().is_empty());
    }

    #[test]
    fn a_front_is_trusted_for_a_second_from_the_claim_that_started_at_the_head() {
        let fronts = QueueFronts::default();
        fronts.claimed_up_to(3, place(1, 1), true);
        // Aged past trust: claims from it since do not renew it.
        fronts.fronts.lock().unwrap().get_mut(&3).unwrap().since =
            Instant::now() - TRUSTED_FOR - Duration::from_millis(1);
        fronts.claimed_up_to(3, place(1, 2), false);
        assert_eq!(fronts.of(3), None);
        assert!(fronts.campaigns().is_empty());
    }
}

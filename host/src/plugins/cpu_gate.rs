//! Keeps runaway guests from crowding out everyone else's. A provider call
//! needs well under a millisecond of CPU; a call past `LIGHT` of guest
//! work (more for a plugin an admin gave a larger budget: [`light_for`])
//! is "heavy", and heavy calls, whoever's they are, take turns on one
//! shared slot an epoch tick at a time, the slot resting `REST` after each.
//! All heavy guests together then get at most a fifteenth of one core, however
//! many there are, while ordinary calls never wait for the slot: a tenant
//! whose plugin spins slows its own calls, not its neighbours'.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Guest CPU after which a call is heavy: several times what any bundled
/// plugin's call needs (a heavy call is only slowed, its budget is what
/// stops it).
pub const LIGHT: Duration = Duration::from_millis(2);

/// The heavy threshold of a call whose CPU budget is `budget`: [`LIGHT`]
/// under the server's default budget (50 ms), and the same share of a
/// larger budget an admin gave one plugin (`PUT /v1/admin/plugins/{name}/
/// limits`): a plugin on a heavier runtime, such as the Python one
/// (CPython: about 2 ms a call), then runs its ordinary calls without
/// waiting for the heavy slot, and nobody else's threshold moves.
pub fn light_for(budget: Duration) -> Duration {
    LIGHT.max(budget / 25)
}
/// How long the slot rests after each heavy turn (a turn lasts a 2 ms
/// epoch tick): heavy guests get at most 2 / (2 + 28) of one core, so a
/// call's 50 ms CPU budget lasts at least 750 ms of wall time. What heavy
/// guests take is what their neighbours lose on a busy machine: with a
/// quarter (6 ms rests) a tenant sending beside another's spinning plugin
/// spent 38-65% more Herald CPU per message (noisy benchmark, 2 cores);
/// with a tenth (18 ms), 22-32%, of which the hostile calls' own work
/// (measured with the sender paused) was 11% of a core.
const REST: Duration = Duration::from_millis(28);

pub struct CpuGate {
    slot: Arc<Semaphore>,
}

impl Default for CpuGate {
    fn default() -> Self {
        Self {
            slot: Arc::new(Semaphore::new(1)),
        }
    }
}

/// One call's hold on the slot, between its turns.
#[derive(Clone, Default)]
pub struct Turn {
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl CpuGate {
    /// Ends `turn`'s current turn (the slot rests, then opens to the next
    /// heavy call) and answers the wait for its next one.
    pub fn next_turn(&self, turn: &Turn) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        if let Some(permit) = turn.held.lock().expect("turn lock").take() {
            tokio::spawn(async move {
                tokio::time::sleep(REST).await;
                drop(permit);
            });
        }
        let (slot, held) = (self.slot.clone(), turn.held.clone());
        Box::pin(async move {
            let permit = slot.acquire_owned().await.expect("never closed");
            *held.lock().expect("turn lock") = Some(permit);
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn only_a_larger_budget_moves_the_threshold() {
        assert_eq!(light_for(Duration::from_millis(50)), LIGHT);
        assert_eq!(light_for(Duration::from_millis(20)), LIGHT);
        assert_eq!(
            light_for(Duration::from_millis(250)),
            Duration::from_millis(10)
        );
    }

    #[tokio::test]
    async fn heavy_turns_are_one_at_a_time_with_rests_between() {
        let gate = Arc::new(CpuGate::default());
        let (a, b) = (Turn::default(), Turn::default());
        gate.next_turn(&a).await;
        let started = Instant::now();
        // b waits while a holds the slot, and for the rest after a's turn.
        let b_turn = tokio::spawn({
            let (gate, b) = (gate.clone(), b.clone());
            async move { gate.next_turn(&b).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!b_turn.is_finished(), "the slot is a's");
        // a's turn ends (its next wait is not needed here).
        drop(gate.next_turn(&a));
        b_turn.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(30) + REST);
    }
}

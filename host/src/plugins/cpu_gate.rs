//! Keeps runaway guests from crowding out everyone else's. A provider call
//! needs well under a millisecond of CPU; a call past `LIGHT` of guest
//! work (more for a plugin an admin gave a larger budget: [`light_for`])
//! is "heavy", and heavy calls, whoever's they are, take turns on one
//! shared slot an epoch tick at a time, the slot resting after each turn
//! 14 times the CPU the turn took. All heavy guests together then get at
//! most a fifteenth of one core, however
//! many there are, while ordinary calls never wait for the slot: a tenant
//! whose plugin spins slows its own calls, not its neighbours'.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Guest CPU after which a call is heavy: a hundred times what a Rust
/// plugin's call needs, and about twice a Python one's (CPython: 2 ms a
/// call on a fast core, 2.5 on a slower one, where a 2 ms threshold put
/// most of its calls on the heavy slot: its status callbacks then queued
/// for seconds and the provider gave up on them). A heavy call is only
/// slowed; its budget is what stops it. A version whose ordinary calls
/// need more gets a threshold fitted to them (`usual_cpu`).
pub const LIGHT: Duration = Duration::from_millis(5);

/// The heavy threshold of a call whose CPU budget is `budget`: [`LIGHT`]
/// under the server's default budget (50 ms), and the same share of a
/// larger budget an admin gave one plugin (`PUT /v1/admin/plugins/{name}/
/// limits`): a plugin whose ordinary calls need more still runs them
/// without waiting for the heavy slot, and nobody else's threshold moves.
pub fn light_for(budget: Duration) -> Duration {
    LIGHT.max(budget / 10)
}
/// Heavy guests together get at most one part in `SHARE` of one core:
/// after each turn the slot rests `SHARE - 1` times the CPU the turn took.
/// Resting in proportion to what the turn used, not a fixed time, keeps
/// the share when epoch ticks come late on a saturated machine (a turn
/// lasts until the next tick: 2 ms nominally, 10 ms or more under load,
/// when a fixed 28 ms rest let spinning guests take 15% of Herald's
/// samples instead of 1/15 of a core). With a quarter a tenant sending
/// beside another's spinning plugin spent 38-65% more Herald CPU per
/// message (noisy benchmark, 2 cores); with a tenth, 22-32%, of which the
/// hostile calls' own work (measured with the sender paused) was 11% of a
/// core; with a fifteenth, 6.5-9%. A call's 50 ms CPU budget then lasts
/// at least 750 ms of wall time.
const SHARE: u32 = 15;

/// The shortest rest: a turn that used almost no CPU (its guest was in a
/// host call) still lets the next heavy call in.
const MIN_REST: Duration = Duration::from_millis(2);

/// How long the slot rests after a turn that used `turn_cpu`.
pub fn rest_after(turn_cpu: Duration) -> Duration {
    (turn_cpu * (SHARE - 1)).max(MIN_REST)
}

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
    held: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    permit: Option<OwnedSemaphorePermit>,
    /// The call's CPU when its current turn began.
    began: Duration,
}

impl CpuGate {
    /// Ends `turn`'s current turn, the call having used `used` CPU so far
    /// (the slot rests in proportion to this turn's share of it, then
    /// opens to the next heavy call), and answers the wait for its next
    /// one.
    pub fn next_turn(
        &self,
        turn: &Turn,
        used: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut held = turn.held.lock().expect("turn lock");
        if let Some(permit) = held.permit.take() {
            let rest = rest_after(used.saturating_sub(held.began));
            tokio::spawn(async move {
                tokio::time::sleep(rest).await;
                drop(permit);
            });
        }
        // The guest makes no progress until its next turn begins.
        held.began = used;
        drop(held);
        let (slot, held) = (self.slot.clone(), turn.held.clone());
        Box::pin(async move {
            let permit = slot.acquire_owned().await.expect("never closed");
            held.lock().expect("turn lock").permit = Some(permit);
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
            Duration::from_millis(25)
        );
    }

    #[tokio::test]
    async fn heavy_turns_are_one_at_a_time_with_rests_between() {
        let gate = Arc::new(CpuGate::default());
        let (a, b) = (Turn::default(), Turn::default());
        gate.next_turn(&a, Duration::ZERO).await;
        let started = Instant::now();
        // b waits while a holds the slot, and for the rest after a's turn.
        let b_turn = tokio::spawn({
            let (gate, b) = (gate.clone(), b.clone());
            async move { gate.next_turn(&b, Duration::ZERO).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!b_turn.is_finished(), "the slot is a's");
        // a's turn ends having used 3 ms of CPU (its next wait is not
        // needed here): the slot rests 14 times that before b's turn.
        drop(gate.next_turn(&a, Duration::from_millis(3)));
        b_turn.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(30 + 42));
    }

    #[test]
    fn a_longer_turn_buys_a_longer_rest() {
        // A nominal 2 ms tick: the fixed rest it replaced.
        assert_eq!(
            rest_after(Duration::from_millis(2)),
            Duration::from_millis(28)
        );
        // A tick that came late on a busy machine: the share holds.
        assert_eq!(
            rest_after(Duration::from_millis(10)),
            Duration::from_millis(140)
        );
        // A turn spent in a host call still lets the next heavy call in.
        assert_eq!(rest_after(Duration::ZERO), MIN_REST);
    }
}

//! The send path's writer: sends about to start (from `call_start`), the
//! outcomes of sends (from the dispatcher) and the delivery receipts of
//! status callbacks (from `receipt_writer`), whatever of them is waiting:
//! the outcomes and receipts in one transaction (`Store::write_sends`),
//! the starts in one before it (see [`write`]). As three writers each paid
//! a transaction for its batch: on SQLite, whose one writer they queued for
//! in turn, 128 of the 159 transactions per 1,000 messages (55 in one
//! writer, besides 31 claims; with the starts apart, 37 besides 23 claims
//! in stop 52's runs). On PostgreSQL the starts keep a writer of their own
//! (see [`Inputs::split`]).
//!
//! No lingering to fill a batch: whatever arrived while the previous batch
//! committed goes into the next one, so a start or an outcome waits at most
//! one commit for its own (a crash meanwhile can only cost those few).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Engine;
use super::batch::{Reply, answer};
use super::call_start::QueuedStart;
use super::receipt_writer::QueuedReceipt;
use crate::store::{Backend, ClaimedMember, Id, SendOutcome, SendWrites};

/// Outcomes written per transaction at most.
const OUTCOME_BATCH: usize = 200;

/// A send's member with its outcome, from the dispatcher.
pub type Finished = (ClaimedMember, SendOutcome);

/// What waits for the next transaction.
struct Waiting {
    starts: Vec<QueuedStart>,
    finished: Vec<Finished>,
    receipts: Vec<QueuedReceipt>,
}

/// The send path's inputs a writer takes: `None`, another writer's.
pub struct Inputs {
    pub starts: Option<mpsc::Receiver<QueuedStart>>,
    pub outcomes: Option<mpsc::Receiver<Finished>>,
    pub receipts: Option<mpsc::Receiver<QueuedReceipt>>,
}

impl Inputs {
    /// The writers of the send path, by what each takes. SQLite has one
    /// writer connection, so writers of their own would only queue for it
    /// in turn: one takes all three. PostgreSQL runs transactions side by
    /// side, and a start (its call waits for it) queued behind an outcome
    /// batch's commit cost more than the transaction saved (dispatch
    /// benchmark): the starts have a writer of their own.
    pub fn split(engine: &Engine, outcomes: mpsc::Receiver<Finished>) -> Vec<Inputs> {
        let taken = "the queue is taken once, by the send writers";
        let starts = engine.call_starts.take_inbox().expect(taken);
        let receipts = engine.receipts.take_inbox().expect(taken);
        let after_calls = Inputs {
            starts: None,
            outcomes: Some(outcomes),
            receipts: Some(receipts),
        };
        match engine.store.backend() {
            Backend::Sqlite => vec![Inputs {
                starts: Some(starts),
                ..after_calls
            }],
            Backend::Postgres => vec![
                Inputs {
                    starts: Some(starts),
                    outcomes: None,
                    receipts: None,
                },
                after_calls,
            ],
        }
    }
}

/// Writes until each of its inputs closes (the process stops).
pub async fn run(engine: Arc<Engine>, inputs: Inputs) {
    let Inputs {
        starts,
        outcomes,
        receipts,
    } = inputs;
    let (start_max, receipt_max) = (engine.call_starts.batch_max(), engine.receipts.batch_max());
    let mut waiting = Waiting {
        starts: Vec::with_capacity(start_max),
        finished: Vec::with_capacity(OUTCOME_BATCH),
        receipts: Vec::with_capacity(receipt_max),
    };
    let mut open = [starts.is_some(), outcomes.is_some(), receipts.is_some()];
    let (mut starts, mut outcomes, mut receipts) = (
        starts.unwrap_or_else(closed),
        outcomes.unwrap_or_else(closed),
        receipts.unwrap_or_else(closed),
    );
    while open.contains(&true) {
        tokio::select! {
            n = starts.recv_many(&mut waiting.starts, start_max), if open[0] => open[0] = n > 0,
            n = outcomes.recv_many(&mut waiting.finished, OUTCOME_BATCH), if open[1] => {
                open[1] = n > 0;
            }
            n = receipts.recv_many(&mut waiting.receipts, receipt_max), if open[2] => {
                open[2] = n > 0;
            }
        }
        // And whatever else is waiting already.
        take_waiting(&mut starts, &mut waiting.starts, start_max);
        take_waiting(&mut outcomes, &mut waiting.finished, OUTCOME_BATCH);
        take_waiting(&mut receipts, &mut waiting.receipts, receipt_max);
        write(&engine, &mut waiting).await;
    }
}

/// A queue nothing is sent to: an input another writer takes.
fn closed<T>() -> mpsc::Receiver<T> {
    mpsc::channel(1).1
}

/// Moves up to `max` items that are already queued into `into`.
fn take_waiting<T>(from: &mut mpsc::Receiver<T>, into: &mut Vec<T>, max: usize) {
    while into.len() < max {
        match from.try_recv() {
            Ok(item) => into.push(item),
            Err(_) => return,
        }
    }
}

/// Writes what is waiting and empties `waiting`: the starts first, in a
/// transaction of their own when outcomes or receipts wait with them.
///
/// A start's plugin call waits for its commit, and its send holds a slot
/// meanwhile; outcomes and receipts hold nothing of the send path's. Taken
/// into one transaction, a start waited for the outcomes' and receipts'
/// writes too: against a provider answering in 50 ms, 6.6 ms from queueing
/// to commit, and each send held its slot 66 ms for a 54 ms call. Alone,
/// 3.3 ms, and the campaign sent 4-10% faster (dispatch benchmark,
/// `--provider-latency-ms=50`, four alternating runs). When the provider
/// answers at once the split costs 7 more transactions per 1,000 messages
/// (60, against 53), and Herald's CPU per message moved within the runs'
/// own spread. On PostgreSQL the starts have a writer of their own already
/// (see [`Inputs::split`]).
async fn write(engine: &Engine, waiting: &mut Waiting) {
    if let Some(mut starts) = waiting.starts_first() {
        commit(engine, &mut starts).await;
    }
    commit(engine, waiting).await;
}

impl Waiting {
    /// The starts, taken out to be committed before the rest, when
    /// outcomes or receipts wait with them; `None` when one transaction
    /// holds all there is.
    fn starts_first(&mut self) -> Option<Waiting> {
        if self.starts.is_empty() || (self.finished.is_empty() && self.receipts.is_empty()) {
            return None;
        }
        Some(Waiting {
            starts: std::mem::take(&mut self.starts),
            finished: Vec::new(),
            receipts: Vec::new(),
        })
    }
}

/// Writes what is waiting, together, and empties `waiting`. A failed write
/// answers the starts (their members are handed back) and the callbacks
/// (their providers are answered 500 and retry) at once, and retries the
/// outcomes until they are written: losing one would leave a member
/// `sending` until its lease runs out.
async fn commit(engine: &Engine, waiting: &mut Waiting) {
    let (starts, start_replies) = split(&mut waiting.starts);
    let (receipts, receipt_replies) = split(&mut waiting.receipts);
    let finished = std::mem::take(&mut waiting.finished);
    if starts.is_empty() && finished.is_empty() && receipts.is_empty() {
        return;
    }
    if !finished.is_empty() {
        metrics::histogram!("herald_outcome_batch_size").record(finished.len() as f64);
    }
    if !receipts.is_empty() {
        metrics::histogram!("herald_receipt_batch_size").record(receipts.len() as f64);
    }
    let writes = SendWrites {
        starts: &starts,
        outcomes: &finished,
        receipts: &receipts,
    };
    let began = std::time::Instant::now();
    let written = engine
        .store
        .write_sends(
            &engine.config.instance_id,
            writes,
            engine.receipt_check_ms(),
        )
        .await;
    if !receipts.is_empty() {
        metrics::histogram!("herald_receipt_commit_seconds").record(began.elapsed());
    }
    let campaigns = match written {
        Ok(written) => {
            let go = |id: &Id| written.started.contains(id);
            answer(start_replies, Ok(starts.iter().map(go).collect()));
            answer(receipt_replies, Ok(written.receipts));
            written.campaigns
        }
        Err(e) => {
            let why = e.to_string();
            if !receipts.is_empty() {
                tracing::error!(
                    error = why,
                    receipts = receipts.len(),
                    "writing delivery receipts failed; the providers are answered 500 and retry"
                );
            }
            answer(start_replies, Err(why.clone()));
            answer(receipt_replies, Err(why.clone()));
            if finished.is_empty() {
                return;
            }
            tracing::error!(
                error = why,
                batch = finished.len(),
                "recording outcomes failed; retrying"
            );
            record_until_written(engine, &finished).await
        }
    };
    if finished.is_empty() {
        return;
    }
    metrics::histogram!("herald_outcome_commit_seconds").record(began.elapsed());
    engine.in_flight.outcomes_written(finished.len());
    engine.completion.ask(&campaigns);
    // Retries due now (e.g. after a pause-worthy error) need a claim pass.
    engine.wake();
}

/// The items of `queued` and, in the same order, where their answers go.
fn split<I, O>(queued: &mut Vec<(I, Reply<O>)>) -> (Vec<I>, Vec<Reply<O>>) {
    let (mut items, mut replies) = (Vec::new(), Vec::new());
    for (item, reply) in queued.drain(..) {
        items.push(item);
        replies.push(reply);
    }
    (items, replies)
}

/// Records `finished` alone, retrying with backoff until it is written.
async fn record_until_written(engine: &Engine, finished: &[Finished]) -> Vec<Id> {
    let mut delay = Duration::from_millis(100);
    loop {
        tokio::time::sleep(delay).await;
        match engine
            .store
            .record_outcomes(
                &engine.config.instance_id,
                finished,
                engine.receipt_check_ms(),
            )
            .await
        {
            Ok(campaigns) => return campaigns,
            Err(e) => {
                tracing::error!(error = %e, batch = finished.len(), "recording outcomes failed; retrying");
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::domain::member::MemberStatus;
    use crate::store::Receipt;

    fn start(member: Id) -> QueuedStart {
        (member, oneshot::channel().0)
    }

    fn receipt(member: Id) -> QueuedReceipt {
        let receipt = Receipt {
            channel_id: 1,
            provider_message_id: format!("SM{member}"),
            status: MemberStatus::Delivered,
            error_code: None,
            error_message: None,
            at: 0,
        };
        ((member, receipt), oneshot::channel().0)
    }

    fn waiting(starts: &[Id], receipts: &[Id]) -> Waiting {
        Waiting {
            starts: starts.iter().copied().map(start).collect(),
            finished: Vec::new(),
            receipts: receipts.iter().copied().map(receipt).collect(),
        }
    }

    /// A start's call waits for its commit: with receipts waiting too, the
    /// starts are committed first, on their own, and the receipts after.
    #[test]
    fn starts_waiting_beside_receipts_are_committed_first_and_alone() {
        let mut queued = waiting(&[1, 2], &[7, 8, 9]);
        let first = queued.starts_first().expect("the starts go first");
        let firsts: Vec<Id> = first.starts.iter().map(|(id, _)| *id).collect();
        assert_eq!(firsts, [1, 2]);
        assert!(first.receipts.is_empty() && first.finished.is_empty());
        let rest: Vec<Id> = queued.receipts.iter().map(|((id, _), _)| *id).collect();
        assert_eq!(
            rest,
            [7, 8, 9],
            "the receipts stay for the next transaction"
        );
        assert!(queued.starts.is_empty(), "no start is written twice");
    }

    /// Alone, starts (or receipts) need no second transaction.
    #[test]
    fn one_kind_waiting_alone_is_one_transaction() {
        assert!(waiting(&[1, 2], &[]).starts_first().is_none());
        assert!(waiting(&[], &[7]).starts_first().is_none());
    }
}

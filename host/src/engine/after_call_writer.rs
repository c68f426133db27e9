//! Writes what calls leave behind: the outcomes of sends (from the
//! dispatcher) and the delivery receipts of status callbacks (from
//! `receipt_writer`), whatever of both is waiting, in one transaction
//! (`Store::write_after_calls`). As separate writers each paid a
//! transaction for its batch: on SQLite, whose one writer they queue for,
//! half the transactions of the send path.
//!
//! No lingering to fill a batch: whatever arrived while the previous batch
//! committed goes into the next one, so an outcome waits at most one commit
//! (a crash meanwhile can only cost those few) and a callback's answer one
//! commit more than its own write.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Engine;
use super::batch::{Reply, answer};
use super::receipt_writer::QueuedReceipt;
use crate::store::{ClaimedMember, Id, Receipt, SendOutcome};

/// Outcomes written per transaction at most.
const OUTCOME_BATCH: usize = 200;

/// A send's member with its outcome, from the dispatcher.
pub type Finished = (ClaimedMember, SendOutcome);

/// Writes until both inputs close (the process stops).
pub async fn run(engine: Arc<Engine>, mut outcomes: mpsc::Receiver<Finished>) {
    let mut receipts = engine
        .receipts
        .take_inbox()
        .expect("the receipts' queue is taken once, by this writer");
    let receipt_max = engine.receipts.batch_max();
    let mut finished: Vec<Finished> = Vec::with_capacity(OUTCOME_BATCH);
    let mut arrived: Vec<QueuedReceipt> = Vec::with_capacity(receipt_max);
    let (mut outcomes_open, mut receipts_open) = (true, true);
    while outcomes_open || receipts_open {
        tokio::select! {
            n = outcomes.recv_many(&mut finished, OUTCOME_BATCH), if outcomes_open => {
                outcomes_open = n > 0;
            }
            n = receipts.recv_many(&mut arrived, receipt_max), if receipts_open => {
                receipts_open = n > 0;
            }
        }
        // And whatever of the other is waiting already.
        take_waiting(&mut outcomes, &mut finished, OUTCOME_BATCH);
        take_waiting(&mut receipts, &mut arrived, receipt_max);
        if finished.is_empty() && arrived.is_empty() {
            continue;
        }
        let (mut batch, mut replies) = (Vec::new(), Vec::new());
        for (receipt, reply) in arrived.drain(..) {
            batch.push(receipt);
            replies.push(reply);
        }
        write(&engine, &finished, batch, replies).await;
        finished.clear();
    }
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

/// Writes `finished` and `receipts` together. A failed write answers the
/// callbacks at once (their providers are answered 500 and retry) and
/// retries the outcomes until they are written: losing one would leave a
/// member `sending` until its lease runs out.
async fn write(
    engine: &Engine,
    finished: &[Finished],
    receipts: Vec<(Id, Receipt)>,
    replies: Vec<Reply<Option<Id>>>,
) {
    if !finished.is_empty() {
        metrics::histogram!("herald_outcome_batch_size").record(finished.len() as f64);
    }
    if !receipts.is_empty() {
        metrics::histogram!("herald_receipt_batch_size").record(receipts.len() as f64);
    }
    let started = std::time::Instant::now();
    let written = engine
        .store
        .write_after_calls(
            &engine.config.instance_id,
            finished,
            engine.receipt_check_ms(),
            &receipts,
        )
        .await;
    let elapsed = started.elapsed();
    let campaigns = match written {
        Ok(written) => {
            if !receipts.is_empty() {
                metrics::histogram!("herald_receipt_commit_seconds").record(elapsed);
            }
            answer(replies, Ok(written.receipts));
            written.campaigns
        }
        Err(e) => {
            if !receipts.is_empty() {
                tracing::error!(error = %e, receipts = receipts.len(),
                    "writing delivery receipts failed; the providers are answered 500 and retry");
            }
            answer(replies, Err(e.to_string()));
            if finished.is_empty() {
                return;
            }
            tracing::error!(error = %e, batch = finished.len(), "recording outcomes failed; retrying");
            record_until_written(engine, finished).await
        }
    };
    if finished.is_empty() {
        return;
    }
    metrics::histogram!("herald_outcome_commit_seconds").record(started.elapsed());
    engine.in_flight.outcomes_written(finished.len());
    engine.completion.ask(&campaigns);
    // Retries due now (e.g. after a pause-worthy error) need a claim pass.
    engine.wake();
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

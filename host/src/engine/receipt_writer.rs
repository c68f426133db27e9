//! Delivery receipts written in batches. Each status callback waits until
//! its receipt is committed before the provider gets its 2xx (nothing is
//! lost: a failed write answers 5xx and the provider retries), but the
//! receipts that arrive while one batch commits share the next
//! transaction: one commit for many callbacks instead of one each.

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Id, Receipt, Store, StoreError};

/// Receipts applied per transaction at most.
const BATCH: usize = 256;

type Answer = Result<Option<Id>, String>;

struct Pending {
    tenant: Id,
    receipt: Receipt,
    done: oneshot::Sender<Answer>,
}

pub struct ReceiptWriter {
    queue: mpsc::Sender<Pending>,
    /// Taken by [`ReceiptWriter::run`] when the engine starts.
    inbox: Mutex<Option<mpsc::Receiver<Pending>>>,
}

impl Default for ReceiptWriter {
    fn default() -> Self {
        let (queue, inbox) = mpsc::channel(BATCH * 4);
        Self {
            queue,
            inbox: Mutex::new(Some(inbox)),
        }
    }
}

impl ReceiptWriter {
    /// Applies one receipt (see [`Store::apply_receipts`]) with whatever
    /// else is waiting; answers the campaign of the member it changed.
    pub async fn apply(
        &self,
        store: &Store,
        tenant: Id,
        receipt: Receipt,
    ) -> Result<Option<Id>, StoreError> {
        let writer_running = self.inbox.lock().expect("inbox lock").is_none();
        if !writer_running {
            // An engine that was never started (tools, tests): write alone.
            return Ok(store.apply_receipts(&[(tenant, receipt)]).await?[0]);
        }
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            tenant,
            receipt,
            done,
        };
        if self.queue.send(pending).await.is_err() {
            return Err(StoreError::Conflict("the receipt writer stopped".into()));
        }
        match answer.await {
            Ok(Ok(touched)) => Ok(touched),
            Ok(Err(e)) => Err(StoreError::Conflict(format!(
                "writing receipts failed: {e}"
            ))),
            Err(_) => Err(StoreError::Conflict("the receipt writer stopped".into())),
        }
    }

    /// Writes batches until the process stops: everything queued when the
    /// previous batch committed goes into the next one.
    pub async fn run(&self, store: Store) {
        let Some(mut inbox) = self.inbox.lock().expect("inbox lock").take() else {
            return;
        };
        let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
        while inbox.recv_many(&mut batch, BATCH).await > 0 {
            let receipts: Vec<(Id, Receipt)> = batch
                .iter()
                .map(|p| (p.tenant, p.receipt.clone()))
                .collect();
            metrics::histogram!("herald_receipt_batch_size").record(receipts.len() as f64);
            let started = std::time::Instant::now();
            let written = store.apply_receipts(&receipts).await;
            metrics::histogram!("herald_receipt_commit_seconds").record(started.elapsed());
            match written {
                Ok(touched) => {
                    for (pending, touched) in batch.drain(..).zip(touched) {
                        let _ = pending.done.send(Ok(touched));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, receipts = batch.len(), "writing delivery receipts failed; the providers are answered 500 and retry");
                    let why = e.to_string();
                    for pending in batch.drain(..) {
                        let _ = pending.done.send(Err(why.clone()));
                    }
                }
            }
        }
    }
}

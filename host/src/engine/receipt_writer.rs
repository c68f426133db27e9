//! Delivery receipts written in batches (see `batch`). Each status callback
//! waits until its receipt is committed before the provider gets its 2xx
//! (nothing is lost: a failed write answers 5xx and the provider retries),
//! but the receipts that arrive while one batch commits share the next
//! transaction: one commit for many callbacks instead of one each.

use super::batch::Batcher;
use crate::store::{Id, Receipt, Store, StoreError};

/// Receipts applied per transaction at most.
const BATCH: usize = 256;

pub struct ReceiptWriter {
    batcher: Batcher<(Id, Receipt), Option<Id>>,
}

impl Default for ReceiptWriter {
    fn default() -> Self {
        Self {
            batcher: Batcher::new(BATCH),
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
        if !self.batcher.running() {
            return Ok(store.apply_receipts(&[(tenant, receipt)]).await?[0]);
        }
        self.batcher
            .submit((tenant, receipt))
            .await
            .map_err(|why| StoreError::Conflict(format!("writing receipts failed: {why}")))
    }

    /// Writes batches until the process stops.
    pub async fn run(&self, store: Store) {
        self.batcher
            .run(|receipts| {
                let store = store.clone();
                async move {
                    metrics::histogram!("herald_receipt_batch_size").record(receipts.len() as f64);
                    let started = std::time::Instant::now();
                    let written = store.apply_receipts(&receipts).await;
                    metrics::histogram!("herald_receipt_commit_seconds").record(started.elapsed());
                    written.map_err(|e| {
                        tracing::error!(error = %e, receipts = receipts.len(),
                            "writing delivery receipts failed; the providers are answered 500 and retry");
                        e.to_string()
                    })
                }
            })
            .await
    }
}

//! Delivery receipts written in batches (see `batch`), with the outcomes
//! of sends (see `send_writer`). Each status callback
//! waits until its receipt is committed before the provider gets its 2xx
//! (nothing is lost: a failed write answers 5xx and the provider retries),
//! but the receipts that arrive while one batch commits share the next
//! transaction: one commit for many callbacks instead of one each.

use tokio::sync::mpsc;

use super::batch::{Batcher, Queued};
use crate::store::{Id, Receipt, Store, StoreError};

/// A callback's receipt (with its tenant), waiting for its batch.
pub(super) type QueuedReceipt = Queued<(Id, Receipt), Option<Id>>;

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

    /// The receipts waiting, for the writer that writes them with the
    /// outcomes of sends (`send_writer`).
    pub(super) fn take_inbox(&self) -> Option<mpsc::Receiver<QueuedReceipt>> {
        self.batcher.take_inbox()
    }

    /// Receipts per transaction at most.
    pub(super) fn batch_max(&self) -> usize {
        self.batcher.max()
    }
}

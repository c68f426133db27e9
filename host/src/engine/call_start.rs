//! The moment a claim becomes a send: right before its plugin call, after
//! every wait (its sender's turn above all), the member is marked `sending`
//! in the database. Until then a crash costs nothing: the claim returns to
//! the queue unsent. Marks are committed in batches (see `batch`): one
//! transaction for the sends that start together, with whatever outcomes
//! and receipts are waiting (`send_writer`).

use tokio::sync::mpsc;

use super::batch::{Batcher, Queued};
use crate::store::{Id, Store, StoreError};

/// A claim about to be sent, waiting for its batch.
pub(super) type QueuedStart = Queued<Id, bool>;

/// Sends started per transaction at most.
const BATCH: usize = 256;

pub struct CallStarts {
    batcher: Batcher<Id, bool>,
}

impl Default for CallStarts {
    fn default() -> Self {
        Self {
            batcher: Batcher::new(BATCH),
        }
    }
}

impl CallStarts {
    /// Marks `owner`'s claim of `member` `sending`. False: it must not be
    /// sent (its campaign stopped sending, or the claim is no longer
    /// `owner`'s).
    pub async fn start(&self, store: &Store, owner: &str, member: Id) -> Result<bool, StoreError> {
        if !self.batcher.running() {
            return Ok(!store.start_sends(owner, &[member]).await?.is_empty());
        }
        self.batcher
            .submit(member)
            .await
            .map_err(|why| StoreError::Conflict(format!("starting sends failed: {why}")))
    }

    /// The starts waiting, for the send path's writer (`send_writer`).
    pub(super) fn take_inbox(&self) -> Option<mpsc::Receiver<QueuedStart>> {
        self.batcher.take_inbox()
    }

    /// Starts per transaction at most.
    pub(super) fn batch_max(&self) -> usize {
        self.batcher.max()
    }
}

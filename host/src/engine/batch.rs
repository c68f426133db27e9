//! Group commit: many tasks each wait for their own item to be written,
//! and the items that arrive while one batch commits share the next
//! transaction. One commit for many callers, and each caller still learns
//! its own answer only once it is durable.

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

pub(super) type Reply<O> = oneshot::Sender<Result<O, String>>;
/// An item with where its answer goes.
pub(super) type Queued<I, O> = (I, Reply<O>);

pub struct Batcher<I, O> {
    queue: mpsc::Sender<Queued<I, O>>,
    /// Taken by [`Batcher::run`] when the engine starts.
    inbox: Mutex<Option<mpsc::Receiver<Queued<I, O>>>>,
    max: usize,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// At most `max` items per batch.
    pub fn new(max: usize) -> Self {
        let (queue, inbox) = mpsc::channel(max * 4);
        Self {
            queue,
            inbox: Mutex::new(Some(inbox)),
            max,
        }
    }

    /// Whether a writer took the queue (an engine that was never
    /// started has callers write alone).
    pub fn running(&self) -> bool {
        self.inbox.lock().expect("inbox lock").is_none()
    }

    /// Queues `item` and waits for its batch to be written.
    pub async fn submit(&self, item: I) -> Result<O, String> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send((item, reply)).await.is_err() {
            return Err("the writer stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("the writer stopped".into()))
    }

    /// The queue, for the writer that writes these items in batches, with
    /// others (`send_writer`); from then on [`Batcher::running`]. `None`
    /// once taken.
    pub(super) fn take_inbox(&self) -> Option<mpsc::Receiver<Queued<I, O>>> {
        self.inbox.lock().expect("inbox lock").take()
    }

    /// At most this many items per batch.
    pub(super) fn max(&self) -> usize {
        self.max
    }
}

/// Sends each waiting caller its answer (`written`: one per caller, in
/// order), or the batch's error.
pub(super) fn answer<O>(replies: Vec<Reply<O>>, written: Result<Vec<O>, String>) {
    match written {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Err(why) => {
            for reply in replies {
                let _ = reply.send(Err(why.clone()));
            }
        }
    }
}

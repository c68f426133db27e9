//! A channel's messages that are ready to go, sent in one plugin call
//! (contract 1.5, `sends.send-all`).
//!
//! While a campaign sends, every message was a `send` call of its own, and
//! each paid for a fresh instance: instantiating it, resetting its memory
//! and entering and leaving it cost several times the guest's own work (the
//! sandbox was about a fifth of Herald's CPU per message). Messages of one
//! channel (at one revision of its settings) that reach the plugin within
//! [`GATHER`] of each other now share one instance, and with
//! `batch-http.http-send-all` their requests are in flight together, as
//! separate calls' would be. Several batches of a channel may be under way
//! at once: a batch leaves as soon as it has gathered, whatever the calls
//! before it are doing.
//!
//! Send trust is kept per message. Each message has its own wire log, so
//! a call that fails as a whole (trap, deadline, budget, a list of the
//! wrong length) leaves every message judged by its own requests: one that
//! may have reached the provider is an uncertain send (looked up, never
//! resent blindly), any other is sent again at once with `send`, alone, so
//! one bad message cannot fail its neighbours. A message alone in its batch
//! is simply a `send` call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::call::{Call, Reply};
use super::host_imports::CallContext;
use super::loaded::LoadedPlugin;
use super::runtime::PluginFailure;
use super::webhook_batch::BatchKey;
use super::wire::{WireLog, WireSeen};
use super::wit;

/// How long a channel's next batch gathers before its call: a send waits
/// on its provider for tens to hundreds of milliseconds, so a millisecond
/// costs it nothing, while a campaign's messages then share an instance
/// by the dozen.
const GATHER: Duration = Duration::from_millis(1);

/// Messages in one call at most: as many requests as one `http-send-all`
/// takes.
pub(super) const MAX_MESSAGES: usize = super::batch_http::MAX_REQUESTS;

/// What `send` answers for one message, or the call's failure.
pub type SendAnswer = Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure>;

/// One message as the dispatcher hands it over.
struct Job {
    ctx: CallContext,
    config: wit::Config,
    message: wit::OutboundMessage,
}

/// A queued message, its wire log (shared with its sender, which reads it
/// whatever becomes of the call) and where its answer goes.
struct Waiting {
    job: Job,
    wire: WireLog,
    answer: oneshot::Sender<Answer>,
}

enum Answer {
    Sent(SendAnswer),
    /// Not sent: send it alone (a batch of one, or a batch that failed
    /// before this message's request left). Boxed: rare, and the job is
    /// several times the size of an answer.
    Alone(Box<Job>),
}

#[derive(Default)]
pub(super) struct SendBatches {
    /// The messages waiting per channel; a key is present while a batch
    /// for it gathers (its gatherer takes the batch from here).
    queues: Mutex<HashMap<BatchKey, Vec<Waiting>>>,
}

impl SendBatches {
    /// Queues a message. `true`: no batch was gathering for `key`, so the
    /// caller starts the gatherer.
    fn enqueue(&self, key: BatchKey, waiting: Waiting) -> bool {
        let mut queues = self.queues.lock().expect("send queues poisoned");
        let idle = !queues.contains_key(&key);
        queues.entry(key).or_default().push(waiting);
        idle
    }

    /// The next batch for `key`: the oldest waiting messages, up to
    /// [`MAX_MESSAGES`]; and whether more are waiting. When none is left
    /// the key is removed, so the next message starts a gatherer again.
    fn take(&self, key: BatchKey) -> (Vec<Waiting>, bool) {
        let mut queues = self.queues.lock().expect("send queues poisoned");
        let Some(queue) = queues.get_mut(&key) else {
            return (Vec::new(), false);
        };
        let batch: Vec<Waiting> = if queue.len() > MAX_MESSAGES {
            queue.drain(..MAX_MESSAGES).collect()
        } else {
            std::mem::take(queue)
        };
        let more = !queue.is_empty();
        if !more {
            queues.remove(&key);
        }
        (batch, more)
    }
}

impl LoadedPlugin {
    /// Sends a message of the channel at `key`, together with the
    /// channel's other messages ready to go when the plugin exports
    /// `send-all` (else, and for a suspect version, alone: [`Self::send`]).
    /// What `send` would answer, and what its requests may have done at
    /// the provider.
    pub async fn send_batched(
        self: &Arc<Self>,
        key: BatchKey,
        ctx: CallContext,
        config: wit::Config,
        message: wit::OutboundMessage,
    ) -> (SendAnswer, WireSeen) {
        if !self.pre.batches_sends() || self.suspect() {
            return self.send(ctx, config, message).await;
        }
        let wire = WireLog::default();
        let (answer, answered) = oneshot::channel();
        let job = Job {
            ctx,
            config,
            message,
        };
        let waiting = Waiting {
            job,
            wire: wire.clone(),
            answer,
        };
        if self.send_batches.enqueue(key, waiting) {
            tokio::spawn(self.clone().gather_sends(key));
        }
        match answered.await {
            Ok(Answer::Sent(answer)) => (answer, wire.seen()),
            Ok(Answer::Alone(job)) => self.send(job.ctx, job.config, job.message).await,
            // The batch's task ended without answering: its wire log still
            // says whether the request left.
            Err(_) => (
                Err(PluginFailure::Trap(
                    "the call sending this channel's messages ended".into(),
                )),
                wire.seen(),
            ),
        }
    }

    /// After [`GATHER`], starts a call for each batch of what `key` has
    /// waiting (more than one when more than [`MAX_MESSAGES`] wait).
    async fn gather_sends(self: Arc<Self>, key: BatchKey) {
        tokio::time::sleep(GATHER).await;
        loop {
            let (batch, more) = self.send_batches.take(key);
            if !batch.is_empty() {
                tokio::spawn(self.clone().send_batch(batch));
            }
            if !more {
                break;
            }
        }
    }

    /// One `send-all` call for `batch`, and each message's answer.
    async fn send_batch(self: Arc<Self>, mut batch: Vec<Waiting>) {
        metrics::histogram!("herald_send_batch_size").record(batch.len() as f64);
        if batch.len() == 1 {
            let Waiting { job, answer, .. } = batch.pop().expect("one");
            let _ = answer.send(Answer::Alone(Box::new(job)));
            return;
        }
        let count = batch.len();
        let ctx = batch[0].job.ctx.clone();
        let config = batch[0].job.config.clone();
        let mut messages = Vec::with_capacity(count);
        let mut waiting = Vec::with_capacity(count);
        for Waiting { job, wire, answer } in batch {
            let Job {
                ctx,
                config,
                message,
            } = job;
            messages.push(message);
            waiting.push((ctx, config, wire, answer));
        }
        let wires = waiting.iter().map(|(_, _, wire, _)| wire.clone()).collect();
        let messages = Arc::new(messages);
        let channel = ctx.channel_id;
        let started = Instant::now();
        let result = self.send_all(ctx, config, messages.clone(), wires).await;
        // Counted as the calls it decided: one per message it answered (a
        // message sent alone after it failed is counted by its own call),
        // at least one; and a failure as one fault, as a `send` that
        // failed: one defect, whatever the number of messages it held
        // (counted per message, one trap among 19 messages paused a
        // channel whose other 11 calls were sound).
        let (decided, faults) = match result {
            Ok(replies) if replies.len() == count => {
                for ((_, _, _, answer), reply) in waiting.into_iter().zip(replies) {
                    let _ = answer.send(Answer::Sent(Ok(reply)));
                }
                (count, 0)
            }
            other => {
                let failure = match other {
                    Err(failure) => failure,
                    Ok(replies) => PluginFailure::Trap(format!(
                        "send-all answered {} results for {count} messages",
                        replies.len()
                    )),
                };
                tracing::warn!(plugin = self.name(), version = self.version(), messages = count,
                    error = %failure, "send-all failed as a whole; messages whose requests left are looked up, the others sent alone");
                let messages = Arc::try_unwrap(messages).unwrap_or_else(|shared| (*shared).clone());
                let mut reached = 0;
                for ((ctx, config, wire, answer), message) in waiting.into_iter().zip(messages) {
                    let reply = if wire.seen().may_have_reached() {
                        reached += 1;
                        Answer::Sent(Err(failure.clone()))
                    } else {
                        Answer::Alone(Box::new(Job {
                            ctx,
                            config,
                            message,
                        }))
                    };
                    let _ = answer.send(reply);
                }
                (reached.max(1), 1)
            }
        };
        self.count_send_all(channel, started.elapsed(), decided, faults);
    }

    /// Counts a `send-all` call in the version's statistics and its
    /// channel's (see `CallStats::record_many`).
    fn count_send_all(&self, channel: Option<i64>, elapsed: Duration, calls: usize, faults: usize) {
        let (calls, faults) = (calls as u64, faults as u64);
        self.stats.record_many(elapsed, calls, faults);
        if let Some(channel) = channel {
            self.channel_faults
                .record_many(channel, elapsed, calls, faults);
        }
        metrics::histogram!("herald_plugin_call_seconds", "export" => "send-all").record(elapsed);
    }

    /// The plugin exports `sends.send-all` (1.5) and runs in the sandbox.
    pub fn batches_sends(&self) -> bool {
        self.pre.batches_sends()
    }

    /// One `send-all` call for `messages` as given, and what each
    /// message's requests may have done at the provider (the plugin
    /// check's: whether the plugin answers and tags them as it should).
    pub async fn send_all_watched(
        &self,
        ctx: CallContext,
        config: wit::Config,
        messages: Vec<wit::OutboundMessage>,
    ) -> (
        Result<Vec<Result<wit::SendReceipt, wit::SendError>>, PluginFailure>,
        Vec<WireSeen>,
    ) {
        let wires: Vec<WireLog> = messages.iter().map(|_| WireLog::default()).collect();
        let (count, channel, started) = (messages.len(), ctx.channel_id, Instant::now());
        let result = self
            .send_all(ctx, config, Arc::new(messages), wires.clone())
            .await;
        let faults = usize::from(result.is_err());
        self.count_send_all(channel, started.elapsed(), count, faults);
        (result, wires.iter().map(WireLog::seen).collect())
    }

    /// One `send-all` call (counted by its callers, once they know what it
    /// decided).
    async fn send_all(
        &self,
        ctx: CallContext,
        config: wit::Config,
        messages: Arc<Vec<wit::OutboundMessage>>,
        wires: Vec<WireLog>,
    ) -> Result<Vec<Result<wit::SendReceipt, wit::SendError>>, PluginFailure> {
        let call = Call::SendAll(config, messages);
        let reply = self
            .runtime
            .invoke_with_wires(&self.pre, ctx, call, self.placement(), wires)
            .await?;
        match reply {
            Reply::SendAll(replies) => Ok(replies),
            _ => unreachable!("reply matches call"),
        }
    }
}

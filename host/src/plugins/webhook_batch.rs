//! A channel's waiting webhooks verified and parsed in one plugin call
//! (contract 1.4, `webhooks.handle-webhooks`).
//!
//! While a campaign sends, its provider posts two or three status callbacks
//! per message, and each `handle-webhook` call paid for a fresh instance:
//! instantiating it and resetting its memory cost more than the guest's
//! work. Callbacks of one channel that arrive while one of its calls runs
//! wait here and go to the next call together: one instance for all of
//! them. A webhook that finds no call running starts one at once, so a
//! quiet channel's webhook is answered as soon as before. After each call
//! the channel's next webhooks gather for [`GATHER`] before the next call
//! (none came: the driver ends). At a campaign's 10,000 callbacks a second
//! a call takes a tenth of a millisecond, so without the wait nearly every
//! call found one webhook waiting or none (98% of the batches held one).
//! Each webhook is still answered and applied on its own.
//!
//! One call runs per channel (and revision of its settings) at a time: the
//! waiting ones form the next batch. The calls run on a task of their own,
//! so a provider that hangs up cannot strand the webhooks queued behind its
//! own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::host_imports::CallContext;
use super::loaded::LoadedPlugin;
use super::runtime::PluginFailure;
use super::wit;

/// A channel at one revision of its settings (channel id, revision): its
/// webhooks share one configuration, so one call can take them together.
pub type BatchKey = (i64, i64);

/// How long a channel's next batch gathers after a call: a provider waits
/// seconds for a callback's answer, so two milliseconds cost it nothing,
/// and a campaign's callbacks then share an instance by the dozen.
pub(super) const GATHER: Duration = Duration::from_millis(2);

/// Requests in one call at most.
pub(super) const MAX_REQUESTS: usize = 64;
/// Body bytes in one call at most (a larger webhook is handled alone): the
/// batch is copied into the instance's memory, which is capped.
pub(super) const MAX_BODY_BYTES: usize = 256 << 10;

/// What `handle-webhook` would answer, or the call's failure.
pub type Parsed = Result<Result<wit::WebhookOutcome, wit::WebhookError>, PluginFailure>;

/// One webhook as its handler hands it over.
pub(super) struct Job {
    pub(super) ctx: CallContext,
    pub(super) config: wit::Config,
    pub(super) request: wit::WebhookRequest,
}

/// A queued webhook and where its answer goes.
pub(super) struct Waiting {
    pub(super) job: Job,
    /// When its handler queued it: its latency, for the version's stats.
    pub(super) since: Instant,
    pub(super) answer: oneshot::Sender<Answer>,
}

pub(super) enum Answer {
    Parsed(Parsed),
    /// The batch failed as a whole (a trap, the deadline or the budget, a
    /// list of the wrong length): handle this one alone, so one malformed
    /// request cannot cost the others their answer.
    Alone(Job),
}

#[derive(Default)]
pub(super) struct WebhookBatches {
    /// The webhooks waiting per channel; a key is present while a call
    /// for that channel runs (its driver takes the next batch from here).
    queues: Mutex<HashMap<BatchKey, VecDeque<Waiting>>>,
}

impl WebhookBatches {
    /// Queues a webhook. `true`: no call ran for `key`, so the caller
    /// starts the driver that takes this batch and the next.
    pub(super) fn enqueue(&self, key: BatchKey, waiting: Waiting) -> bool {
        let mut queues = self.queues.lock().expect("webhook queues poisoned");
        let idle = !queues.contains_key(&key);
        queues.entry(key).or_default().push_back(waiting);
        idle
    }

    /// The next batch for `key`: the oldest waiting webhooks, up to
    /// [`MAX_REQUESTS`] and [`MAX_BODY_BYTES`] (at least one). Empty when
    /// none waits: the key is then removed, so the next webhook starts a
    /// driver again.
    pub(super) fn next(&self, key: BatchKey) -> Vec<Waiting> {
        let mut queues = self.queues.lock().expect("webhook queues poisoned");
        let Some(queue) = queues.get_mut(&key) else {
            return Vec::new();
        };
        if queue.is_empty() {
            queues.remove(&key);
            return Vec::new();
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(first) = queue.front() {
            let size = first.job.request.body.len();
            if !batch.is_empty() && (batch.len() == MAX_REQUESTS || bytes + size > MAX_BODY_BYTES) {
                break;
            }
            bytes += size;
            batch.extend(queue.pop_front());
        }
        batch
    }

    /// A full batch of `key`'s webhooks waits: its call need not gather.
    pub(super) fn full(&self, key: BatchKey) -> bool {
        let queues = self.queues.lock().expect("webhook queues poisoned");
        queues
            .get(&key)
            .is_some_and(|queue| queue.len() >= MAX_REQUESTS)
    }

    /// The driver of `key` ended without draining its queue (it panicked):
    /// the waiting webhooks' answers are dropped (their handlers answer
    /// 500 and the provider retries), and the next webhook starts afresh.
    pub(super) fn abandon(&self, key: BatchKey) {
        if let Ok(mut queues) = self.queues.lock() {
            queues.remove(&key);
        }
    }
}

impl LoadedPlugin {
    /// Verifies and parses a webhook of the channel at `key`, together with
    /// the channel's other waiting webhooks when the plugin exports
    /// `handle-webhooks` (else, and for a suspect version or an oversized
    /// body, alone: [`Self::handle_webhook`]).
    pub async fn handle_webhook_batched(
        self: &Arc<Self>,
        key: BatchKey,
        ctx: CallContext,
        config: wit::Config,
        request: wit::WebhookRequest,
    ) -> Parsed {
        if !self.pre.batches_webhooks() || self.suspect() || request.body.len() > MAX_BODY_BYTES {
            return self.handle_webhook(ctx, config, request, false).await;
        }
        let (answer, answered) = oneshot::channel();
        let job = Job {
            ctx,
            config,
            request,
        };
        let since = Instant::now();
        if self
            .webhook_batches
            .enqueue(key, Waiting { job, since, answer })
        {
            tokio::spawn(self.clone().drive_webhooks(key));
        }
        match answered.await {
            Ok(Answer::Parsed(parsed)) => parsed,
            Ok(Answer::Alone(job)) => {
                self.handle_webhook(job.ctx, job.config, job.request, false)
                    .await
            }
            Err(_) => Err(PluginFailure::Trap(
                "the call verifying this channel's webhooks ended".into(),
            )),
        }
    }

    /// Runs the calls of `key`'s waiting webhooks until none waits.
    async fn drive_webhooks(self: Arc<Self>, key: BatchKey) {
        let mut guard = DriverGuard {
            batches: &self.webhook_batches,
            key,
            armed: true,
        };
        loop {
            let batch = self.webhook_batches.next(key);
            if batch.is_empty() {
                break;
            }
            self.answer_batch(batch).await;
            if !self.webhook_batches.full(key) {
                tokio::time::sleep(GATHER).await;
            }
        }
        guard.armed = false;
    }

    /// One call for `batch`, and each webhook's answer.
    async fn answer_batch(&self, mut batch: Vec<Waiting>) {
        metrics::histogram!("herald_webhook_batch_size").record(batch.len() as f64);
        if batch.len() == 1 {
            let Waiting { job, answer, .. } = batch.pop().expect("one");
            let parsed = self
                .handle_webhook(job.ctx, job.config, job.request, false)
                .await;
            let _ = answer.send(Answer::Parsed(parsed));
            return;
        }
        let mut requests = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for Waiting { job, since, answer } in batch {
            let Job {
                ctx,
                config,
                request,
            } = job;
            requests.push(request);
            waiting.push((ctx, config, since, answer));
        }
        let (ctx, config) = (waiting[0].0.clone(), waiting[0].1.clone());
        let requests = Arc::new(requests);
        match self.handle_webhooks(ctx, config, requests.clone()).await {
            Some(replies) => {
                for ((_, _, since, answer), reply) in waiting.into_iter().zip(replies) {
                    self.webhook_stats.record(since.elapsed(), false);
                    let _ = answer.send(Answer::Parsed(Ok(reply)));
                }
            }
            None => {
                // The call has ended, so the requests are this task's again.
                let requests = Arc::try_unwrap(requests).unwrap_or_else(|shared| (*shared).clone());
                for ((ctx, config, _, answer), request) in waiting.into_iter().zip(requests) {
                    let _ = answer.send(Answer::Alone(Job {
                        ctx,
                        config,
                        request,
                    }));
                }
            }
        }
    }
}

/// Abandons its key's queue unless disarmed: the driver's way of never
/// leaving a channel's webhooks queued behind a call that will not come.
pub(super) struct DriverGuard<'a> {
    pub(super) batches: &'a WebhookBatches,
    pub(super) key: BatchKey,
    pub(super) armed: bool,
}

impl Drop for DriverGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.batches.abandon(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(body: usize) -> (Waiting, oneshot::Receiver<Answer>) {
        let (answer, rx) = oneshot::channel();
        let job = Job {
            ctx: CallContext::bare("p", "1"),
            config: Vec::new(),
            request: wit::WebhookRequest {
                method: "POST".into(),
                url: "http://127.0.0.1/webhooks/1".into(),
                headers: Vec::new(),
                body: vec![b'x'; body],
            },
        };
        let since = Instant::now();
        (Waiting { job, since, answer }, rx)
    }

    /// The first webhook of a quiet channel starts a call at once; those
    /// that arrive meanwhile wait for the next one, in order, and the
    /// channel is quiet again once they are taken.
    #[test]
    fn webhooks_that_arrive_during_a_call_form_the_next_batch() {
        let batches = WebhookBatches::default();
        let key = (7, 1);
        assert!(
            batches.enqueue(key, waiting(1).0),
            "a quiet channel starts a driver"
        );
        assert_eq!(batches.next(key).len(), 1);
        for n in 2..=4 {
            assert!(
                !batches.enqueue(key, waiting(n).0),
                "a call runs: they wait"
            );
        }
        assert!(
            batches.enqueue((8, 1), waiting(1).0),
            "other channels do not wait"
        );
        let next: Vec<usize> = batches
            .next(key)
            .iter()
            .map(|w| w.job.request.body.len())
            .collect();
        assert_eq!(next, [2, 3, 4]);
        assert!(batches.next(key).is_empty());
        assert!(
            batches.enqueue(key, waiting(1).0),
            "drained: the next starts one"
        );
    }

    /// A batch stops at its count and at its bytes, but always takes one
    /// webhook, however large.
    #[test]
    fn a_batch_is_capped_by_count_and_bytes() {
        let batches = WebhookBatches::default();
        let key = (1, 1);
        for _ in 0..MAX_REQUESTS + 3 {
            batches.enqueue(key, waiting(10).0);
        }
        assert_eq!(batches.next(key).len(), MAX_REQUESTS);
        assert_eq!(batches.next(key).len(), 3);
        assert!(batches.next(key).is_empty());

        batches.enqueue(key, waiting(MAX_BODY_BYTES + 1).0);
        batches.enqueue(key, waiting(MAX_BODY_BYTES / 2).0);
        batches.enqueue(key, waiting(MAX_BODY_BYTES / 2).0);
        batches.enqueue(key, waiting(1).0);
        assert_eq!(batches.next(key).len(), 1, "an oversized one alone");
        assert_eq!(batches.next(key).len(), 2, "up to the bytes");
        assert_eq!(batches.next(key).len(), 1);
    }

    /// A driver that dies leaves no queue behind: its waiting webhooks'
    /// handlers learn it (their answer is dropped), and the channel's next
    /// webhook starts a driver again.
    #[test]
    fn a_dead_driver_strands_nothing() {
        let batches = WebhookBatches::default();
        let key = (3, 2);
        batches.enqueue(key, waiting(1).0);
        let (second, mut answer) = waiting(1);
        batches.enqueue(key, second);
        {
            let _guard = DriverGuard {
                batches: &batches,
                key,
                armed: true,
            };
        }
        assert!(
            matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
            "the answer is dropped, not sent"
        );
        assert!(batches.enqueue(key, waiting(1).0));
    }

    /// The channel the real component's webhooks below are for.
    const KEY: BatchKey = (1, 1);
    const AUTH_TOKEN: &str = "batch-test-token";
    const URL: &str = "http://127.0.0.1:8080/webhooks/1";

    /// `test-hostile` (Twilio's code, `./dev.sh build`), loaded on the
    /// multi-threaded runtime compiling needs (kept for the test's length).
    fn hostile() -> (tokio::runtime::Runtime, Arc<LoadedPlugin>) {
        use crate::plugins::{CompileCache, Runtime, RuntimeLimits, load_component};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/test-plugins/test_hostile.wasm");
        let wasm = std::fs::read(&path).expect("run ./dev.sh build first");
        let loading = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let plugin = loading.block_on(async {
            let runtime = Runtime::new(RuntimeLimits::default()).unwrap();
            let cache = CompileCache::new(None);
            let plugin = load_component(&runtime, &cache, &wasm, "batch-test".into()).await;
            Arc::new(plugin.expect("test-hostile loads"))
        });
        (loading, plugin)
    }

    /// A status callback as Twilio signs it (`X-Twilio-Signature`: base64
    /// HMAC-SHA1 of the URL and the sorted parameters); `signed: false`
    /// forges it.
    fn callback(sid: &str, status: &str, signed: bool) -> wit::WebhookRequest {
        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        let params = vec![
            ("MessageSid".to_owned(), sid.to_owned()),
            ("MessageStatus".to_owned(), status.to_owned()),
        ];
        let base = twilio_wire::signature_base(URL, &params);
        let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(AUTH_TOKEN.as_bytes()).unwrap();
        mac.update(base.as_bytes());
        let mut signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if !signed {
            signature = "Zm9yZ2Vk".into();
        }
        wit::WebhookRequest {
            method: "POST".into(),
            url: URL.into(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("x-twilio-signature".into(), signature),
            ],
            body: twilio_wire::form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .into_bytes(),
        }
    }

    /// All `requests` handed over at once, as handlers that arrive while
    /// a call runs are: on one thread, every handler queues its webhook
    /// before the driver's first call, so they form one batch.
    fn handle_together(
        plugin: &Arc<LoadedPlugin>,
        requests: Vec<wit::WebhookRequest>,
    ) -> Vec<Parsed> {
        let ctx = CallContext {
            channel_id: Some(KEY.0),
            secrets: Arc::new([("auth-token".to_owned(), AUTH_TOKEN.to_owned())].into()),
            ..CallContext::bare("test-hostile", "1.0.0")
        };
        let config: wit::Config = vec![("account-sid".into(), "AC1".into())];
        let one_thread = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        one_thread.block_on(futures::future::join_all(requests.into_iter().map(
            |request| plugin.handle_webhook_batched(KEY, ctx.clone(), config.clone(), request),
        )))
    }

    /// The delivered message's id, and the batch size the plugin's answer
    /// names (`None`: it was answered by `handle-webhook`, alone).
    fn delivered(parsed: &Parsed) -> (String, Option<String>) {
        let outcome = match parsed {
            Ok(Ok(outcome)) => outcome,
            other => panic!("not parsed: {other:?}"),
        };
        let [wit::Event::Delivery(update)] = outcome.events.as_slice() else {
            panic!("not one delivery: {:?}", outcome.events);
        };
        let batch = (outcome.response.headers.iter())
            .find(|(name, _)| name == "x-test-batch-size")
            .map(|(_, n)| n.clone());
        (update.provider_message_id.clone(), batch)
    }

    /// Webhooks of one channel that wait together go to one call and each
    /// gets the answer it would get alone (a forged one: refused); one
    /// that traps the plugin fails alone, and the rest are then answered
    /// one by one.
    #[test]
    fn waiting_webhooks_share_a_call_and_a_trapping_one_fails_alone() {
        let (_loading, plugin) = hostile();
        assert!(
            plugin.pre.batches_webhooks(),
            "test-hostile exports handle-webhooks"
        );

        let mut requests: Vec<_> = (0..8)
            .map(|i| callback(&format!("SM{i}"), "delivered", true))
            .collect();
        requests.insert(3, callback("SMforged", "delivered", false));
        let answers = handle_together(&plugin, requests);
        assert!(
            matches!(answers[3], Ok(Err(wit::WebhookError::Unauthorized(_)))),
            "{:?}",
            answers[3]
        );
        let parsed: Vec<_> = (answers.iter().enumerate())
            .filter(|(i, _)| *i != 3)
            .map(|(_, a)| delivered(a))
            .collect();
        let expected: Vec<_> = (0..8)
            .map(|i| (format!("SM{i}"), Some("9".to_owned())))
            .collect();
        assert_eq!(parsed, expected, "one call of nine, each answered in order");

        // "panic" in a body traps the plugin, and with it the whole call.
        let mut requests: Vec<_> = (0..4)
            .map(|i| callback(&format!("SM{i}"), "delivered", true))
            .collect();
        requests.push(callback("SMx", "panic", true));
        let answers = handle_together(&plugin, requests);
        assert!(
            matches!(answers[4], Err(PluginFailure::Trap(_))),
            "{:?}",
            answers[4]
        );
        let parsed: Vec<_> = answers[..4].iter().map(delivered).collect();
        let expected: Vec<_> = (0..4).map(|i| (format!("SM{i}"), None)).collect();
        assert_eq!(parsed, expected, "the others answered alone");
    }
}

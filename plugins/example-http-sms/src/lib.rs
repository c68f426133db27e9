//! A minimal Herald provider: sends each SMS as JSON to `{base-url}/messages`
//! with a bearer token, and accepts delivery receipts signed with
//! HMAC-SHA256 of the raw body (hex, header `X-Signature`). It exports the
//! optional `lookup` interface too (herald:provider 1.1), so Herald can ask
//! the gateway, by the reference it was sent with, whether a send whose
//! answer got lost went out: with `provider-plugin` as the world and no
//! `impl Lookup`, such sends stay `unknown` for an operator instead.

herald_plugin::bindings!("../../wit", "reconciling-provider-plugin");

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use herald_plugin::prelude::*;
use herald_plugin::webhook::{Encoding, Signature};
use serde::Deserialize;

const PROVIDER: &str = "the SMS gateway";
/// Receipts: hex HMAC-SHA256 of the raw body under `webhook-secret`.
pub const SIGNATURE: Signature = Signature {
    algorithm: HmacAlgorithm::Sha256,
    secret: "webhook-secret",
    encoding: Encoding::Hex,
    name: "X-Signature",
};

pub struct Plugin;

/// `GET /messages?reference=`: the gateway's record of sends by reference.
#[derive(Deserialize)]
struct Sends {
    messages: Vec<Receipt>,
}

/// A message as the gateway reports it: the answer to a send (`id` only),
/// a receipt webhook, a lookup.
#[derive(Deserialize)]
struct Receipt {
    id: String,
    #[serde(default)]
    status: String,
    error: Option<String>,
}

impl Guest for Plugin {
    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "example-http-sms".into(),
            version: "0.1.0".into(),
            channels: vec![ChannelKind::Sms],
            config: vec![
                field("base-url", "API base URL", "", true, false),
                field("api-token", "API token", "", true, true),
                field("webhook-secret", "Webhook signing secret", "", true, true),
            ],
            allowed_hosts: vec!["sms.example.com".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        config::validate(&config, &["base-url"])
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let response = herald_plugin::host::send(PROVIDER, &send_request(&config, &message)?)?;
        if answer::is_success(&response) {
            let accepted: Receipt = answer::accepted(PROVIDER, &response)?;
            return Ok(answer::receipt(accepted.id, DeliveryStatus::Accepted));
        }
        let (code, message) = answer::refusal(&response);
        let class = match answer::by_status(&response) {
            Class::Rejected if code == "invalid_number" => Class::InvalidRecipient,
            class => class,
        };
        Err(answer::send_error(class, code, message))
    }

    fn handle_webhook(_: Config, request: WebhookRequest) -> Result<WebhookOutcome, WebhookError> {
        SIGNATURE.verify_body(&request)?;
        let receipt: Receipt = webhook::json(&request.body)?;
        Ok(webhook::delivery(receipt.into_update()))
    }

    fn fetch_status(_: Config, _: String) -> Result<Option<DeliveryUpdate>, SendError> {
        Ok(None) // this provider has no status lookup
    }

    fn list_templates(_: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
}

/// `POST {base-url}/messages`, the token a placeholder the host fills in.
pub fn send_request(config: &Config, message: &OutboundMessage) -> Result<HttpRequest, SendError> {
    let Content::Text(text) = &message.content else {
        return Err(SendError::InvalidConfig("SMS only".into()));
    };
    let body = serde_json::json!({
        "to": message.to, "from": message.sender, "text": text.body,
        "reference": message.idempotency_key, "callback_url": message.status_callback_url,
    });
    let base = config::require(config, "base-url")?.trim_end_matches('/');
    let url = format!("{base}/messages");
    Ok(request::json(url, request::bearer("api-token"), &body))
}

impl Receipt {
    fn into_update(self) -> DeliveryUpdate {
        let status = match self.status.as_str() {
            "accepted" => DeliveryStatus::Accepted,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Sent,
        };
        DeliveryUpdate {
            provider_message_id: self.id,
            status,
            error_code: self.error.clone(),
            error_message: self.error,
            timestamp_ms: None,
        }
    }
}

impl Lookup for Plugin {
    /// The gateway keeps the `reference` each send carried (Herald's
    /// idempotency key): the message with it, or none.
    fn find_sent(config: Config, query: SentQuery) -> Result<Option<DeliveryUpdate>, SendError> {
        let base = config::require(&config, "base-url")?.trim_end_matches('/');
        let reference = request::query_value(&query.idempotency_key);
        let url = format!("{base}/messages?reference={reference}");
        let lookup = request::get(url, request::bearer("api-token"));
        let response = herald_plugin::host::send(PROVIDER, &lookup)?;
        let sends: Sends = answer::read(PROVIDER, &response)?;
        Ok(sends.messages.into_iter().next().map(Receipt::into_update))
    }
}

// Natively (the test kit) the plugin is a plain library.
#[cfg(target_arch = "wasm32")]
export!(Plugin);

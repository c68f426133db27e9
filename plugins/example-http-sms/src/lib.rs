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
use herald_plugin::{host, webhook::Encoding};
use serde::Deserialize;

const PROVIDER: &str = "the SMS gateway";

struct Plugin;

#[derive(Deserialize)]
struct Accepted {
    id: String,
}

#[derive(Deserialize, Default)]
struct Refused {
    code: Option<String>,
    message: Option<String>,
}

/// `GET /messages?reference=`: the gateway's record of sends by reference.
#[derive(Deserialize)]
struct Sends {
    messages: Vec<Receipt>,
}

#[derive(Deserialize)]
struct Receipt {
    id: String,
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
        let request = send_request(&config, &message)?;
        let response = host::send(PROVIDER, &request)?;
        if answer::is_success(&response) {
            let accepted: Accepted = answer::accepted(PROVIDER, &response)?;
            return Ok(SendReceipt {
                provider_message_id: accepted.id,
                status: DeliveryStatus::Accepted,
            });
        }
        let refused: Refused = serde_json::from_slice(&response.body).unwrap_or_default();
        let code = refused.code.unwrap_or_else(|| response.status.to_string());
        let class = match answer::by_status(&response) {
            Class::Rejected if code == "invalid_number" => Class::InvalidRecipient,
            class => class,
        };
        Err(answer::send_error(
            class,
            code,
            refused.message.unwrap_or_default(),
        ))
    }

    fn handle_webhook(_: Config, request: WebhookRequest) -> Result<WebhookOutcome, WebhookError> {
        let signature = webhook::header(&request, "x-signature");
        let (algorithm, data) = (HmacAlgorithm::Sha256, &request.body);
        webhook::verify(
            algorithm,
            "webhook-secret",
            data,
            signature,
            Encoding::Hex,
            "X-Signature",
        )?;
        let receipt: Receipt = webhook::json(&request.body)?;
        Ok(webhook::accepted(vec![Event::Delivery(
            receipt.into_update(),
        )]))
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
        return Err(SendError::InvalidConfig(
            "this provider sends SMS only".into(),
        ));
    };
    let body = serde_json::json!({
        "to": message.to, "from": message.sender, "text": text.body,
        "reference": message.idempotency_key, "callback_url": message.status_callback_url,
    });
    let url = format!(
        "{}/messages",
        config::require(config, "base-url")?.trim_end_matches('/')
    );
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
        let response = host::send(PROVIDER, &request::get(url, request::bearer("api-token")))?;
        if !answer::is_success(&response) {
            let status = response.status;
            return Err(SendError::Transient(format!(
                "lookup answered HTTP {status}"
            )));
        }
        let sends: Sends = answer::read(PROVIDER, &response)?;
        Ok(sends.messages.into_iter().next().map(Receipt::into_update))
    }
}

export!(Plugin);

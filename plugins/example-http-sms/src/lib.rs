//! A minimal Herald provider: sends each SMS as JSON to `{base-url}/messages`
//! with a bearer token, and accepts delivery receipts signed with
//! HMAC-SHA256 of the raw body (hex, header `X-Signature`). It exports the
//! optional `lookup` interface too (herald:provider 1.1), so Herald can ask
//! the gateway, by the reference it was sent with, whether a send whose
//! answer got lost went out: with `provider-plugin` as the world and no
//! `impl Lookup`, such sends stay `unknown` for an operator instead.

wit_bindgen::generate!({ path: "../../wit", world: "reconciling-provider-plugin" });

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use herald::provider::host::{hmac, http_send};
use herald::provider::types::*;
use serde::Deserialize;

struct Plugin;

fn get<'a>(config: &'a Config, key: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn field(name: &str, label: &str, required: bool, secret: bool) -> ConfigField {
    let description = String::new();
    ConfigField {
        name: name.into(),
        label: label.into(),
        description,
        required,
        secret,
    }
}

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
                field("base-url", "API base URL", true, false),
                field("api-token", "API token", true, true),
                field("webhook-secret", "Webhook signing secret", true, true),
            ],
            allowed_hosts: vec!["sms.example.com".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        match get(&config, "base-url") {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(()),
            Some(_) => Err("base-url: must be an http(s) URL".into()),
            None => Err("base-url: required".into()),
        }
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let Content::Text(text) = &message.content else {
            return Err(SendError::InvalidConfig(
                "this provider sends SMS only".into(),
            ));
        };
        let base = get(&config, "base-url").ok_or(SendError::InvalidConfig("base-url".into()))?;
        let body = serde_json::json!({
            "to": message.to, "from": message.sender, "text": text.body,
            "reference": message.idempotency_key, "callback_url": message.status_callback_url,
        });
        let response = http_send(&HttpRequest {
            method: "POST".into(),
            url: format!("{}/messages", base.trim_end_matches('/')),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            auth: HttpAuth::Bearer("{{secret.api-token}}".into()),
            timeout_ms: None,
        })
        .map_err(|e| match e {
            HttpError::NotAllowed(m) | HttpError::InvalidRequest(m) => SendError::InvalidConfig(m),
            other => SendError::Transient(format!("{other:?}")),
        })?;
        let refused: Refused = serde_json::from_slice(&response.body).unwrap_or_default();
        let rejection = Rejection {
            code: refused.code.unwrap_or_else(|| response.status.to_string()),
            message: refused.message.unwrap_or_default(),
        };
        match response.status {
            200..=299 => {
                let accepted: Accepted = serde_json::from_slice(&response.body)
                    .map_err(|e| SendError::Transient(format!("bad answer: {e}")))?;
                Ok(SendReceipt {
                    provider_message_id: accepted.id,
                    status: DeliveryStatus::Accepted,
                })
            }
            429 => Err(SendError::RateLimited(1000)),
            401 | 403 => Err(SendError::Auth(rejection.message)),
            400 if rejection.code == "invalid_number" => {
                Err(SendError::InvalidRecipient(rejection))
            }
            500.. => Err(SendError::Transient(rejection.message)),
            _ => Err(SendError::Rejected(rejection)),
        }
    }

    fn handle_webhook(_: Config, request: WebhookRequest) -> Result<WebhookOutcome, WebhookError> {
        let signature = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-signature"));
        let expected = hmac(HmacAlgorithm::Sha256, "webhook-secret", &request.body)
            .map_err(WebhookError::Unauthorized)?;
        let expected: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        // Lengths are public; the comparison of contents is constant-time.
        let matches = signature.is_some_and(|(_, given)| {
            given.len() == expected.len()
                && given
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !matches {
            return Err(WebhookError::Unauthorized(
                "bad or missing X-Signature".into(),
            ));
        }
        let receipt: Receipt = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::BadRequest(e.to_string()))?;
        let event = Event::Delivery(receipt.into_update());
        let response = WebhookResponse {
            status: 204,
            headers: vec![],
            body: vec![],
        };
        Ok(WebhookOutcome {
            events: vec![event],
            response,
        })
    }

    fn fetch_status(_: Config, _: String) -> Result<Option<DeliveryUpdate>, SendError> {
        Ok(None) // this provider has no status lookup
    }

    fn list_templates(_: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
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
        let base = get(&config, "base-url").ok_or(SendError::InvalidConfig("base-url".into()))?;
        let reference: String = url_encode(&query.idempotency_key);
        let response = http_send(&HttpRequest {
            method: "GET".into(),
            url: format!(
                "{}/messages?reference={reference}",
                base.trim_end_matches('/')
            ),
            headers: vec![],
            body: vec![],
            auth: HttpAuth::Bearer("{{secret.api-token}}".into()),
            timeout_ms: None,
        })
        .map_err(|e| SendError::Transient(format!("{e:?}")))?;
        if !(200..300).contains(&response.status) {
            return Err(SendError::Transient(format!(
                "lookup answered HTTP {}",
                response.status
            )));
        }
        let sends: Sends = serde_json::from_slice(&response.body)
            .map_err(|e| SendError::Transient(format!("bad answer: {e}")))?;
        Ok(sends.messages.into_iter().next().map(Receipt::into_update))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

export!(Plugin);

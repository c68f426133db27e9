//! A minimal Herald provider: sends each SMS as JSON to `{base-url}/messages`
//! with a bearer token, and accepts delivery receipts signed with
//! HMAC-SHA256 of the raw body (hex, header `X-Signature`).

wit_bindgen::generate!({ path: "../../wit", world: "provider-plugin" });

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
        let status = match receipt.status.as_str() {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Sent,
        };
        let event = Event::Delivery(DeliveryUpdate {
            provider_message_id: receipt.id,
            status,
            error_code: receipt.error.clone(),
            error_message: receipt.error,
            timestamp_ms: None,
        });
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

export!(Plugin);

//! The Twilio provider logic on WIT types. Shared with the `test-hostile`
//! component (which includes this file), so it only refers to `crate::`
//! paths that every `generate!`d crate has, plus the crate's
//! `PLUGIN_NAME` and `PLUGIN_VERSION`.

use base64::Engine as _;

use crate::herald::provider::host::{hmac, http_send};
use crate::herald::provider::types::{
    ChannelKind, Config, ConfigField, Content, DeliveryStatus, DeliveryUpdate, Event,
    HmacAlgorithm, HttpAuth, HttpError, HttpRequest, HttpResponse, InboundMessage, Media,
    OutboundMessage, PluginManifest, Rejection, SendError, SendReceipt, WebhookError,
    WebhookOutcome, WebhookRequest, WebhookResponse,
};
use crate::wire::{self, ErrorClass};

const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

fn field(name: &str, label: &str, description: &str, required: bool, secret: bool) -> ConfigField {
    ConfigField {
        name: name.into(),
        label: label.into(),
        description: description.into(),
        required,
        secret,
    }
}

pub fn manifest(name: &str, version: &str) -> PluginManifest {
    PluginManifest {
        name: name.into(),
        version: version.into(),
        channels: vec![ChannelKind::Sms, ChannelKind::Mms],
        config: vec![
            field(
                "account-sid",
                "Account SID",
                "Twilio account SID (AC...)",
                true,
                false,
            ),
            field(
                "auth-token",
                "Auth token",
                "Signs API requests and status callbacks",
                true,
                true,
            ),
            field(
                "base-url",
                "API base URL",
                "Defaults to https://api.twilio.com; point it at a simulator for tests",
                false,
                false,
            ),
        ],
        allowed_hosts: vec!["api.twilio.com".into()],
    }
}

fn get<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn validate_config(config: &Config) -> Result<(), String> {
    match get(config, "account-sid") {
        None => return Err("account-sid: required".into()),
        Some(sid) if !sid.starts_with("AC") => {
            return Err("account-sid: a Twilio account SID starts with AC".into());
        }
        Some(_) => {}
    }
    if let Some(base) = get(config, "base-url")
        && !(base.starts_with("https://") || base.starts_with("http://"))
    {
        return Err("base-url: must be an http(s) URL".into());
    }
    Ok(())
}

pub(crate) fn account_and_base(config: &Config) -> Result<(&str, &str), SendError> {
    let account = get(config, "account-sid")
        .ok_or_else(|| SendError::InvalidConfig("account-sid: required".into()))?;
    Ok((account, get(config, "base-url").unwrap_or(DEFAULT_BASE_URL)))
}

pub(crate) fn auth(account: &str) -> HttpAuth {
    HttpAuth::Basic((account.into(), "{{secret.auth-token}}".into()))
}

pub(crate) fn transport_error(e: HttpError) -> SendError {
    match e {
        HttpError::Timeout => SendError::Transient("Twilio did not answer in time".into()),
        HttpError::Connection(m) => {
            SendError::Transient(format!("connection to Twilio failed: {m}"))
        }
        HttpError::NotAllowed(m) | HttpError::InvalidRequest(m) => SendError::InvalidConfig(m),
    }
}

pub(crate) fn delivery_status(status: wire::Status) -> DeliveryStatus {
    match status {
        wire::Status::Accepted => DeliveryStatus::Accepted,
        wire::Status::Sent => DeliveryStatus::Sent,
        wire::Status::Delivered => DeliveryStatus::Delivered,
        wire::Status::Read => DeliveryStatus::Read,
        wire::Status::Failed => DeliveryStatus::Failed,
    }
}

/// `GET .../Messages/{Sid}.json`: the message's current status.
pub fn fetch_status(config: &Config, sid: &str) -> Result<Option<DeliveryUpdate>, SendError> {
    let (account, base) = account_and_base(config)?;
    let request = HttpRequest {
        method: "GET".into(),
        url: wire::message_url(base, account, sid),
        headers: Vec::new(),
        body: Vec::new(),
        auth: auth(account),
        timeout_ms: None,
    };
    let response = http_send(&request).map_err(transport_error)?;
    if response.status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&response.status) {
        return Err(error_from(&response));
    }
    let resource: wire::MessageResource = serde_json::from_slice(&response.body)
        .map_err(|e| SendError::Transient(format!("unreadable Twilio answer: {e}")))?;
    let Some(status) = resource.status.as_deref().and_then(wire::status) else {
        return Ok(None);
    };
    Ok(Some(DeliveryUpdate {
        provider_message_id: resource.sid,
        status: delivery_status(status),
        error_code: resource.error_code.map(|c| c.to_string()),
        error_message: resource.error_message,
        timestamp_ms: None,
    }))
}

pub fn send(config: &Config, message: &OutboundMessage) -> Result<SendReceipt, SendError> {
    let Content::Text(text) = &message.content else {
        return Err(SendError::InvalidConfig(
            "twilio-sms sends SMS and MMS text content only".into(),
        ));
    };
    let (account, base) = account_and_base(config)?;
    let mut params = vec![
        ("To", message.to.as_str()),
        ("From", message.sender.as_str()),
        ("Body", text.body.as_str()),
        ("StatusCallback", message.status_callback_url.as_str()),
    ];
    params.extend(text.media.iter().map(|m| ("MediaUrl", m.url.as_str())));
    let request = HttpRequest {
        method: "POST".into(),
        url: wire::messages_url(base, account),
        headers: vec![
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            // Identifies the plugin build in provider logs (and lets tests see
            // which version sent each message).
            (
                "User-Agent".into(),
                format!("herald-{}/{}", crate::PLUGIN_NAME, crate::PLUGIN_VERSION),
            ),
            // Twilio has no idempotency header for Messages; sending the key
            // keeps it in Twilio's request logs and in the simulator's record.
            (
                "X-Herald-Idempotency-Key".into(),
                message.idempotency_key.clone(),
            ),
        ],
        body: wire::form_encode(params).into_bytes(),
        auth: HttpAuth::Basic((account.into(), "{{secret.auth-token}}".into())),
        timeout_ms: None,
    };
    let response = http_send(&request).map_err(|e| match e {
        HttpError::Timeout => SendError::Transient("Twilio did not answer in time".into()),
        HttpError::Connection(m) => {
            SendError::Transient(format!("connection to Twilio failed: {m}"))
        }
        HttpError::NotAllowed(m) | HttpError::InvalidRequest(m) => SendError::InvalidConfig(m),
    })?;
    if (200..300).contains(&response.status) {
        let resource: wire::MessageResource = serde_json::from_slice(&response.body)
            .map_err(|e| SendError::Transient(format!("unreadable Twilio answer: {e}")))?;
        let status = match resource.status.as_deref().and_then(wire::status) {
            Some(wire::Status::Sent) => DeliveryStatus::Sent,
            _ => DeliveryStatus::Accepted,
        };
        return Ok(SendReceipt {
            provider_message_id: resource.sid,
            status,
        });
    }
    Err(error_from(&response))
}

/// Maps a Twilio error answer to the typed send error.
pub(crate) fn error_from(response: &HttpResponse) -> SendError {
    let error: wire::ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let rejection = Rejection {
        code: error
            .code
            .map(|c| c.to_string())
            .unwrap_or_else(|| response.status.to_string()),
        message: error
            .message
            .unwrap_or_else(|| format!("Twilio answered HTTP {}", response.status)),
    };
    match wire::classify_error(response.status, error.code) {
        ErrorClass::InvalidRecipient => SendError::InvalidRecipient(rejection),
        ErrorClass::Rejected => SendError::Rejected(rejection),
        ErrorClass::RateLimited => {
            let retry_after = response
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                .map(|(_, v)| v.as_str());
            SendError::RateLimited(wire::retry_after_ms(retry_after))
        }
        ErrorClass::Transient => {
            SendError::Transient(format!("{}: {}", rejection.code, rejection.message))
        }
        ErrorClass::Auth => SendError::Auth(rejection.message),
        ErrorClass::InsufficientFunds => SendError::InsufficientFunds(rejection.message),
    }
}

pub fn handle_webhook(
    _config: &Config,
    request: &WebhookRequest,
) -> Result<WebhookOutcome, WebhookError> {
    let signature = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-twilio-signature"))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| WebhookError::Unauthorized("missing X-Twilio-Signature".into()))?;
    let params = wire::form_decode(&request.body);
    let base = wire::signature_base(&request.url, &params);
    let expected = hmac(HmacAlgorithm::Sha1, "auth-token", base.as_bytes())
        .map_err(WebhookError::Unauthorized)?;
    let expected = base64::engine::general_purpose::STANDARD.encode(expected);
    if !wire::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(WebhookError::Unauthorized(
            "X-Twilio-Signature does not match".into(),
        ));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let sid = param("MessageSid")
        .or_else(|| param("SmsSid"))
        .ok_or_else(|| WebhookError::BadRequest("no MessageSid".into()))?;
    if let Some(status) = param("MessageStatus").filter(|s| s != "received") {
        let status = match wire::status(&status) {
            Some(wire::Status::Accepted) => DeliveryStatus::Accepted,
            Some(wire::Status::Sent) => DeliveryStatus::Sent,
            Some(wire::Status::Delivered) => DeliveryStatus::Delivered,
            Some(wire::Status::Read) => DeliveryStatus::Read,
            Some(wire::Status::Failed) => DeliveryStatus::Failed,
            None => {
                return Err(WebhookError::BadRequest(format!(
                    "unknown MessageStatus {status:?}"
                )));
            }
        };
        let error_code = param("ErrorCode").filter(|c| !c.is_empty());
        return Ok(WebhookOutcome {
            events: vec![Event::Delivery(DeliveryUpdate {
                provider_message_id: sid,
                status,
                error_message: error_code.as_deref().map(wire::describe_error),
                error_code,
                timestamp_ms: None,
            })],
            response: WebhookResponse {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            },
        });
    }
    // An inbound message: Body, From, To, MediaUrlN / MediaContentTypeN.
    let media_count: usize = param("NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
    let media = (0..media_count)
        .filter_map(|i| {
            Some(Media {
                url: param(&format!("MediaUrl{i}"))?,
                content_type: param(&format!("MediaContentType{i}")).unwrap_or_default(),
            })
        })
        .collect();
    Ok(WebhookOutcome {
        events: vec![Event::Inbound(InboundMessage {
            provider_message_id: sid,
            sender: param("From").unwrap_or_default(),
            recipient: param("To").unwrap_or_default(),
            body: param("Body").unwrap_or_default(),
            media,
        })],
        response: WebhookResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "text/xml".into())],
            body: br#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#.to_vec(),
        },
    })
}

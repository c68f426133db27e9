//! The Twilio provider logic on the SDK's WIT types. Shared with the
//! `test-hostile` component (which includes this file), so besides the SDK
//! it only refers to `crate::wire` and the crate's `PLUGIN_NAME` and
//! `PLUGIN_VERSION`.

use herald_plugin::config::{self, field};
use herald_plugin::types::{
    ChannelKind, Config, Content, DeliveryStatus, DeliveryUpdate, Event, HmacAlgorithm, HttpAuth,
    HttpResponse, InboundMessage, Media, OutboundMessage, PluginManifest, SendError, SendReceipt,
    WebhookError, WebhookOutcome, WebhookRequest,
};
use herald_plugin::webhook::{self, Encoding, Signature};
use herald_plugin::{answer, host, request};

use crate::wire::{self, ErrorClass};

const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
pub(crate) const PROVIDER: &str = "Twilio";
/// Status callbacks and inbound messages: base64 HMAC-SHA1 of the URL and
/// the sorted form parameters (`wire::signature_base`), keyed with the
/// auth token.
const SIGNATURE: Signature = Signature {
    algorithm: HmacAlgorithm::Sha1,
    secret: "auth-token",
    encoding: Encoding::Base64,
    name: "X-Twilio-Signature",
};

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

pub fn validate_config(config: &Config) -> Result<(), String> {
    config::validate(config, &["account-sid"])?;
    match config::get(config, "account-sid") {
        Some(sid) if !sid.starts_with("AC") => {
            Err("account-sid: a Twilio account SID starts with AC".into())
        }
        _ => Ok(()),
    }
}

pub(crate) fn account_and_base(config: &Config) -> Result<(&str, &str), SendError> {
    let account = config::require(config, "account-sid")?;
    Ok((account, config::base_url(config, DEFAULT_BASE_URL)))
}

pub(crate) fn auth(account: &str) -> HttpAuth {
    request::basic(account, "auth-token")
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
    let request = request::get(wire::message_url(base, account, sid), auth(account));
    let response = host::send(PROVIDER, &request)?;
    if response.status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&response.status) {
        return Err(error_from(&response));
    }
    let resource: wire::MessageResource = answer::read(PROVIDER, &response)?;
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
    let response = host::send(PROVIDER, &message_request(config, message)?)?;
    receipt_from(&response)
}

/// `send` for several messages of the channel, their requests in flight
/// together (contract 1.5 `sends.send-all`).
#[allow(dead_code)] // `test-hostile` includes this file but does not batch.
pub fn send_all(
    config: &Config,
    messages: &[OutboundMessage],
) -> Vec<Result<SendReceipt, SendError>> {
    herald_plugin::batch::send_all(PROVIDER, config, messages, message_request, receipt_from)
}

/// The request that sends `message`, refused unless it is text (with media
/// for MMS).
pub(crate) fn message_request(
    config: &Config,
    message: &OutboundMessage,
) -> Result<herald_plugin::types::HttpRequest, SendError> {
    let Content::Text(text) = &message.content else {
        return Err(SendError::InvalidConfig(
            "twilio-sms sends SMS and MMS text content only".into(),
        ));
    };
    send_request(config, message, text)
}

/// Twilio's answer to a message request: its SID and first status, or the
/// typed error.
fn receipt_from(response: &HttpResponse) -> Result<SendReceipt, SendError> {
    if answer::is_success(response) {
        let resource: wire::MessageResource = answer::accepted(PROVIDER, response)?;
        let status = match resource.status.as_deref().and_then(wire::status) {
            Some(wire::Status::Sent) => DeliveryStatus::Sent,
            _ => DeliveryStatus::Accepted,
        };
        return Ok(SendReceipt {
            provider_message_id: resource.sid,
            status,
        });
    }
    Err(error_from(response))
}

/// `POST .../Messages.json` as a form, authenticated with the account SID
/// and the auth token's placeholder.
pub fn send_request(
    config: &Config,
    message: &OutboundMessage,
    text: &herald_plugin::types::TextMessage,
) -> Result<herald_plugin::types::HttpRequest, SendError> {
    let (account, base) = account_and_base(config)?;
    let mut params = vec![
        ("To", message.to.as_str()),
        ("From", message.sender.as_str()),
        ("Body", text.body.as_str()),
        ("StatusCallback", message.status_callback_url.as_str()),
    ];
    params.extend(text.media.iter().map(|m| ("MediaUrl", m.url.as_str())));
    let request = request::form(wire::messages_url(base, account), auth(account), params);
    // Identifies the plugin build in provider logs (and lets tests see
    // which version sent each message).
    let agent = format!("herald-{}/{}", crate::PLUGIN_NAME, crate::PLUGIN_VERSION);
    let request = request::with_header(request, "User-Agent", agent);
    // Twilio has no idempotency header for Messages; sending the key keeps
    // it in Twilio's request logs and in the simulator's record.
    let key = message.idempotency_key.clone();
    Ok(request::with_header(
        request,
        "X-Herald-Idempotency-Key",
        key,
    ))
}

/// Maps a Twilio error answer to the typed send error.
pub(crate) fn error_from(response: &HttpResponse) -> SendError {
    let error: wire::ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let code = error
        .code
        .map_or_else(|| response.status.to_string(), |c| c.to_string());
    let message = error
        .message
        .unwrap_or_else(|| format!("Twilio answered HTTP {}", response.status));
    let class = match wire::classify_error(response.status, error.code) {
        ErrorClass::InvalidRecipient => answer::Class::InvalidRecipient,
        ErrorClass::Rejected => answer::Class::Rejected,
        ErrorClass::RateLimited => {
            let retry_after = answer::header(&response.headers, "retry-after");
            answer::Class::RateLimited(wire::retry_after_ms(retry_after))
        }
        ErrorClass::Transient => answer::Class::Transient,
        ErrorClass::Auth => answer::Class::Auth,
        ErrorClass::InsufficientFunds => answer::Class::InsufficientFunds,
    };
    answer::send_error(class, code, message)
}

pub fn handle_webhook(
    _config: &Config,
    request: &WebhookRequest,
) -> Result<WebhookOutcome, WebhookError> {
    let signature = webhook::header(request, SIGNATURE.name);
    let params = webhook::form(&request.body);
    let base = wire::signature_base(&request.url, &params);
    SIGNATURE.verify(base.as_bytes(), signature)?;
    let param = |name: &str| webhook::param(&params, name).map(str::to_owned);
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
            response: webhook::no_content(),
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
        response: webhook::respond(
            200,
            "text/xml",
            br#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#,
        ),
    })
}

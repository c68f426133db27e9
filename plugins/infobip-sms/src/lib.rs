//! Herald provider plugin for Infobip SMS: `POST /sms/2/text/advanced` with
//! `Authorization: App <api key>`, JSON delivery reports to the per-message
//! `notifyUrl`, inbound (MO) messages, and status lookups in the message
//! logs. Infobip does not sign webhooks: see `provider_wire::infobip` for
//! the token that stands in. The wire format lives there; this is the shim.

wit_bindgen::generate!({ path: "../../wit", world: "reconciling-provider-plugin" });

#[path = "../../shim/common.rs"]
mod common;

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use herald::provider::host::secret_equals;
use herald::provider::types::{
    ChannelKind, Config, Content, DeliveryUpdate, Event, HttpRequest, HttpResponse, InboundMessage,
    OutboundMessage, PluginManifest, SendError, SendReceipt, TemplateInfo, WebhookError,
    WebhookOutcome, WebhookRequest,
};
use provider_wire::infobip as wire;

const PROVIDER: &str = "Infobip";
const DEFAULT_BASE_URL: &str = "https://api.infobip.com";

struct InfobipSms;

/// A JSON request with `Authorization: App {{secret.api-key}}` (Infobip's
/// API-key scheme is neither Basic nor Bearer, so it goes in a header).
fn request(method: &str, url: String, body: Vec<u8>) -> HttpRequest {
    let mut request = common::json_request(method, url, body);
    request
        .headers
        .push(("Authorization".into(), "App {{secret.api-key}}".into()));
    request
}

fn http_error(response: &HttpResponse) -> SendError {
    let retry_after = common::header(&response.headers, "retry-after");
    common::send_error(wire::error_from(
        response.status,
        retry_after,
        &response.body,
    ))
}

fn update(report: wire::Report) -> DeliveryUpdate {
    DeliveryUpdate {
        provider_message_id: report.message_id,
        status: common::delivery_status(report.status),
        error_code: report.error_code,
        error_message: report.error_message,
        timestamp_ms: report.timestamp_ms,
    }
}

impl Guest for InfobipSms {
    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "infobip-sms".into(),
            version: "1.0.0".into(),
            channels: vec![ChannelKind::Sms],
            config: vec![
                common::field(
                    "api-key",
                    "API key",
                    "Infobip API key (App authorization)",
                    true,
                    true,
                ),
                common::field(
                    "webhook-token",
                    "Webhook token",
                    "URL-safe secret (e.g. hex) Herald puts at the end of delivery report URLs (/webhooks/{channel}/token/<it>); use the same URL for inbound forwarding at Infobip",
                    true,
                    true,
                ),
                // Infobip gives each account its own host (xxxxx.api.infobip.com).
                common::base_url_field(
                    "https://api.infobip.com (or your account's xxxxx.api.infobip.com)",
                ),
            ],
            allowed_hosts: vec!["api.infobip.com".into(), "*.api.infobip.com".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        common::validate_common(&config, &[])
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let Content::Text(text) = &message.content else {
            return Err(SendError::InvalidConfig(
                "infobip-sms sends SMS text content only".into(),
            ));
        };
        if !text.media.is_empty() {
            return Err(SendError::InvalidConfig(
                "infobip-sms cannot send media (MMS)".into(),
            ));
        }
        let base = common::base_url(&config, DEFAULT_BASE_URL);
        let body = wire::send_body(
            &message.to,
            &message.sender,
            &text.body,
            &message.idempotency_key,
            &wire::notify_url(&message.status_callback_url),
        );
        let request = request("POST", wire::send_url(base), body.to_string().into_bytes());
        let response = common::send_http(PROVIDER, &request)?;
        if !common::is_success(&response) {
            return Err(http_error(&response));
        }
        match wire::parse_send(&response.body) {
            Ok((id, status)) => Ok(SendReceipt {
                provider_message_id: id,
                status: common::delivery_status(status),
            }),
            Err(Ok(refusal)) => Err(common::send_error(refusal)),
            Err(Err(unreadable)) => Err(common::unreadable(PROVIDER, unreadable)),
        }
    }

    fn handle_webhook(
        _config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let token = wire::token(&request.url)
            .ok_or_else(|| WebhookError::Unauthorized("missing webhook token".into()))?;
        if !secret_equals("webhook-token", &token) {
            return Err(WebhookError::Unauthorized(
                "webhook token does not match".into(),
            ));
        }
        let events = wire::parse_notification(&request.body)
            .map_err(WebhookError::BadRequest)?
            .into_iter()
            .map(|n| match n {
                wire::Notification::Report(report) => Event::Delivery(update(report)),
                wire::Notification::Inbound(m) => Event::Inbound(InboundMessage {
                    provider_message_id: m.message_id,
                    sender: m.from,
                    recipient: m.to,
                    body: m.text,
                    media: Vec::new(),
                }),
            })
            .collect();
        Ok(WebhookOutcome {
            events,
            response: common::no_content(),
        })
    }

    fn fetch_status(config: Config, id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        let base = common::base_url(&config, DEFAULT_BASE_URL);
        let response = common::send_http(
            PROVIDER,
            &request("GET", wire::logs_url(base, &id), Vec::new()),
        )?;
        if !common::is_success(&response) {
            return Err(http_error(&response));
        }
        let report =
            wire::parse_logs(&response.body).map_err(|e| common::unreadable(PROVIDER, e))?;
        Ok(report.map(update))
    }

    fn list_templates(_config: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
}

impl Lookup for InfobipSms {
    /// Infobip keeps the `messageId` Herald chose (the idempotency key) as
    /// the message's id, so an uncertain send is looked up in the logs
    /// like any other.
    fn find_sent(config: Config, query: SentQuery) -> Result<Option<DeliveryUpdate>, SendError> {
        <InfobipSms as Guest>::fetch_status(config, query.idempotency_key)
    }
}

export!(InfobipSms);

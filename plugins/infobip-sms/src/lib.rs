//! Herald provider plugin for Infobip SMS: `POST /sms/2/text/advanced` with
//! `Authorization: App <api key>`, JSON delivery reports to the per-message
//! `notifyUrl`, inbound (MO) messages, and status lookups in the message
//! logs. Infobip does not sign webhooks: see `provider_wire::infobip` for
//! the token that stands in. The wire format lives there; this is the shim.

// 1.4: a channel's waiting webhooks come in one call (`webhooks`).
herald_plugin::bindings!("../../wit", "batching-reconciling-provider-plugin");

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use exports::herald::provider::webhooks::Guest as Webhooks;
use herald_plugin::config::{self, field};
use herald_plugin::types::{
    ChannelKind, Config, Content, DeliveryUpdate, Event, HttpAuth, HttpRequest, HttpResponse,
    InboundMessage, OutboundMessage, PluginManifest, SendError, SendReceipt, TemplateInfo,
    WebhookError, WebhookOutcome, WebhookRequest,
};
use herald_plugin::{answer, host, request, webhook};
use provider_wire::{delivery_status, infobip as wire};

const PROVIDER: &str = "Infobip";
const DEFAULT_BASE_URL: &str = "https://api.infobip.com";

pub struct InfobipSms;

/// A JSON request with `Authorization: App {{secret.api-key}}` (Infobip's
/// API-key scheme is neither Basic nor Bearer, so it goes in a header).
fn app_auth(request: HttpRequest) -> HttpRequest {
    let key = format!("App {}", request::secret("api-key"));
    request::with_header(request, "Authorization", key)
}

fn http_error(response: &HttpResponse) -> SendError {
    let retry_after = answer::header(&response.headers, "retry-after");
    wire::error_from(response.status, retry_after, &response.body).into_send_error()
}

fn update(report: wire::Report) -> DeliveryUpdate {
    DeliveryUpdate {
        provider_message_id: report.message_id,
        status: delivery_status(report.status),
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
                field(
                    "api-key",
                    "API key",
                    "Infobip API key (App authorization)",
                    true,
                    true,
                ),
                field(
                    "webhook-token",
                    "Webhook token",
                    "URL-safe secret (e.g. hex) Herald puts at the end of delivery report URLs (/webhooks/{channel}/token/<it>); use the same URL for inbound forwarding at Infobip",
                    true,
                    true,
                ),
                // Infobip gives each account its own host (xxxxx.api.infobip.com).
                config::base_url_field(
                    "https://api.infobip.com (or your account's xxxxx.api.infobip.com)",
                ),
            ],
            allowed_hosts: vec!["api.infobip.com".into(), "*.api.infobip.com".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        config::validate(&config, &[])
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
        let base = config::base_url(&config, DEFAULT_BASE_URL);
        let body = wire::send_body(
            &message.to,
            &message.sender,
            &text.body,
            &message.idempotency_key,
            &wire::notify_url(&message.status_callback_url),
        );
        let request = app_auth(request::json(wire::send_url(base), HttpAuth::None, &body));
        let response = host::send(PROVIDER, &request)?;
        if !answer::is_success(&response) {
            return Err(http_error(&response));
        }
        match wire::parse_send(&response.body) {
            Ok((id, status)) => Ok(answer::receipt(id, delivery_status(status))),
            Err(Ok(refusal)) => Err(refusal.into_send_error()),
            Err(Err(unreadable)) => Err(answer::unreadable(PROVIDER, unreadable)),
        }
    }

    fn handle_webhook(
        _config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let token = wire::token(&request.url)
            .ok_or_else(|| WebhookError::Unauthorized("missing webhook token".into()))?;
        if !host::secret_equals("webhook-token", &token) {
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
            response: webhook::no_content(),
        })
    }

    fn fetch_status(config: Config, id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        let base = config::base_url(&config, DEFAULT_BASE_URL);
        let request = app_auth(request::get(wire::logs_url(base, &id), HttpAuth::None));
        let response = host::send(PROVIDER, &request)?;
        if !answer::is_success(&response) {
            return Err(http_error(&response));
        }
        let report =
            wire::parse_logs(&response.body).map_err(|e| answer::unreadable_lookup(PROVIDER, e))?;
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

impl Webhooks for InfobipSms {
    fn handle_webhooks(
        config: Config,
        requests: Vec<WebhookRequest>,
    ) -> Vec<Result<WebhookOutcome, WebhookError>> {
        webhook::each(&config, requests, |c, r| Self::handle_webhook(c.clone(), r))
    }
}

// Natively (the test kit) the plugin is a plain library.

#[cfg(target_arch = "wasm32")]
export!(InfobipSms);

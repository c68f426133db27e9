//! Herald provider plugin for the Meta WhatsApp Cloud API: template messages
//! through `POST /{version}/{phone-number-id}/messages`, template sync from
//! `GET /{version}/{waba-id}/message_templates`, and the app webhook
//! (subscription handshake, `X-Hub-Signature-256`-signed notifications).
//! The wire format lives in `provider_wire::whatsapp`; this is the shim.

// 1.4: a channel's waiting webhooks come in one call (`webhooks`).
herald_plugin::bindings!("../../wit", "batching-provider-plugin");

use exports::herald::provider::provider::Guest;
use exports::herald::provider::webhooks::Guest as Webhooks;
use herald_plugin::config::{self, field, get, require};
use herald_plugin::types::{
    ChannelKind, Config, Content, DeliveryStatus, DeliveryUpdate, Event, HmacAlgorithm,
    HttpRequest, HttpResponse, InboundMessage, Media, OutboundMessage, PluginManifest, SendError,
    SendReceipt, TemplateInfo, WebhookError, WebhookOutcome, WebhookRequest,
};
use herald_plugin::webhook::{self, Encoding, Signature};
use herald_plugin::{answer, host, request};
use provider_wire::{delivery_status, whatsapp as wire};

const PROVIDER: &str = "WhatsApp Cloud API";
const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// Safety net against a provider that keeps answering with a `next` page.
const MAX_TEMPLATE_PAGES: usize = 50;
/// Notifications: `sha256=` and the hex HMAC-SHA256 of the body under the
/// app secret.
pub const SIGNATURE: Signature = Signature {
    algorithm: HmacAlgorithm::Sha256,
    secret: "app-secret",
    encoding: Encoding::Hex,
    name: "X-Hub-Signature-256",
};

pub struct WhatsAppCloud;

fn base(config: &Config) -> &str {
    config::base_url(config, DEFAULT_BASE_URL)
}

fn version(config: &Config) -> &str {
    get(config, "api-version").unwrap_or(wire::DEFAULT_VERSION)
}

/// A Graph API call as the access token's bearer; JSON when it has a body.
fn graph_request(url: String, body: Option<&serde_json::Value>) -> HttpRequest {
    let auth = request::bearer("access-token");
    match body {
        Some(body) => request::json(url, auth, body),
        None => request::get(url, auth),
    }
}

fn graph_error(response: &HttpResponse) -> SendError {
    let retry_after = answer::header(&response.headers, "retry-after");
    wire::error_from(response.status, retry_after, &response.body).into_send_error()
}

impl Guest for WhatsAppCloud {
    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "whatsapp-cloud".into(),
            version: "1.0.0".into(),
            channels: vec![ChannelKind::Whatsapp],
            config: vec![
                field(
                    "access-token",
                    "Access token",
                    "System user access token with whatsapp_business_messaging",
                    true,
                    true,
                ),
                field(
                    "app-secret",
                    "App secret",
                    "Meta app secret: key of the X-Hub-Signature-256 webhook signatures",
                    true,
                    true,
                ),
                field(
                    "verify-token",
                    "Webhook verify token",
                    "The token entered in the app's webhook settings (hub.verify_token)",
                    true,
                    true,
                ),
                field(
                    "phone-number-id",
                    "Phone number ID",
                    "Sending phone number id, used when a message names no sender",
                    false,
                    false,
                ),
                field(
                    "waba-id",
                    "WhatsApp Business Account ID",
                    "Account whose message templates are listed",
                    false,
                    false,
                ),
                field(
                    "api-version",
                    "Graph API version",
                    "Defaults to v21.0",
                    false,
                    false,
                ),
                config::base_url_field(DEFAULT_BASE_URL),
            ],
            allowed_hosts: vec!["graph.facebook.com".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        config::validate(&config, &[])?;
        if let Some(v) = get(&config, "api-version")
            && !(v.starts_with('v') && v[1..].parse::<f32>().is_ok())
        {
            return Err("api-version: expected a Graph version such as v21.0".into());
        }
        for name in ["phone-number-id", "waba-id"] {
            if let Some(id) = get(&config, name)
                && !id.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!("{name}: a Meta id is numeric"));
            }
        }
        Ok(())
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let Content::WhatsappTemplate(template) = &message.content else {
            return Err(SendError::InvalidConfig(
                "whatsapp-cloud sends WhatsApp template content only".into(),
            ));
        };
        let phone_number_id = match message.sender.trim() {
            "" => require(&config, "phone-number-id")?,
            sender => sender,
        };
        let body = wire::template_body(
            &message.to,
            &wire::Template {
                name: &template.name,
                language: &template.language,
                body_parameters: &template.body_parameters,
                header_parameters: &template.header_parameters,
                header_media: template
                    .header_media
                    .as_ref()
                    .map(|m| (m.url.as_str(), m.content_type.as_str())),
            },
            &message.idempotency_key,
        );
        let url = wire::messages_url(base(&config), version(&config), phone_number_id);
        let response = host::send(PROVIDER, &graph_request(url, Some(&body)))?;
        if !answer::is_success(&response) {
            return Err(graph_error(&response));
        }
        let id = wire::message_id(&response.body)
            .ok_or_else(|| answer::unreadable(PROVIDER, "no messages[0].id"))?;
        Ok(answer::receipt(id, DeliveryStatus::Accepted))
    }

    fn handle_webhook(
        _config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        if request.method.eq_ignore_ascii_case("GET") {
            // Meta's subscription handshake: echo the challenge only to
            // whoever knows the verify token.
            let (token, challenge) = wire::verification(&request.url).ok_or_else(|| {
                WebhookError::BadRequest("expected hub.mode=subscribe with a challenge".into())
            })?;
            if !host::secret_equals("verify-token", &token) {
                return Err(WebhookError::Unauthorized(
                    "hub.verify_token does not match".into(),
                ));
            }
            return Ok(WebhookOutcome {
                events: Vec::new(),
                response: webhook::respond(200, "text/plain", challenge.into_bytes()),
            });
        }
        let signature = webhook::header(&request, SIGNATURE.name).and_then(wire::signature_hex);
        SIGNATURE.verify(&request.body, signature)?;
        let notifications =
            wire::parse_notification(&request.body).map_err(WebhookError::BadRequest)?;
        let events = notifications
            .into_iter()
            .map(|n| match n {
                wire::Notification::Status(s) => Event::Delivery(DeliveryUpdate {
                    provider_message_id: s.message_id,
                    status: delivery_status(s.status),
                    error_code: s.error_code,
                    error_message: s.error_message,
                    timestamp_ms: s.timestamp_ms,
                }),
                wire::Notification::Inbound(m) => Event::Inbound(InboundMessage {
                    provider_message_id: m.message_id,
                    sender: m.from,
                    recipient: m.to,
                    body: m.body,
                    // Graph sends a media id; `GET /{version}/{id}` (with the
                    // access token) answers with the download URL.
                    media: m
                        .media
                        .map(|(id, content_type)| Media {
                            url: format!("{DEFAULT_BASE_URL}/{}/{id}", wire::DEFAULT_VERSION),
                            content_type,
                        })
                        .into_iter()
                        .collect(),
                }),
            })
            .collect();
        Ok(WebhookOutcome {
            events,
            response: webhook::respond(200, "text/plain", b"OK".to_vec()),
        })
    }

    /// Graph has no lookup of a sent message's status: statuses only arrive
    /// by webhook.
    fn fetch_status(_config: Config, _id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        Ok(None)
    }

    fn list_templates(config: Config) -> Result<Vec<TemplateInfo>, SendError> {
        let waba_id = require(&config, "waba-id")?;
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TEMPLATE_PAGES {
            let url =
                wire::templates_url(base(&config), version(&config), waba_id, after.as_deref());
            let response = host::send(PROVIDER, &graph_request(url, None))?;
            if !answer::is_success(&response) {
                return Err(graph_error(&response));
            }
            let (page, next) = wire::parse_template_page(&response.body)
                .map_err(|e| answer::unreadable_lookup(PROVIDER, e))?;
            templates.extend(page.into_iter().map(|t| TemplateInfo {
                name: t.name,
                language: t.language,
                category: t.category,
                status: t.status,
                body_parameter_count: t.body_parameter_count,
                body_text: t.body_text,
            }));
            match next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(templates),
            }
        }
        Err(SendError::Transient(format!(
            "template listing did not end after {MAX_TEMPLATE_PAGES} pages"
        )))
    }
}

impl Webhooks for WhatsAppCloud {
    fn handle_webhooks(
        config: Config,
        requests: Vec<WebhookRequest>,
    ) -> Vec<Result<WebhookOutcome, WebhookError>> {
        webhook::each(&config, requests, |c, r| Self::handle_webhook(c.clone(), r))
    }
}

// Natively (the test kit) the plugin is a plain library.

#[cfg(target_arch = "wasm32")]
export!(WhatsAppCloud);

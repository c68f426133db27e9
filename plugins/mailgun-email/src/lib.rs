//! Herald provider plugin for email through Mailgun: `POST
//! /v3/{domain}/messages` with Basic `api:<key>`, event webhooks verified
//! with HMAC-SHA256(webhook signing key, timestamp + token), and lookups in
//! the events API. The wire format lives in `provider_wire::mailgun`; this
//! is the shim.

// 1.4: a channel's waiting webhooks come in one call (`webhooks`).
herald_plugin::bindings!("../../wit", "batching-reconciling-provider-plugin");

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use exports::herald::provider::webhooks::Guest as Webhooks;
use herald_plugin::config::{self, field};
use herald_plugin::types::{
    ChannelKind, Config, Content, DeliveryStatus, DeliveryUpdate, Event, HmacAlgorithm,
    HttpRequest, HttpResponse, OutboundMessage, PluginManifest, SendError, SendReceipt,
    TemplateInfo, WebhookError, WebhookOutcome, WebhookRequest,
};
use herald_plugin::webhook::{self, Encoding, Signature};
use herald_plugin::{answer, host, request};
use provider_wire::{delivery_status, mailgun as wire};

const PROVIDER: &str = "Mailgun";
const DEFAULT_BASE_URL: &str = "https://api.mailgun.net";
/// Event webhooks: hex HMAC-SHA256 of timestamp + token under the signing key.
pub const SIGNATURE: Signature = Signature {
    algorithm: HmacAlgorithm::Sha256,
    secret: "webhook-signing-key",
    encoding: Encoding::Hex,
    name: "Mailgun webhook signature",
};

pub struct MailgunEmail;

/// `POST` of a form, or `GET` without `form`, as Basic `api:<key>`.
fn request(url: String, form: Option<String>) -> HttpRequest {
    let auth = request::basic("api", "api-key");
    match form {
        Some(form) => {
            let mut request = request::form(url, auth, []);
            request.body = form.into_bytes();
            request
        }
        None => request::get(url, auth),
    }
}

fn http_error(response: &HttpResponse) -> SendError {
    let retry_after = answer::header(&response.headers, "retry-after");
    wire::error_from(response.status, retry_after, &response.body).into_send_error()
}

fn update(status: wire::EventStatus) -> DeliveryUpdate {
    DeliveryUpdate {
        provider_message_id: status.message_id,
        status: delivery_status(status.status),
        error_code: status.error_code,
        error_message: status.error_message,
        timestamp_ms: status.timestamp_ms,
    }
}

impl Guest for MailgunEmail {
    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "mailgun-email".into(),
            version: "1.0.0".into(),
            channels: vec![ChannelKind::Email],
            config: vec![
                field(
                    "domain",
                    "Sending domain",
                    "Mailgun domain, e.g. mg.example.com",
                    true,
                    false,
                ),
                field("api-key", "API key", "Mailgun private API key", true, true),
                field(
                    "webhook-signing-key",
                    "Webhook signing key",
                    "Mailgun's HTTP webhook signing key (verifies event webhooks)",
                    true,
                    true,
                ),
                // EU accounts live on api.eu.mailgun.net.
                config::base_url_field(DEFAULT_BASE_URL),
            ],
            allowed_hosts: vec!["api.mailgun.net".into(), "api.eu.mailgun.net".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        config::validate(&config, &["domain"])?;
        match config::get(&config, "domain") {
            Some(domain) if !domain.contains('.') || domain.contains('/') => {
                Err("domain: expected a domain name such as mg.example.com".into())
            }
            _ => Ok(()),
        }
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let Content::Email(email) = &message.content else {
            return Err(SendError::InvalidConfig(
                "mailgun-email sends email content only".into(),
            ));
        };
        let domain = config::require(&config, "domain")?;
        let base = config::base_url(&config, DEFAULT_BASE_URL);
        let form = wire::send_form(&wire::Email {
            from: &message.sender,
            to: &message.to,
            subject: &email.subject,
            text: &email.text_body,
            html: email.html_body.as_deref(),
            key: &message.idempotency_key,
        });
        let request = request(wire::send_url(base, domain), Some(form));
        let response = host::send(PROVIDER, &request)?;
        if !answer::is_success(&response) {
            return Err(http_error(&response));
        }
        let id = wire::message_id(&response.body)
            .ok_or_else(|| answer::unreadable(PROVIDER, "no id"))?;
        Ok(answer::receipt(id, DeliveryStatus::Accepted))
    }

    fn handle_webhook(
        _config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let (signature, status) =
            wire::parse_webhook(&request.body).map_err(WebhookError::BadRequest)?;
        let signed = signature.signed_data();
        SIGNATURE.verify(signed.as_bytes(), Some(&signature.signature))?;
        // A valid signature replayed later is still refused.
        if !signature.is_fresh(host::now()) {
            return Err(WebhookError::Unauthorized(
                "webhook timestamp too old".into(),
            ));
        }
        Ok(WebhookOutcome {
            events: status
                .map(|s| Event::Delivery(update(s)))
                .into_iter()
                .collect(),
            response: webhook::respond(200, "text/plain", b"OK".to_vec()),
        })
    }

    fn fetch_status(config: Config, id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        let domain = config::require(&config, "domain")?;
        let base = config::base_url(&config, DEFAULT_BASE_URL);
        let response = host::send(
            PROVIDER,
            &request(wire::events_url(base, domain, &id), None),
        )?;
        if !answer::is_success(&response) {
            return Err(http_error(&response));
        }
        let latest = wire::latest_status(&response.body)
            .map_err(|e| answer::unreadable_lookup(PROVIDER, e))?;
        Ok(latest.map(update))
    }

    fn list_templates(_config: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
}

impl Lookup for MailgunEmail {
    /// The events to the recipient around the attempt, searched for the
    /// one carrying Herald's key (`v:herald-key`); a minute of slack on
    /// each side for clocks and queueing.
    fn find_sent(config: Config, query: SentQuery) -> Result<Option<DeliveryUpdate>, SendError> {
        let domain = config::require(&config, "domain")?;
        let base = config::base_url(&config, DEFAULT_BASE_URL);
        let begin = (query.not_before_ms / 1000).saturating_sub(60);
        let end = query.not_after_ms / 1000 + 60;
        let url = wire::recipient_events_url(base, domain, &query.to, begin, end);
        let response = host::send(PROVIDER, &request(url, None))?;
        if !answer::is_success(&response) {
            return Err(http_error(&response));
        }
        let found = wire::status_by_key(&response.body, &query.idempotency_key)
            .map_err(|e| answer::unreadable_lookup(PROVIDER, e))?;
        Ok(found.map(update))
    }
}

impl Webhooks for MailgunEmail {
    fn handle_webhooks(
        config: Config,
        requests: Vec<WebhookRequest>,
    ) -> Vec<Result<WebhookOutcome, WebhookError>> {
        webhook::each(&config, requests, |c, r| Self::handle_webhook(c.clone(), r))
    }
}

// Natively (the test kit) the plugin is a plain library.

#[cfg(target_arch = "wasm32")]
export!(MailgunEmail);

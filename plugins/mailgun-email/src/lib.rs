//! Herald provider plugin for email through Mailgun: `POST
//! /v3/{domain}/messages` with Basic `api:<key>`, event webhooks verified
//! with HMAC-SHA256(webhook signing key, timestamp + token), and lookups in
//! the events API. The wire format lives in `provider_wire::mailgun`; this
//! is the shim.

wit_bindgen::generate!({ path: "../../wit", world: "reconciling-provider-plugin" });

#[path = "../../shim/common.rs"]
mod common;

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use herald::provider::host::now;
use herald::provider::types::{
    ChannelKind, Config, Content, DeliveryStatus, DeliveryUpdate, Event, HmacAlgorithm, HttpAuth,
    HttpRequest, HttpResponse, OutboundMessage, PluginManifest, SendError, SendReceipt,
    TemplateInfo, WebhookError, WebhookOutcome, WebhookRequest,
};
use provider_wire::mailgun as wire;

const PROVIDER: &str = "Mailgun";
const DEFAULT_BASE_URL: &str = "https://api.mailgun.net";

struct MailgunEmail;

fn request(method: &str, url: String, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        url,
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body,
        auth: HttpAuth::Basic(("api".into(), "{{secret.api-key}}".into())),
        timeout_ms: None,
    }
}

fn http_error(response: &HttpResponse) -> SendError {
    let retry_after = common::header(&response.headers, "retry-after");
    common::send_error(wire::error_from(
        response.status,
        retry_after,
        &response.body,
    ))
}

fn update(status: wire::EventStatus) -> DeliveryUpdate {
    DeliveryUpdate {
        provider_message_id: status.message_id,
        status: common::delivery_status(status.status),
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
                common::field(
                    "domain",
                    "Sending domain",
                    "Mailgun domain, e.g. mg.example.com",
                    true,
                    false,
                ),
                common::field("api-key", "API key", "Mailgun private API key", true, true),
                common::field(
                    "webhook-signing-key",
                    "Webhook signing key",
                    "Mailgun's HTTP webhook signing key (verifies event webhooks)",
                    true,
                    true,
                ),
                // EU accounts live on api.eu.mailgun.net.
                common::base_url_field(DEFAULT_BASE_URL),
            ],
            allowed_hosts: vec!["api.mailgun.net".into(), "api.eu.mailgun.net".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        common::validate_common(&config, &["domain"])?;
        match common::get(&config, "domain") {
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
        let domain = common::require(&config, "domain")?;
        let base = common::base_url(&config, DEFAULT_BASE_URL);
        let form = wire::send_form(&wire::Email {
            from: &message.sender,
            to: &message.to,
            subject: &email.subject,
            text: &email.text_body,
            html: email.html_body.as_deref(),
            key: &message.idempotency_key,
        });
        let response = common::send_http(
            PROVIDER,
            &request("POST", wire::send_url(base, domain), form.into_bytes()),
        )?;
        if !common::is_success(&response) {
            return Err(http_error(&response));
        }
        let id = wire::message_id(&response.body)
            .ok_or_else(|| common::unreadable(PROVIDER, "no id"))?;
        Ok(SendReceipt {
            provider_message_id: id,
            status: DeliveryStatus::Accepted,
        })
    }

    fn handle_webhook(
        _config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let (signature, status) =
            wire::parse_webhook(&request.body).map_err(WebhookError::BadRequest)?;
        let expected = common::hmac_hex(
            HmacAlgorithm::Sha256,
            "webhook-signing-key",
            signature.signed_data().as_bytes(),
        )?;
        common::check_signature(&expected, &signature.signature, "Mailgun webhook signature")?;
        // A valid signature replayed later is still refused.
        if !signature.is_fresh(now()) {
            return Err(WebhookError::Unauthorized(
                "webhook timestamp too old".into(),
            ));
        }
        Ok(WebhookOutcome {
            events: status
                .map(|s| Event::Delivery(update(s)))
                .into_iter()
                .collect(),
            response: common::respond(200, "text/plain", b"OK".to_vec()),
        })
    }

    fn fetch_status(config: Config, id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        let domain = common::require(&config, "domain")?;
        let base = common::base_url(&config, DEFAULT_BASE_URL);
        let response = common::send_http(
            PROVIDER,
            &request("GET", wire::events_url(base, domain, &id), Vec::new()),
        )?;
        if !common::is_success(&response) {
            return Err(http_error(&response));
        }
        let latest =
            wire::latest_status(&response.body).map_err(|e| common::unreadable(PROVIDER, e))?;
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
        let domain = common::require(&config, "domain")?;
        let base = common::base_url(&config, DEFAULT_BASE_URL);
        let begin = (query.not_before_ms / 1000).saturating_sub(60);
        let end = query.not_after_ms / 1000 + 60;
        let url = wire::recipient_events_url(base, domain, &query.to, begin, end);
        let response = common::send_http(PROVIDER, &request("GET", url, Vec::new()))?;
        if !common::is_success(&response) {
            return Err(http_error(&response));
        }
        let found = wire::status_by_key(&response.body, &query.idempotency_key)
            .map_err(|e| common::unreadable(PROVIDER, e))?;
        Ok(found.map(update))
    }
}

export!(MailgunEmail);

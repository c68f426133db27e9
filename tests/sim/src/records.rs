//! What the simulator records of each accepted message, so end-to-end tests
//! can assert field by field, and the WhatsApp templates it serves.

use std::collections::HashSet;

use serde::Serialize;

/// One accepted message, as the provider received it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReceivedMessage {
    /// Which endpoint took it: `twilio` (SMS/MMS), `twilio-voice`,
    /// `whatsapp`, `infobip`, `mailgun`, `vonage` or `generic`.
    pub provider: String,
    /// The id the provider gave it (Twilio: `SM`/`CA` + 32 hex digits,
    /// WhatsApp `wamid.…`, Infobip the `messageId`, Mailgun `<…@domain>`).
    pub sid: String,
    pub account_sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    /// Request headers, names lowercased; `authorization` is redacted.
    pub headers: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// The client's own reference, where the provider has one: WhatsApp
    /// `biz_opaque_callback_data`, Infobip `messageId` as sent, Mailgun
    /// `v:herald-key`, Vonage `client-ref`, the generic gateway's `reference`.
    pub client_reference: Option<String>,
    /// Infobip `callbackData`; Mailgun custom `h:` headers, `Name: value`;
    /// Vonage `type=text|unicode`.
    pub extra: Vec<String>,
    /// Email subject (Mailgun).
    pub subject: Option<String>,
    /// Email HTML part (Mailgun).
    pub html: Option<String>,
    /// WhatsApp template send details.
    pub template: Option<TemplateSend>,
    /// Voice call details, updated as the call progresses.
    pub call: Option<CallRecord>,
    /// MMS media fetched by the simulator, in `media_urls` order.
    pub media_fetches: Vec<MediaFetch>,
}

/// A WhatsApp template as sent (`type: template`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TemplateSend {
    pub name: String,
    pub language: String,
    pub body_parameters: Vec<String>,
    pub header_parameters: Vec<String>,
    /// `(kind, link)` of a media header: kind is `image`, `video` or `document`.
    pub header_media: Option<(String, String)>,
}

/// A voice call as requested, and what happened to it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CallRecord {
    /// The TwiML `Url` Twilio requests when the call is answered.
    pub url: String,
    pub status_callback: Option<String>,
    /// `StatusCallbackEvent` values asked for.
    pub status_callback_events: Vec<String>,
    /// `MachineDetection` (`Enable` or `DetectMessageEnd`), if any.
    pub machine_detection: Option<String>,
    pub async_amd: bool,
    pub async_amd_status_callback: Option<String>,
    /// Current `CallStatus`.
    pub status: String,
    /// `AnsweredBy` as reported (human, machine_start, machine_end_beep, fax...).
    pub answered_by: Option<String>,
    /// HTTP status of the `Url` request, and the TwiML it answered.
    pub twiml_status: Option<u16>,
    pub twiml: Option<String>,
    /// `Twiml` parameters of live-call updates, in order.
    pub twiml_updates: Vec<String>,
    pub duration_secs: Option<u32>,
}

/// One media URL fetched by the simulator (Twilio fetches MMS media itself).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MediaFetch {
    pub url: String,
    /// HTTP status, `None` when no answer came (or the URL was not loopback).
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub bytes: u64,
    /// SHA-256 of the bytes received, lowercase hex.
    pub sha256: Option<String>,
}

/// A WhatsApp message template the simulator serves and checks sends against.
#[derive(Clone, Debug, Serialize)]
pub struct SimTemplate {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING` or `REJECTED`; only approved ones can be sent.
    pub status: String,
    /// Header format: `TEXT`, `IMAGE`, `VIDEO` or `DOCUMENT`; `None` for no header.
    pub header_format: Option<String>,
    /// Body text with `{{1}}`..`{{n}}` placeholders.
    pub body_text: String,
}

impl SimTemplate {
    pub fn new(name: &str, language: &str, category: &str, status: &str, body_text: &str) -> Self {
        SimTemplate {
            name: name.to_owned(),
            language: language.to_owned(),
            category: category.to_owned(),
            status: status.to_owned(),
            header_format: None,
            body_text: body_text.to_owned(),
        }
    }

    /// Distinct `{{n}}` placeholders in the body: the parameters a send needs.
    pub fn body_parameter_count(&self) -> usize {
        let mut seen = HashSet::new();
        let mut rest = self.body_text.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            seen.insert(after[..end].trim().to_owned());
            rest = &after[end + 2..];
        }
        seen.len()
    }

    /// `order_update` (approved, 2 parameters), `spring_sale` (approved,
    /// image header, 1 parameter), `new_feature` (pending, 3 parameters),
    /// `old_offer` (rejected, none).
    pub fn default_set() -> Vec<SimTemplate> {
        vec![
            SimTemplate::new(
                "order_update",
                "en_US",
                "UTILITY",
                "APPROVED",
                "Hi {{1}}, your order {{2}} has shipped.",
            ),
            SimTemplate {
                header_format: Some("IMAGE".to_owned()),
                ..SimTemplate::new(
                    "spring_sale",
                    "en_US",
                    "MARKETING",
                    "APPROVED",
                    "{{1}}, our spring sale starts today!",
                )
            },
            SimTemplate::new(
                "new_feature",
                "en_US",
                "MARKETING",
                "PENDING",
                "Hello {{1}}, meet {{2}} and {{3}}.",
            ),
            SimTemplate::new(
                "old_offer",
                "es",
                "MARKETING",
                "REJECTED",
                "Oferta especial",
            ),
        ]
    }
}

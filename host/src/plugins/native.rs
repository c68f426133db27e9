//! A provider compiled into the host instead of run in the sandbox: the
//! dispatch benchmark's second ceiling, which shows what the wasm sandbox
//! costs a campaign (issue 12: "the same campaign with the provider compiled
//! natively into the host"). Only the bundled `twilio-sms` has one, and only
//! a server started with `--native-provider twilio-sms` uses it; nothing else
//! ever does, since native code has none of the sandbox's limits.
//!
//! It does what the component does for the two calls a campaign makes per
//! member (`send`, and `handle-webhook` or `handle-webhooks` for the status
//! callbacks), on the
//! same wire crate (`twilio-wire`) and through the same host imports (egress
//! policy, secret placeholders, the wire log of what reached the provider),
//! so the difference between the two runs is the sandbox alone. Every other
//! export still runs in the component.

use base64::Engine as _;

use super::bindings::herald::provider::host::Host as _;
use super::bindings::herald::provider::signatures::Host as _;
use super::bindings::herald::provider::types::{
    self as wit, DeliveryStatus, DeliveryUpdate, Event, HmacAlgorithm, HttpAuth, HttpError,
    HttpRequest, HttpResponse, InboundMessage, Media, Rejection, SendError, SendReceipt,
    WebhookError, WebhookOutcome, WebhookRequest, WebhookResponse,
};
use super::call::{Call, Reply};
use super::host_imports::HostState;
use twilio_wire as wire;

/// The providers the host can run natively, by plugin name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NativeProvider {
    TwilioSms,
}

impl NativeProvider {
    pub(super) fn named(plugin: &str) -> Option<Self> {
        (plugin == "twilio-sms").then_some(Self::TwilioSms)
    }

    /// The calls it answers itself; the rest go to the component.
    pub(super) fn answers(self, call: &Call) -> bool {
        matches!(
            call,
            Call::Send(..) | Call::Webhook(..) | Call::Webhooks(..)
        )
    }

    pub(super) async fn call(self, state: &mut HostState, call: Call) -> wasmtime::Result<Reply> {
        Ok(match call {
            Call::Send(config, message) => {
                Reply::Send(twilio_send(state, &config, &message).await?)
            }
            Call::Webhook(_, request) => Reply::Webhook(twilio_webhook(state, &request).await?),
            Call::Webhooks(_, requests) => {
                let mut replies = Vec::with_capacity(requests.len());
                for request in requests.iter() {
                    replies.push(twilio_webhook(state, request).await?);
                }
                Reply::Webhooks(replies)
            }
            _ => wasmtime::bail!("{} is not answered natively", call.export()),
        })
    }
}

fn config_value<'a>(config: &'a wit::Config, name: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

async fn twilio_send(
    state: &mut HostState,
    config: &wit::Config,
    message: &wit::OutboundMessage,
) -> wasmtime::Result<Result<SendReceipt, SendError>> {
    let wit::Content::Text(text) = &message.content else {
        return Ok(Err(SendError::InvalidConfig(
            "twilio-sms sends SMS and MMS text content only".into(),
        )));
    };
    let Some(account) = config_value(config, "account-sid") else {
        return Ok(Err(SendError::InvalidConfig("missing account-sid".into())));
    };
    let base = config_value(config, "base-url").unwrap_or("https://api.twilio.com");
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
            ("Accept".into(), "application/json".into()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("User-Agent".into(), "herald-twilio-sms/native".into()),
            (
                "X-Herald-Idempotency-Key".into(),
                message.idempotency_key.clone(),
            ),
        ],
        body: wire::form_encode(params).into_bytes(),
        auth: HttpAuth::Basic((account.into(), "{{secret.auth-token}}".into())),
        timeout_ms: None,
    };
    let response = match state.http_send(request).await? {
        Ok(response) => response,
        Err(HttpError::Timeout) => {
            return Ok(Err(SendError::Transient(
                "Twilio did not answer in time".into(),
            )));
        }
        Err(HttpError::Connection(m)) => {
            return Ok(Err(SendError::Transient(format!(
                "connection to Twilio failed: {m}"
            ))));
        }
        Err(HttpError::NotAllowed(m) | HttpError::InvalidRequest(m)) => {
            return Ok(Err(SendError::InvalidConfig(m)));
        }
    };
    if (200..300).contains(&response.status) {
        return Ok(
            match serde_json::from_slice::<wire::MessageResource>(&response.body) {
                Ok(resource) => Ok(SendReceipt {
                    status: match resource.status.as_deref().and_then(wire::status) {
                        Some(wire::Status::Sent) => DeliveryStatus::Sent,
                        _ => DeliveryStatus::Accepted,
                    },
                    provider_message_id: resource.sid,
                }),
                Err(e) => {
                    // As the component does: Twilio may have the message.
                    let reason = format!("unreadable Twilio answer: {e}");
                    state.mark_all_unsure();
                    Err(SendError::Transient(format!("unreadable: {reason}")))
                }
            },
        );
    }
    Ok(Err(twilio_error(&response)))
}

/// A Twilio error answer as the typed send error (the component's
/// `error_from`).
fn twilio_error(response: &HttpResponse) -> SendError {
    let error: wire::ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let code = error
        .code
        .map_or_else(|| response.status.to_string(), |c| c.to_string());
    let message = error
        .message
        .unwrap_or_else(|| format!("Twilio answered HTTP {}", response.status));
    let rejection = || Rejection {
        code: code.clone(),
        message: message.clone(),
    };
    match wire::classify_error(response.status, error.code) {
        wire::ErrorClass::InvalidRecipient => SendError::InvalidRecipient(rejection()),
        wire::ErrorClass::Rejected => SendError::Rejected(rejection()),
        wire::ErrorClass::RateLimited => {
            let retry_after = response
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                .map(|(_, v)| v.as_str());
            SendError::RateLimited(wire::retry_after_ms(retry_after))
        }
        wire::ErrorClass::Transient => SendError::Transient(format!("{code}: {message}")),
        wire::ErrorClass::Auth => SendError::Auth(message),
        wire::ErrorClass::InsufficientFunds => SendError::InsufficientFunds(message),
    }
}

/// A status callback, checked as the component checks it: `X-Twilio-Signature`,
/// base64 HMAC-SHA1 of the URL and the sorted form parameters under the
/// auth token, compared by the host.
async fn twilio_webhook(
    state: &mut HostState,
    request: &WebhookRequest,
) -> wasmtime::Result<Result<WebhookOutcome, WebhookError>> {
    const NAME: &str = "X-Twilio-Signature";
    let given = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(NAME))
        .map(|(_, v)| v.trim());
    let Some(given) = given else {
        return Ok(Err(WebhookError::Unauthorized(format!("missing {NAME}"))));
    };
    let mismatch = || WebhookError::Unauthorized(format!("{NAME} does not match"));
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(given) else {
        return Ok(Err(mismatch()));
    };
    let params = wire::form_decode(&request.body);
    let base = wire::signature_base(&request.url, &params);
    let verified = state
        .verify_hmac(
            HmacAlgorithm::Sha1,
            "auth-token".into(),
            base.into_bytes(),
            expected,
        )
        .await?;
    if !verified {
        return Ok(Err(mismatch()));
    }
    let param = |name: &str| wire::param(&params, name).map(str::to_owned);
    let Some(sid) = param("MessageSid").or_else(|| param("SmsSid")) else {
        return Ok(Err(WebhookError::BadRequest("no MessageSid".into())));
    };
    let Some(status) = param("MessageStatus").filter(|s| s != "received") else {
        return Ok(Ok(twilio_inbound(sid, &params)));
    };
    let status = match wire::status(&status) {
        Some(wire::Status::Accepted) => DeliveryStatus::Accepted,
        Some(wire::Status::Sent) => DeliveryStatus::Sent,
        Some(wire::Status::Delivered) => DeliveryStatus::Delivered,
        Some(wire::Status::Read) => DeliveryStatus::Read,
        Some(wire::Status::Failed) => DeliveryStatus::Failed,
        None => {
            return Ok(Err(WebhookError::BadRequest(format!(
                "unknown MessageStatus {status:?}"
            ))));
        }
    };
    let error_code = param("ErrorCode").filter(|c| !c.is_empty());
    Ok(Ok(WebhookOutcome {
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
    }))
}

/// An inbound message: Body, From, To, MediaUrlN / MediaContentTypeN,
/// answered with an empty TwiML response.
fn twilio_inbound(sid: String, params: &[(String, String)]) -> WebhookOutcome {
    let param = |name: &str| wire::param(params, name).unwrap_or_default().to_owned();
    let media_count: usize = param("NumMedia").parse().unwrap_or(0);
    let media = (0..media_count)
        .filter_map(|i| {
            Some(Media {
                url: wire::param(params, &format!("MediaUrl{i}"))?.to_owned(),
                content_type: param(&format!("MediaContentType{i}")),
            })
        })
        .collect();
    WebhookOutcome {
        events: vec![Event::Inbound(InboundMessage {
            provider_message_id: sid,
            sender: param("From"),
            recipient: param("To"),
            body: param("Body"),
            media,
        })],
        response: WebhookResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "text/xml".into())],
            body: br#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#.to_vec(),
        },
    }
}

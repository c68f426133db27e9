//! Herald provider plugin for Twilio Programmable Voice: outbound calls
//! (`POST /2010-04-01/Accounts/{sid}/Calls.json`) that connect a human to a
//! queue, with answering-machine detection that hangs up on or leaves a
//! voicemail for a machine. Every webhook (the TwiML `Url`, status and AMD
//! callbacks) is verified with `X-Twilio-Signature`. The wire format lives
//! in `twilio_wire::voice`; this is the shim.

// Built against the frozen 1.1.0 contract on purpose: the voice tests then
// prove that a plugin built for an older minor version keeps working on a
// host serving the current one (wit/README.md, "Versioning").
// The 1.1.0 types are the 1.3.0 types, so they map onto the SDK's and its
// pure helpers apply; the imports stay 1.1.0's own (`herald::provider::host`),
// so the SDK's host calls (1.3.0) are never used here.
herald_plugin::wit_bindgen::generate!({
    path: "../../wit/1.1.0",
    world: "provider-plugin",
    runtime_path: "::herald_plugin::wit_bindgen::rt",
    with: { "herald:provider/types@1.1.0": ::herald_plugin::types },
});

use exports::herald::provider::provider::Guest;
// The 1.1.0 host's imports in the component; natively the SDK's test kit
// stands in for them.
#[cfg(target_arch = "wasm32")]
use herald::provider::host::{hmac, http_send, log};
use herald_plugin::answer;
use herald_plugin::config::{self, field};
#[cfg(not(target_arch = "wasm32"))]
use herald_plugin::host::{hmac, http_send};
use herald_plugin::request;
use herald_plugin::types::{
    AmdAction, AnsweredBy, CallStatus, CallUpdate, ChannelKind, Config, Content, DeliveryStatus,
    DeliveryUpdate, Event, HmacAlgorithm, HttpRequest, HttpResponse, LogLevel, OutboundMessage,
    PluginManifest, SendError, SendReceipt, TemplateInfo, WebhookError, WebhookOutcome,
    WebhookRequest,
};
use herald_plugin::webhook::{self, Encoding, Signature};
use twilio_wire::voice::{self as wire, Action, Context};

const PROVIDER: &str = "Twilio";
const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// Every webhook: base64 HMAC-SHA1 of the URL and the sorted POST
/// parameters, keyed with the auth token.
const SIGNATURE: Signature = Signature {
    algorithm: HmacAlgorithm::Sha1,
    secret: "auth-token",
    encoding: Encoding::Base64,
    name: "X-Twilio-Signature",
};

pub struct TwilioVoice;

fn account_and_base(config: &Config) -> Result<(&str, &str), SendError> {
    Ok((
        config::require(config, "account-sid")?,
        config::base_url(config, DEFAULT_BASE_URL),
    ))
}

fn form_request(
    method: &str,
    url: String,
    account: &str,
    params: &[(String, String)],
) -> HttpRequest {
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let mut request = request::form(url, request::basic(account, "auth-token"), pairs);
    request.method = method.into();
    request
}

#[cfg(not(target_arch = "wasm32"))]
fn log(_level: LogLevel, _message: &str) {}

/// `http-send` of the 1.1.0 host, failures mapped as the SDK maps them.
fn send_http(request: &HttpRequest) -> Result<HttpResponse, SendError> {
    http_send(request).map_err(|e| answer::transport(PROVIDER, e))
}

fn twilio_error(response: &HttpResponse) -> SendError {
    let retry_after = answer::header(&response.headers, "retry-after");
    let refusal = provider_wire::twilio_error(response.status, retry_after, &response.body);
    answer::unmarked_send_error(refusal.class, refusal.code, refusal.message)
}

fn call_status(status: wire::CallStatus) -> CallStatus {
    match status {
        wire::CallStatus::Initiated => CallStatus::Initiated,
        wire::CallStatus::Ringing => CallStatus::Ringing,
        wire::CallStatus::Answered => CallStatus::Answered,
        wire::CallStatus::Completed => CallStatus::Completed,
        wire::CallStatus::Busy => CallStatus::Busy,
        wire::CallStatus::NoAnswer => CallStatus::NoAnswer,
        wire::CallStatus::Failed => CallStatus::Failed,
        wire::CallStatus::Canceled => CallStatus::Canceled,
    }
}

fn who(answered_by: wire::AnsweredBy) -> AnsweredBy {
    match answered_by {
        wire::AnsweredBy::Human => AnsweredBy::Human,
        wire::AnsweredBy::Machine | wire::AnsweredBy::Fax => AnsweredBy::Machine,
        wire::AnsweredBy::Unknown => AnsweredBy::Unknown,
    }
}

/// Checks `X-Twilio-Signature` over the full URL and the sorted POST params.
fn verify(request: &WebhookRequest, params: &[(String, String)]) -> Result<(), WebhookError> {
    let signature = webhook::header(request, SIGNATURE.name);
    let base = twilio_wire::signature_base(&request.url, params);
    let mac = hmac(SIGNATURE.algorithm, SIGNATURE.secret, base.as_bytes())
        .map_err(WebhookError::Unauthorized)?;
    SIGNATURE.matches(&mac, signature)
}

/// Redirects a live call to new TwiML (async AMD found a machine). A
/// failure is logged, not returned: the AMD result itself is still news.
fn update_live_call(config: &Config, call_sid: &str, twiml: String) -> bool {
    let Ok((account, base)) = account_and_base(config) else {
        return false;
    };
    let url = wire::call_url(base, account, call_sid);
    let request = form_request("POST", url, account, &[("Twiml".into(), twiml)]);
    match send_http(&request) {
        Ok(response) if answer::is_success(&response) => true,
        Ok(response) => {
            log(
                LogLevel::Warn,
                &format!(
                    "updating call {call_sid}: Twilio answered HTTP {}",
                    response.status
                ),
            );
            false
        }
        Err(e) => {
            log(LogLevel::Warn, &format!("updating call {call_sid}: {e:?}"));
            false
        }
    }
}

impl Guest for TwilioVoice {
    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "twilio-voice".into(),
            version: "1.0.0".into(),
            channels: vec![ChannelKind::Voice],
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
                    "Signs API requests and every call webhook",
                    true,
                    true,
                ),
                config::base_url_field(DEFAULT_BASE_URL),
            ],
            allowed_hosts: vec!["api.twilio.com".into()],
        }
    }

    fn validate_config(config: Config) -> Result<(), String> {
        config::validate(&config, &["account-sid"])?;
        match config::get(&config, "account-sid") {
            Some(sid) if !sid.starts_with("AC") => {
                Err("account-sid: a Twilio account SID starts with AC".into())
            }
            _ => Ok(()),
        }
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let Content::Voice(call) = &message.content else {
            return Err(SendError::InvalidConfig(
                "twilio-voice places voice calls only".into(),
            ));
        };
        if call.queue.trim().is_empty() {
            return Err(SendError::InvalidConfig(
                "voice call: a queue is required".into(),
            ));
        }
        let (account, base) = account_and_base(&config)?;
        let context = Context {
            event: wire::Event::Answer,
            queue: call.queue.clone(),
            amd: call.amd_enabled.then_some(match call.amd_action {
                AmdAction::HangUp => wire::AmdAction::HangUp,
                AmdAction::Voicemail => wire::AmdAction::Voicemail,
            }),
            voicemail: call.voicemail_message.clone(),
        };
        let params = wire::create_params(
            &message.to,
            &message.sender,
            &message.status_callback_url,
            &context,
        );
        let mut request = form_request("POST", wire::calls_url(base, account), account, &params);
        // Twilio has no idempotency key for Calls; the header keeps the key
        // in Twilio's request logs and in the simulator's record.
        request.headers.push((
            "X-Herald-Idempotency-Key".into(),
            message.idempotency_key.clone(),
        ));
        let response = send_http(&request)?;
        if !answer::is_success(&response) {
            return Err(twilio_error(&response));
        }
        let call: twilio_wire::MessageResource = serde_json::from_slice(&response.body)
            .map_err(|e| answer::unreadable_lookup(PROVIDER, e))?;
        Ok(answer::receipt(call.sid, DeliveryStatus::Accepted))
    }

    fn handle_webhook(
        config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let params = twilio_wire::form_decode(&request.body);
        verify(&request, &params)?;
        let context = Context::from_url(&request.url).map_err(WebhookError::BadRequest)?;
        let param = |name| twilio_wire::param(&params, name);
        let sid = param("CallSid")
            .ok_or_else(|| WebhookError::BadRequest("no CallSid".into()))?
            .to_owned();
        let answered_by = param("AnsweredBy").and_then(wire::answered_by);
        let update = |status, voicemail_left| CallUpdate {
            provider_message_id: sid.clone(),
            status,
            answered_by: answered_by.map(who),
            voicemail_left,
            duration_seconds: param("CallDuration").and_then(|d| d.parse().ok()),
        };
        let (event, response) = match context.event {
            wire::Event::Answer => {
                // With async AMD this comes before the result (AnsweredBy
                // absent): the callee joins the queue at once.
                let action = wire::decide(context.amd, answered_by);
                let twiml = wire::twiml(action, &context);
                (
                    update(CallStatus::Answered, action == Action::Voicemail),
                    webhook::respond(200, "text/xml", twiml.into_bytes()),
                )
            }
            wire::Event::Amd => {
                let action = wire::decide(context.amd, answered_by);
                let redirected = action != Action::Enqueue
                    && update_live_call(&config, &sid, wire::twiml(action, &context));
                (
                    update(
                        CallStatus::Answered,
                        redirected && action == Action::Voicemail,
                    ),
                    webhook::no_content(),
                )
            }
            wire::Event::Status => {
                let status = param("CallStatus")
                    .and_then(wire::call_status)
                    .ok_or_else(|| {
                        WebhookError::BadRequest("unknown or missing CallStatus".into())
                    })?;
                (update(call_status(status), false), webhook::no_content())
            }
        };
        Ok(WebhookOutcome {
            events: vec![Event::Call(event)],
            response,
        })
    }

    /// `GET .../Calls/{Sid}.json`, as a delivery status: completed is
    /// delivered, busy/no-answer/failed/canceled failed.
    fn fetch_status(config: Config, sid: String) -> Result<Option<DeliveryUpdate>, SendError> {
        let (account, base) = account_and_base(&config)?;
        let request = form_request("GET", wire::call_url(base, account, &sid), account, &[]);
        let response = send_http(&request)?;
        if response.status == 404 {
            return Ok(None);
        }
        if !answer::is_success(&response) {
            return Err(twilio_error(&response));
        }
        let call: twilio_wire::MessageResource = serde_json::from_slice(&response.body)
            .map_err(|e| answer::unreadable_lookup(PROVIDER, e))?;
        let status = match call.status.as_deref().and_then(wire::call_status) {
            None => return Ok(None),
            Some(wire::CallStatus::Initiated) => DeliveryStatus::Accepted,
            Some(wire::CallStatus::Ringing | wire::CallStatus::Answered) => DeliveryStatus::Sent,
            Some(wire::CallStatus::Completed) => DeliveryStatus::Delivered,
            Some(_) => DeliveryStatus::Failed,
        };
        Ok(Some(DeliveryUpdate {
            provider_message_id: call.sid,
            status,
            error_code: None,
            error_message: None,
            timestamp_ms: None,
        }))
    }

    fn list_templates(_config: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
}

// Natively (the test kit) the plugin is a plain library.
#[cfg(target_arch = "wasm32")]
export!(TwilioVoice);

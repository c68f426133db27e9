//! Herald provider plugin for Twilio Programmable Messaging: SMS and MMS
//! through `POST /2010-04-01/Accounts/{sid}/Messages.json`, status callbacks
//! verified with `X-Twilio-Signature`.

// 1.4: a channel's waiting status callbacks come in one call (`webhooks`);
// 1.5: so do its messages ready to send (`sends`).
herald_plugin::bindings!("../../wit", "sending-reconciling-provider-plugin");

const PLUGIN_NAME: &str = "twilio-sms";
/// `HERALD_PLUGIN_VERSION` at build time overrides it, so a second,
/// distinguishable version can be built for hot-reload tests.
const PLUGIN_VERSION: &str = match option_env!("HERALD_PLUGIN_VERSION") {
    Some(v) => v,
    None => "1.0.0",
};

mod lookup;
pub mod provider;
use twilio_wire as wire;

use exports::herald::provider::lookup::{Guest as Lookup, SentQuery};
use exports::herald::provider::provider::Guest;
use exports::herald::provider::sends::Guest as Sends;
use exports::herald::provider::webhooks::Guest as Webhooks;
use herald_plugin::types::{
    Config, DeliveryUpdate, OutboundMessage, PluginManifest, SendError, SendReceipt, TemplateInfo,
    WebhookError, WebhookOutcome, WebhookRequest,
};

pub struct TwilioSms;

impl Guest for TwilioSms {
    fn manifest() -> PluginManifest {
        provider::manifest(PLUGIN_NAME, PLUGIN_VERSION)
    }

    fn validate_config(config: Config) -> Result<(), String> {
        provider::validate_config(&config)
    }

    fn send(config: Config, message: OutboundMessage) -> Result<SendReceipt, SendError> {
        provider::send(&config, &message)
    }

    fn handle_webhook(
        config: Config,
        request: WebhookRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        provider::handle_webhook(&config, &request)
    }

    fn fetch_status(config: Config, id: String) -> Result<Option<DeliveryUpdate>, SendError> {
        provider::fetch_status(&config, &id)
    }

    fn list_templates(_config: Config) -> Result<Vec<TemplateInfo>, SendError> {
        Ok(Vec::new())
    }
}

impl Webhooks for TwilioSms {
    fn handle_webhooks(
        config: Config,
        requests: Vec<WebhookRequest>,
    ) -> Vec<Result<WebhookOutcome, WebhookError>> {
        herald_plugin::webhook::each(&config, requests, |c, r| provider::handle_webhook(c, &r))
    }
}

impl Sends for TwilioSms {
    fn send_all(
        config: Config,
        messages: Vec<OutboundMessage>,
    ) -> Vec<Result<SendReceipt, SendError>> {
        provider::send_all(&config, &messages)
    }
}

impl Lookup for TwilioSms {
    fn find_sent(config: Config, query: SentQuery) -> Result<Option<DeliveryUpdate>, SendError> {
        lookup::find_sent(&config, &query)
    }
}

// Natively (the test kit) the plugin is a plain library.
#[cfg(target_arch = "wasm32")]
export!(TwilioSms);

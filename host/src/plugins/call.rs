//! One export call and its typed answer: what the runtime runs in a fresh
//! instance, whichever way it reaches the export (`exports`, `native`).

use std::sync::Arc;

use super::bindings::herald::provider::types as wit;
use super::bindings::reconciling::exports::herald::provider::lookup::SentQuery;

pub(super) enum Call {
    Manifest,
    ValidateConfig(wit::Config),
    Send(wit::Config, wit::OutboundMessage),
    /// Several messages of one channel (1.5, `sends.send-all`). Shared so
    /// the caller keeps them to send alone those the call failed to send.
    SendAll(wit::Config, Arc<Vec<wit::OutboundMessage>>),
    Webhook(wit::Config, wit::WebhookRequest),
    /// Several webhooks of one channel (1.4, `webhooks.handle-webhooks`).
    /// Shared so the caller gets the requests back when the call fails
    /// as a whole (each is then handled alone), without copying them.
    Webhooks(wit::Config, Arc<Vec<wit::WebhookRequest>>),
    FetchStatus(wit::Config, String),
    ListTemplates(wit::Config),
    FindSent(wit::Config, SentQuery),
}

impl Call {
    /// The export called, as the contract names it (a metrics label).
    pub(super) fn export(&self) -> &'static str {
        match self {
            Self::Manifest => "manifest",
            Self::ValidateConfig(_) => "validate-config",
            Self::Send(..) => "send",
            Self::SendAll(..) => "send-all",
            Self::Webhook(..) => "handle-webhook",
            Self::Webhooks(..) => "handle-webhooks",
            Self::FetchStatus(..) => "fetch-status",
            Self::ListTemplates(_) => "list-templates",
            Self::FindSent(..) => "find-sent",
        }
    }

    /// How many calls' worth of work it is: a batch of webhooks or of
    /// messages gets the CPU each of them would have had alone.
    pub(super) fn weight(&self) -> u32 {
        let weight = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).max(1);
        match self {
            Self::Webhooks(_, requests) => weight(requests.len()),
            Self::SendAll(_, messages) => weight(messages.len()),
            _ => 1,
        }
    }
}

pub(super) enum Reply {
    Manifest(wit::PluginManifest),
    ValidateConfig(Result<(), String>),
    Send(Result<wit::SendReceipt, wit::SendError>),
    /// One answer per message, in order (checked by the caller).
    SendAll(Vec<Result<wit::SendReceipt, wit::SendError>>),
    Webhook(Result<wit::WebhookOutcome, wit::WebhookError>),
    /// One answer per request, in order (checked by the caller).
    Webhooks(Vec<Result<wit::WebhookOutcome, wit::WebhookError>>),
    FetchStatus(Result<Option<wit::DeliveryUpdate>, wit::SendError>),
    ListTemplates(Result<Vec<wit::TemplateInfo>, wit::SendError>),
    FindSent(Result<Option<wit::DeliveryUpdate>, wit::SendError>),
}

//! Webhook events: the channel's plugin verifies and parses the request; the
//! engine applies the normalised events it returns.

use super::Engine;
use crate::domain::member::MemberStatus;
use crate::domain::voice::{AnsweredBy, CallReport, CallStatus};
use crate::plugins::wit;
use crate::store::{Channel, Id, Receipt, StoreError, now_ms};

/// The HTTP answer for the provider.
pub struct WebhookReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebhookReply {
    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

impl Engine {
    pub async fn handle_webhook(
        &self,
        channel_id: Id,
        request: wit::WebhookRequest,
    ) -> WebhookReply {
        let channel = match self.channels.for_webhook(channel_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                webhook_result("unknown_channel");
                return WebhookReply::text(404, "unknown channel");
            }
            Err(e) => {
                tracing::error!(channel = channel_id, error = %e, "webhook: loading channel failed");
                return WebhookReply::text(500, "try again");
            }
        };
        // A copy only when earlier settings exist to try it with: the
        // common webhook (a channel never switched) is not copied.
        let retry = (channel.revision > 1).then(|| request.clone());
        let outcome = match self.parse_webhook(&channel, request).await {
            Ok(outcome) => outcome,
            // Refused by the channel's plugin as it is now: it may be a
            // callback for a send made before a switch of provider (or of
            // its credentials), verified by the settings that send used.
            Err(refused) if refused.may_be_earlier() && retry.is_some() => {
                let request = retry.expect("checked");
                match self.parse_with_earlier(&channel, request).await {
                    Some(outcome) => outcome,
                    None => return refused.reply(channel_id, &channel.plugin),
                }
            }
            Err(refused) => return refused.reply(channel_id, &channel.plugin),
        };
        let mut touched = Vec::new();
        for event in outcome.events {
            let applied = match event {
                wit::Event::Inbound(message) => {
                    // An unknown sender may join an automatic campaign first,
                    // so the reply lands on its new membership.
                    self.enrol_inbound(channel.tenant_id, channel_id, &message.sender)
                        .await;
                    self.apply_keyword(&channel, &message).await;
                    self.cancel_journeys(channel.tenant_id, &message).await;
                    self.record_reply(channel.tenant_id, channel.id, message)
                        .await
                }
                other => self.apply_event(channel.tenant_id, channel.id, other).await,
            };
            match applied {
                Ok(Some(campaign)) => touched.push(campaign),
                Ok(None) => {}
                Err(e) => {
                    // The provider retries on 5xx; applying is idempotent.
                    tracing::error!(channel = channel_id, error = %e, "applying webhook event failed");
                    webhook_result("store_error");
                    return WebhookReply::text(500, "try again");
                }
            }
        }
        webhook_result("applied");
        self.completion.ask(&touched);
        WebhookReply {
            status: outcome.response.status,
            headers: outcome.response.headers,
            body: outcome.response.body,
        }
    }

    /// Applies one event that came through (or was fetched for) `channel`.
    pub(super) async fn apply_event(
        &self,
        tenant: Id,
        channel: Id,
        event: wit::Event,
    ) -> Result<Option<Id>, StoreError> {
        match event {
            wit::Event::Delivery(update) => {
                let status = match update.status {
                    wit::DeliveryStatus::Accepted | wit::DeliveryStatus::Sent => MemberStatus::Sent,
                    wit::DeliveryStatus::Delivered => MemberStatus::Delivered,
                    wit::DeliveryStatus::Read => MemberStatus::Read,
                    wit::DeliveryStatus::Failed => MemberStatus::Failed,
                };
                let receipt = Receipt {
                    channel_id: channel,
                    provider_message_id: update.provider_message_id,
                    status,
                    error_code: update.error_code,
                    error_message: update.error_message,
                    at: update
                        .timestamp_ms
                        .map(|t| crate::clock::from_real_ms(t as i64))
                        .unwrap_or_else(now_ms),
                };
                self.receipts.apply(&self.store, tenant, receipt).await
            }
            wit::Event::Inbound(message) => {
                // Inbound messages need their channel: see `handle_webhook`.
                tracing::warn!(
                    tenant,
                    from = message.sender,
                    "inbound message outside a webhook ignored"
                );
                Ok(None)
            }
            wit::Event::Call(update) => {
                tracing::debug!(tenant, call = update.provider_message_id, status = ?update.status,
                    answered_by = ?update.answered_by, "call progress");
                let report = call_report(&update);
                self.store
                    .apply_call_report(tenant, &update.provider_message_id, &report)
                    .await
            }
        }
    }
}

/// Why a channel revision's plugin did not accept a webhook.
enum Refused {
    PluginUnavailable(String),
    Unauthorized(String),
    BadRequest(String),
    PluginFailure(String),
}

impl Refused {
    /// Whether an earlier revision may accept what this one refused.
    fn may_be_earlier(&self) -> bool {
        matches!(self, Self::Unauthorized(_) | Self::BadRequest(_))
    }

    fn reply(self, channel: Id, plugin: &str) -> WebhookReply {
        match self {
            Self::PluginUnavailable(why) => {
                tracing::error!(
                    channel,
                    plugin,
                    reason = why,
                    "webhook for a channel whose plugin is unavailable"
                );
                webhook_result("plugin_unavailable");
                WebhookReply::text(503, "plugin unavailable")
            }
            Self::Unauthorized(why) => {
                tracing::warn!(
                    channel,
                    plugin,
                    reason = why,
                    "webhook refused: verification failed"
                );
                webhook_result("unauthorized");
                WebhookReply::text(401, "signature verification failed")
            }
            Self::BadRequest(why) => {
                tracing::warn!(channel, plugin, reason = why, "webhook refused: malformed");
                webhook_result("bad_request");
                WebhookReply::text(400, &why)
            }
            Self::PluginFailure(why) => {
                tracing::error!(channel, plugin, error = why, "webhook: plugin failed");
                webhook_result("plugin_failure");
                WebhookReply::text(500, "plugin failure")
            }
        }
    }
}

/// How far back a refused webhook is tried with a channel's earlier
/// settings: providers retry status callbacks for hours, not weeks.
const EARLIER_REVISIONS_FOR_MS: i64 = 3 * 24 * 3_600_000;
/// And how many earlier settings at most.
const EARLIER_REVISIONS_TRIED: i64 = 5;

impl Engine {
    /// The channel's plugin (at this revision) verifies and parses it.
    async fn parse_webhook(
        &self,
        channel: &Channel,
        request: wit::WebhookRequest,
    ) -> Result<wit::WebhookOutcome, Refused> {
        // A quarantine stops new sends, not the receipts of those made.
        let plugin = self
            .registry
            .resolve_for_receipts(&channel.plugin, channel.pinned_sha256.as_deref())
            .await
            .map_err(|why| Refused::PluginUnavailable(why.to_string()))?;
        // Same hosts as sends: a voice plugin redirects a live call (e.g. to
        // leave a voicemail once AMD reports a machine) from its webhook.
        let ctx = self.call_context(&plugin, channel);
        let config = channel.config.clone().into_iter().collect();
        match plugin.handle_webhook(ctx, config, request).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(wit::WebhookError::Unauthorized(why))) => Err(Refused::Unauthorized(why)),
            Ok(Err(wit::WebhookError::BadRequest(why))) => Err(Refused::BadRequest(why)),
            Err(failure) => {
                self.registry.after_fault(&plugin, &failure).await;
                Err(Refused::PluginFailure(failure.to_string()))
            }
        }
    }

    /// The first of the channel's recent earlier settings whose plugin
    /// accepts the webhook, newest first.
    async fn parse_with_earlier(
        &self,
        channel: &Channel,
        request: wit::WebhookRequest,
    ) -> Option<wit::WebhookOutcome> {
        let since = crate::clock::real_now_ms() - EARLIER_REVISIONS_FOR_MS;
        let earlier = match self
            .store
            .earlier_revisions(channel.id, since, EARLIER_REVISIONS_TRIED)
            .await
        {
            Ok(earlier) => earlier,
            Err(e) => {
                tracing::error!(channel = channel.id, error = %e, "reading a channel's earlier settings failed");
                return None;
            }
        };
        for revision in earlier {
            // Any refusal here is answered with the current plugin's.
            if let Ok(outcome) = self.parse_webhook(&revision, request.clone()).await {
                tracing::info!(
                    channel = channel.id,
                    revision = revision.revision,
                    plugin = revision.plugin,
                    "webhook accepted by the channel's earlier settings"
                );
                webhook_result("earlier_revision");
                return Some(outcome);
            }
        }
        None
    }
}

/// Counts one webhook by what became of it.
fn webhook_result(result: &'static str) {
    metrics::counter!("herald_webhooks_total", "result" => result).increment(1);
}

/// The contract's call update in the domain's terms.
fn call_report(update: &wit::CallUpdate) -> CallReport {
    use wit::CallStatus as W;
    CallReport {
        status: match update.status {
            W::Initiated => CallStatus::Initiated,
            W::Ringing => CallStatus::Ringing,
            W::Answered => CallStatus::Answered,
            W::Completed => CallStatus::Completed,
            W::Busy => CallStatus::Busy,
            W::NoAnswer => CallStatus::NoAnswer,
            W::Failed => CallStatus::Failed,
            W::Canceled => CallStatus::Canceled,
        },
        answered_by: update.answered_by.map(|a| match a {
            wit::AnsweredBy::Human => AnsweredBy::Human,
            wit::AnsweredBy::Machine => AnsweredBy::Machine,
            wit::AnsweredBy::Unknown => AnsweredBy::Unknown,
        }),
        voicemail_left: update.voicemail_left,
    }
}

impl Engine {
    /// An unknown number wrote to the channel: automatic campaigns that take
    /// inbound contacts enrol it. A failure here must not lose the message
    /// itself, so it is logged, not returned.
    async fn enrol_inbound(&self, tenant: Id, channel: Id, sender: &str) {
        let Ok(phone) = crate::domain::phone::E164::parse(sender) else {
            return;
        };
        match self
            .store
            .enrol_inbound(tenant, channel, phone.as_str())
            .await
        {
            Ok(joined) if !joined.is_empty() => {
                tracing::info!(tenant, channel, campaigns = ?joined, "inbound contact enrolled");
                self.wake();
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(tenant, channel, error = %e, "enrolling an inbound contact failed")
            }
        }
    }
}

impl Engine {
    /// Any reply from a contact, on any of the tenant's channels, cancels
    /// its pending follow-ups; an opt-out cancels every step after the
    /// primary. Logged, not returned: the reply itself is recorded either way.
    async fn cancel_journeys(&self, tenant: Id, message: &wit::InboundMessage) {
        let address = crate::domain::reply::normalise_address(&message.sender);
        let opted_out = crate::domain::opt_out::classify(&message.body, false)
            == crate::domain::opt_out::ReplyKind::OptOut;
        match self
            .store
            .cancel_journeys(tenant, &address, opted_out)
            .await
        {
            Ok(touched) if !touched.is_empty() => {
                tracing::info!(tenant, campaigns = ?touched, opted_out, "reply cancelled follow-ups");
                self.complete_campaigns(&touched).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(tenant, error = %e, "cancelling follow-ups after a reply failed")
            }
        }
    }
}

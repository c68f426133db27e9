//! Webhook events: the channel's plugin verifies and parses the request; the
//! engine applies the normalised events it returns. What a webhook may cost
//! before that (its size, its channel's faults) is `webhook_guard`'s.

use std::sync::Arc;
use std::time::Instant;

use super::Engine;
use super::webhook_guard::{Pass, body_limit};
use crate::domain::member::MemberStatus;
use crate::domain::voice::{AnsweredBy, CallReport, CallStatus};
use crate::plugins::{LoadedPlugin, wit};
use crate::store::{Channel, Id, Receipt, StoreError, now_ms};

/// The HTTP answer for the provider.
pub struct WebhookReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The sender is to blame (an unknown channel, a request the plugin
    /// refused or faulted on): counted against its source address.
    pub refused: bool,
}

impl WebhookReply {
    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
            refused: false,
        }
    }

    fn refusal(self) -> Self {
        Self {
            refused: true,
            ..self
        }
    }
}

/// The query parameter of a callback URL naming the canary version that
/// sent the message (see `Engine::callback_url`).
pub const VERSION_PARAM: &str = "herald_version";

/// A webhook's channel, found before its body is read.
pub struct WebhookTarget {
    channel: Arc<Channel>,
    /// Its plugin as it is now (resolved once for both the body limit and
    /// the call), or why it is unavailable.
    plugin: Result<Arc<LoadedPlugin>, String>,
    /// `plugin` is the canary version the callback URL names, not the
    /// channel's current one (which is tried too if it refuses).
    named: bool,
    /// The largest body its plugin is given.
    pub max_body: usize,
}

impl Engine {
    /// The channel a webhook is for, and the largest body its plugin takes
    /// (see `webhook_guard::body_limit`); else the answer (404, 500).
    /// `version`: the sha256 its URL names ([`VERSION_PARAM`]), verified by
    /// that version when it is (or was) a canary of the channel's plugin.
    pub async fn webhook_target(
        &self,
        channel_id: Id,
        version: Option<&str>,
    ) -> Result<WebhookTarget, WebhookReply> {
        let channel = match self.channels.for_webhook(channel_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                webhook_result("unknown_channel");
                return Err(WebhookReply::text(404, "unknown channel").refusal());
            }
            Err(e) => {
                tracing::error!(channel = channel_id, error = %e, "webhook: loading channel failed");
                return Err(WebhookReply::text(500, "try again"));
            }
        };
        let plugin = self.webhook_plugin(&channel, version).await;
        let named = version.is_some()
            && plugin
                .as_ref()
                .is_ok_and(|p| Some(p.sha256.as_str()) == version);
        Ok(WebhookTarget {
            max_body: body_limit(plugin.as_deref().ok(), self.config.webhook_max_body),
            plugin,
            named,
            channel,
        })
    }

    pub async fn handle_webhook(
        &self,
        target: WebhookTarget,
        request: wit::WebhookRequest,
    ) -> WebhookReply {
        let channel = target.channel;
        let channel_id = channel.id;
        let pass = match self.webhook_guard.admit(channel_id).await {
            Ok(pass) => pass,
            Err(remaining) => {
                let mut reply = WebhookReply::text(
                    503,
                    "this channel's webhooks are slowed down: its plugin faulted on most of them",
                );
                reply
                    .headers
                    .push(("retry-after".into(), (remaining.as_secs() + 1).to_string()));
                return reply;
            }
        };
        // A copy only when another version or earlier settings exist to
        // try it with: the common webhook (a channel never switched, not
        // from a canary's send) is not copied.
        let retry = (channel.revision > 1 || target.named).then(|| request.clone());
        let named = target.named;
        let outcome = match self
            .parse_webhook(&channel, target.plugin, request, &pass)
            .await
        {
            Ok(outcome) => outcome,
            // Refused by the canary that sent the message (or it faulted):
            // the current version may accept it. Refused by the channel's
            // plugin as it is now: the settings of a send made before a
            // switch of provider (or of its credentials) may.
            Err(refused) if (named || refused.may_be_earlier()) && retry.is_some() => {
                let request = retry.expect("checked");
                let earlier = refused.may_be_earlier();
                // Boxed: rare, and inline its future made every
                // webhook's as large.
                match Box::pin(self.parse_elsewhere(&channel, named, earlier, request, &pass)).await
                {
                    Some(outcome) => outcome,
                    None => return refused.reply(channel_id, &channel.plugin),
                }
            }
            Err(refused) => return refused.reply(channel_id, &channel.plugin),
        };
        drop(pass);
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
            refused: false,
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
                if status == MemberStatus::Sent {
                    // "Sent" cannot move a member: a receipt finds its
                    // member by the provider's message id, which a member
                    // only holds from the moment it is `sent` (its send's
                    // outcome, or an uncertain send resolved as sent)
                    // until it is queued again (a retry, a journey's next
                    // step, a restart clears it). Half of a campaign's
                    // callbacks say it; each cost a lookup in the send
                    // path's one writer transaction for nothing.
                    return Ok(None);
                }
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
    /// `quiet`: the channel is strained, its faults are counted (and were
    /// logged once), not logged one by one.
    PluginFailure {
        why: String,
        quiet: bool,
    },
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
                WebhookReply::text(401, "signature verification failed").refusal()
            }
            Self::BadRequest(why) => {
                tracing::warn!(channel, plugin, reason = why, "webhook refused: malformed");
                webhook_result("bad_request");
                WebhookReply::text(400, &why).refusal()
            }
            Self::PluginFailure { why, quiet } => {
                if quiet {
                    tracing::debug!(channel, plugin, error = why, "webhook: plugin failed");
                } else {
                    tracing::error!(channel, plugin, error = why, "webhook: plugin failed");
                }
                webhook_result("plugin_failure");
                WebhookReply::text(500, "plugin failure").refusal()
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
    /// The plugin that verifies `channel`'s webhooks (at this revision),
    /// or the canary version `sent_by` that sent the message: a quarantine
    /// stops new sends, not the receipts of those made.
    async fn webhook_plugin(
        &self,
        channel: &Channel,
        sent_by: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, String> {
        self.registry
            .resolve_for_receipts_of(&channel.plugin, channel.pinned_sha256.as_deref(), sent_by)
            .await
    }

    /// After a refusal: the channel's current plugin when a canary version
    /// (`named`) refused or faulted, then (`earlier`: a refusal) the
    /// channel's earlier settings.
    async fn parse_elsewhere(
        &self,
        channel: &Channel,
        named: bool,
        earlier: bool,
        request: wit::WebhookRequest,
        pass: &Pass,
    ) -> Option<wit::WebhookOutcome> {
        if named {
            let current = self.webhook_plugin(channel, None).await;
            if let Ok(outcome) = self
                .parse_webhook(channel, current, request.clone(), pass)
                .await
            {
                webhook_result("current_version");
                return Some(outcome);
            }
        }
        if earlier && channel.revision > 1 {
            return self.parse_with_earlier(channel, request, pass).await;
        }
        None
    }

    /// `plugin` (`channel`'s, resolved by [`Self::webhook_plugin`])
    /// verifies and parses the request.
    async fn parse_webhook(
        &self,
        channel: &Channel,
        plugin: Result<Arc<LoadedPlugin>, String>,
        request: wit::WebhookRequest,
        pass: &Pass,
    ) -> Result<wit::WebhookOutcome, Refused> {
        let plugin = plugin.map_err(Refused::PluginUnavailable)?;
        // Same hosts as sends: a voice plugin redirects a live call (e.g. to
        // leave a voicemail once AMD reports a machine) from its webhook.
        let ctx = self.call_context(&plugin, channel);
        let config = channel.config.clone().into_iter().collect();
        let started = Instant::now();
        // A strained channel's webhooks run one by one on the heavy slot;
        // the others join those of the channel waiting for a call.
        let result = if pass.heavy() {
            plugin.handle_webhook(ctx, config, request, true).await
        } else {
            let key = (channel.id, channel.revision);
            plugin
                .handle_webhook_batched(key, ctx, config, request)
                .await
        };
        // A fault here is the channel's to answer for, never the plugin's
        // quarantine: anyone can post a webhook (see `webhook_guard`).
        let reply = match result {
            Ok(reply) => reply,
            Err(failure) => {
                let why = failure.to_string();
                let quiet = pass.faulted(plugin.name(), started.elapsed(), &why);
                return Err(Refused::PluginFailure { why, quiet });
            }
        };
        pass.returned(started.elapsed());
        match reply {
            Ok(outcome) => Ok(outcome),
            Err(wit::WebhookError::Unauthorized(why)) => Err(Refused::Unauthorized(why)),
            Err(wit::WebhookError::BadRequest(why)) => Err(Refused::BadRequest(why)),
        }
    }

    /// The first of the channel's recent earlier settings whose plugin
    /// accepts the webhook, newest first.
    async fn parse_with_earlier(
        &self,
        channel: &Channel,
        request: wit::WebhookRequest,
        pass: &Pass,
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
            let plugin = self.webhook_plugin(&revision, None).await;
            if let Ok(outcome) = self
                .parse_webhook(&revision, plugin, request.clone(), pass)
                .await
            {
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
pub fn webhook_result(result: &'static str) {
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

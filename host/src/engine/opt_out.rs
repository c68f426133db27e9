//! Opt-out and opt-in by message: a STOP-type reply puts the sender on the
//! tenant's do-not-contact list (so no campaign sends to it again: the list
//! is checked when each send is claimed) and sends one confirmation; a
//! START-type reply takes it off again.

use super::Engine;
use crate::domain::opt_out::{ReplyKind, classify};
use crate::domain::reply::normalise_address;
use crate::plugins::wit;
use crate::store::Channel;

/// What the sender is told, as carriers expect after a keyword.
const STOPPED: &str = "You are unsubscribed and will get no more messages from us. \
                       Reply START to subscribe again.";
const RESTARTED: &str = "You are subscribed again. Reply STOP to unsubscribe.";

impl Engine {
    /// Applies an opt-out/opt-in keyword in `message`, if it is one. A
    /// failure is logged: the reply itself is recorded either way.
    pub(super) async fn apply_keyword(&self, channel: &Channel, message: &wit::InboundMessage) {
        let tenant = channel.tenant_id;
        let address = normalise_address(&message.sender);
        let listed = match self.store.is_dnc(tenant, &address).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::error!(tenant, error = %e, "do-not-contact lookup failed");
                return;
            }
        };
        let confirmation = match classify(&message.body, listed) {
            ReplyKind::OptOut => {
                let keyword = message.body.trim().to_uppercase();
                let source = format!("reply:{keyword}");
                match self
                    .store
                    .add_dnc(tenant, std::slice::from_ref(&address), &source, None)
                    .await
                {
                    // Already listed (a second STOP, or the provider retrying
                    // its webhook): no second confirmation.
                    Ok(0) => return,
                    Ok(_) => {
                        tracing::info!(
                            tenant,
                            channel = channel.id,
                            "opted out by reply; on the do-not-contact list"
                        );
                        STOPPED
                    }
                    Err(e) => {
                        tracing::error!(tenant, error = %e, "recording an opt-out failed");
                        return;
                    }
                }
            }
            ReplyKind::OptIn if listed => match self.store.remove_dnc(tenant, &address).await {
                Ok(()) => {
                    tracing::info!(tenant, channel = channel.id, "opted in again by reply");
                    RESTARTED
                }
                Err(e) => {
                    tracing::error!(tenant, error = %e, "recording an opt-in failed");
                    return;
                }
            },
            _ => return,
        };
        self.send_notice(
            channel,
            &address,
            confirmation,
            &message.provider_message_id,
        )
        .await;
    }

    /// Sends a one-off text (a keyword confirmation) on the channel, keyed by
    /// the inbound message it answers so a retried webhook cannot send it
    /// twice at providers that honour the key.
    async fn send_notice(&self, channel: &Channel, to: &str, text: &str, answering: &str) {
        let plugin = match self
            .registry
            .resolve(&channel.plugin, channel.pinned_sha256.as_deref())
            .await
        {
            Ok(p) => p,
            Err(why) => {
                tracing::warn!(
                    channel = channel.id,
                    reason = why,
                    "confirmation not sent: plugin unavailable"
                );
                return;
            }
        };
        if !plugin.manifest.channels.contains(&wit::ChannelKind::Sms) {
            // WhatsApp, voice and email have no free-form text to send here.
            tracing::info!(
                channel = channel.id,
                "no confirmation on a channel without SMS"
            );
            return;
        }
        let message = wit::OutboundMessage {
            idempotency_key: format!("notice-{}-{answering}", channel.id),
            to: to.to_owned(),
            sender: channel.sender.clone(),
            content: wit::Content::Text(wit::TextMessage {
                body: text.to_owned(),
                media: Vec::new(),
            }),
            status_callback_url: self.callback_url(channel.id, None),
        };
        let ctx = self.call_context(&plugin, channel);
        let config = channel.config.clone().into_iter().collect();
        match plugin.send(ctx, config, message).await.0 {
            Ok(Ok(_)) => tracing::info!(channel = channel.id, "keyword confirmation sent"),
            Ok(Err(e)) => {
                tracing::warn!(channel = channel.id, error = ?e, "keyword confirmation refused")
            }
            Err(failure) => {
                self.registry
                    .after_fault(&plugin, Some(channel.id), &failure)
                    .await;
                tracing::warn!(channel = channel.id, error = %failure, "keyword confirmation failed");
            }
        }
    }
}

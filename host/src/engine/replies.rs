//! Inbound replies: recorded on the member they answer (and its session),
//! then forwarded to the tenant's reply endpoint from an outbox, signed, with
//! retries. The provider's webhook is answered as soon as the reply is
//! recorded; a slow or failing tenant endpoint never holds it up.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::Engine;
use crate::domain::reply::{SIGNATURE_HEADER, normalise_address, sign};
use crate::plugins::wit;
use crate::store::{DueReply, Id, NewInbound, StoreError, now_ms};

const TICK: Duration = Duration::from_millis(500);
const BATCH: i64 = 50;
/// How long a claimed reply is held before another instance may retry it.
const HOLD_MS: i64 = 30_000;
/// Back-off between attempts; the last attempt is the length of this + 1.
const BACKOFF_SECS: [i64; 8] = [1, 5, 30, 120, 600, 1800, 3600, 3600];
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Records one inbound message. Returns the campaign it touched.
    pub(super) async fn record_reply(
        &self,
        tenant: Id,
        channel: Id,
        message: wit::InboundMessage,
    ) -> Result<Option<Id>, StoreError> {
        let address = normalise_address(&message.sender);
        let media: Vec<_> = message
            .media
            .iter()
            .map(|m| json!({ "url": m.url, "content_type": m.content_type }))
            .collect();
        let at = now_ms();
        let inbound = NewInbound {
            channel_id: channel,
            address: &address,
            body: &message.body,
            media_json: serde_json::Value::from(media.clone()).to_string(),
            provider_message_id: &message.provider_message_id,
            at,
            opt_out: crate::domain::opt_out::classify(&message.body, false)
                == crate::domain::opt_out::ReplyKind::OptOut,
        };
        let recorded = self
            .store
            .record_inbound(tenant, &inbound, |r| {
                json!({
                    "type": "reply",
                    "message_id": r.message_id,
                    "channel_id": channel,
                    "campaign_id": r.campaign_id,
                    "member_id": r.member_id,
                    "from": address,
                    "to": message.recipient,
                    "body": message.body,
                    "media": media,
                    "provider_message_id": message.provider_message_id,
                    "received_at": crate::rfc3339::format(at),
                    "session": r.session_id.map(|id| json!({ "id": id, "target": r.session_target })),
                    "tags": r.tags,
                })
                .to_string()
            })
            .await?;
        match &recorded {
            Some(r) => {
                tracing::info!(tenant, channel, member = ?r.member_id, campaign = ?r.campaign_id,
                    session = ?r.session_id, "reply recorded");
                self.replies_due.notify_one();
            }
            None => tracing::debug!(
                tenant,
                channel,
                provider_message_id = message.provider_message_id,
                "duplicate inbound message ignored"
            ),
        }
        Ok(recorded.and_then(|r| r.campaign_id))
    }
}

/// Forwards due replies, forever.
pub async fn run(engine: Arc<Engine>) {
    let http = reqwest::Client::builder()
        .timeout(FORWARD_TIMEOUT)
        // A redirect could lead anywhere; names resolve to permitted
        // addresses only.
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(engine.config.egress.resolver())
        .user_agent("Herald reply forwarder")
        .build()
        .expect("static client configuration");
    loop {
        match engine.store.claim_due_replies(BATCH, HOLD_MS).await {
            Ok(due) if !due.is_empty() => {
                let sends = due.into_iter().map(|r| forward(&engine, &http, r));
                futures::future::join_all(sends).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "claiming replies to forward failed"),
        }
        tokio::select! {
            _ = engine.replies_due.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn forward(engine: &Engine, http: &reqwest::Client, reply: DueReply) {
    let result = match (&reply.url, &reply.secret) {
        (Some(url), Some(_)) if !engine.config.egress.permits_url(url) => {
            Err(format!("{}: {url}", crate::egress::REFUSED))
        }
        (Some(url), Some(secret)) => {
            // Real time: the receiver checks `t` against its own clock.
            let signature = sign(
                secret,
                crate::clock::real_now_ms() / 1000,
                reply.payload.as_bytes(),
            );
            http.post(url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, signature)
                .body(reply.payload.clone())
                .send()
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("answered {}", r.status()))
                    }
                })
        }
        _ => Err("the tenant has no reply endpoint any more".to_owned()),
    };
    let (delivered, error, retry_at) = match result {
        Ok(()) => (true, None, None),
        Err(e) => {
            let retry_at = BACKOFF_SECS
                .get(reply.attempts as usize - 1)
                .filter(|_| reply.url.is_some())
                .map(|secs| now_ms() + secs * 1000);
            match retry_at {
                Some(at) => tracing::warn!(tenant = reply.tenant_id, reply = reply.id,
                    attempt = reply.attempts, url = ?reply.url, error = e, retry_at = at,
                    "forwarding a reply to the tenant's endpoint failed; will retry"),
                None => tracing::error!(tenant = reply.tenant_id, reply = reply.id,
                    attempts = reply.attempts, url = ?reply.url, error = e,
                    "forwarding a reply failed for good; it stays on the member's conversation"),
            }
            (false, Some(e), retry_at)
        }
    };
    if let Err(e) = engine
        .store
        .finish_reply(reply.id, delivered, error.as_deref(), retry_at)
        .await
    {
        // The hold expires and the reply is tried again: at least once.
        tracing::error!(reply = reply.id, error = %e, "recording a forwarding attempt failed");
    }
}

//! Receipts that never came: a status callback can be lost (providers such
//! as Twilio do not retry them) or arrive while no Herald is running. Members
//! still `sent` after `receipt_check` are looked up through their plugin's
//! `fetch-status`, so campaigns complete instead of waiting forever.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::plugins::wit;
use crate::store::OverdueReceipt;

const TICK: Duration = Duration::from_secs(1);
const BATCH: i64 = 50;

pub async fn run(engine: Arc<Engine>) {
    let recheck = engine.config.receipt_check.as_millis() as i64;
    loop {
        match engine.store.claim_overdue_receipts(BATCH, recheck).await {
            Ok(overdue) if !overdue.is_empty() => {
                let mut touched = Vec::new();
                for item in overdue {
                    if let Some(campaign) = reconcile(&engine, &item).await {
                        touched.push(campaign);
                    }
                }
                engine.complete_campaigns(&touched).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "claiming overdue receipts failed"),
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Asks the provider; applies what it says. Returns the campaign if changed.
async fn reconcile(engine: &Engine, item: &OverdueReceipt) -> Option<i64> {
    // Asked with the plugin and settings the message was sent with, even
    // if the channel has switched provider since (and by the canary
    // version that sent it, if one did).
    let channel = engine
        .channels
        .at_revision(item.tenant_id, item.channel_id, item.channel_revision)
        .await
        .ok()?;
    let plugin = engine
        .registry
        .resolve_for_receipts_of(
            &channel.plugin,
            channel.pinned_sha256.as_deref(),
            item.plugin_sha256.as_deref(),
        )
        .await
        .ok()?;
    let ctx = engine.call_context(&plugin, &channel);
    let config = channel.config.clone().into_iter().collect();
    let update = match plugin
        .fetch_status(ctx, config, item.provider_message_id.clone())
        .await
    {
        Ok(Ok(Some(update))) => update,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            tracing::warn!(member = item.member_id, error = ?e, "status lookup refused by the provider");
            return None;
        }
        Err(failure) => {
            tracing::warn!(member = item.member_id, error = %failure, "status lookup failed in the plugin");
            return None;
        }
    };
    tracing::info!(member = item.member_id, provider_message_id = item.provider_message_id,
        status = ?update.status, "receipt overdue: status fetched from the provider");
    // A voice plugin reports a call's end as a delivery status; it goes
    // through the call rules so that a failed call is still retried.
    let event = if plugin.manifest.channels.contains(&wit::ChannelKind::Voice) {
        let status = match update.status {
            wit::DeliveryStatus::Delivered | wit::DeliveryStatus::Read => {
                wit::CallStatus::Completed
            }
            wit::DeliveryStatus::Failed => wit::CallStatus::Failed,
            wit::DeliveryStatus::Accepted | wit::DeliveryStatus::Sent => return None,
        };
        wit::Event::Call(wit::CallUpdate {
            provider_message_id: update.provider_message_id,
            status,
            answered_by: None,
            voicemail_left: false,
            duration_seconds: None,
        })
    } else {
        wit::Event::Delivery(update)
    };
    match engine
        .apply_event(item.tenant_id, item.channel_id, event)
        .await
    {
        Ok(changed) => changed,
        Err(e) => {
            tracing::error!(member = item.member_id, error = %e, "applying fetched status failed");
            None
        }
    }
}

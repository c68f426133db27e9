//! Sends whose outcome was not seen (`unknown`): a timeout, reset or 5xx
//! after the request left, or a process that died during the call. Each is
//! looked up at the provider through the plugin's `lookup.find-sent`
//! (herald:provider 1.1) instead of being resent blindly:
//! - found: the member is `sent` with the provider's id, then takes the
//!   provider's status;
//! - not found: it goes out once more, under the same idempotency key; not
//!   found again after that resend, it failed (the provider never had it);
//! - the provider cannot be asked now: asked again later, up to a bound;
//! - the plugin cannot look up at all: it stays `unknown`, with the reason,
//!   for an operator.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use super::outcome::SEND_UNCERTAIN;
use crate::domain::lifecycle::Status;
use crate::plugins::{SentQuery, wit};
use crate::store::{SendOutcome, SentWith, UncertainSend, now_ms};

const TICK: Duration = Duration::from_millis(500);
const BATCH: i64 = 20;
/// How long a lookup may hold its member before another instance may try.
const LOOKUP_LEASE_MS: i64 = 60_000;
/// How often a provider that could not be asked is asked again ...
const ASK_AGAIN_MS: i64 = 30_000;
/// ... and for how long after the send, before an operator must decide.
const GIVE_UP_AFTER_MS: i64 = 3_600_000;

pub async fn run(engine: Arc<Engine>) {
    loop {
        match engine
            .store
            .claim_uncertain(&engine.config.instance_id, LOOKUP_LEASE_MS, BATCH)
            .await
        {
            Ok(due) if !due.is_empty() => {
                let mut outcomes = Vec::with_capacity(due.len());
                let mut found = Vec::new();
                for mut send in due {
                    let (outcome, update) = resolve(&engine, &mut send).await;
                    if let Some(update) = update {
                        found.push((send.member.tenant_id, send.member.channel_id, update));
                    }
                    outcomes.push((send.member, outcome));
                }
                record(&engine, &outcomes, found).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "claiming uncertain sends failed"),
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn record(
    engine: &Engine,
    outcomes: &[(crate::store::ClaimedMember, SendOutcome)],
    found: Vec<(i64, i64, wit::DeliveryUpdate)>,
) {
    let receipt_due = engine.config.receipt_check.as_millis() as i64;
    let mut touched = match engine
        .store
        .record_outcomes(&engine.config.instance_id, outcomes, receipt_due)
        .await
    {
        Ok(touched) => touched,
        Err(e) => {
            // The lease runs out and the sweeper makes them due again.
            tracing::error!(error = %e, "recording lookups of uncertain sends failed");
            return;
        }
    };
    // The provider's status beyond "it has it" goes the way of a receipt
    // ("sent" changes nothing: see `apply_event`).
    for (tenant, channel, update) in found {
        match engine
            .apply_event(tenant, channel, wit::Event::Delivery(update))
            .await
        {
            Ok(changed) => touched.extend(changed),
            Err(e) => tracing::error!(error = %e, "applying a looked-up status failed"),
        }
    }
    touched.sort_unstable();
    touched.dedup();
    engine.complete_campaigns(&touched).await;
    engine.wake();
}

/// What the provider says about one uncertain send: the member's outcome,
/// and the provider's status when it has the message.
async fn resolve(
    engine: &Engine,
    send: &mut UncertainSend,
) -> (SendOutcome, Option<wit::DeliveryUpdate>) {
    let member = &send.member;
    // Looked up with the settings the send used: recorded with its outcome,
    // or (a crash during the call) those in effect when it began.
    let revision = match &member.sent_with {
        Some(with) => Ok(with.channel_revision),
        None => {
            engine
                .store
                .channel_revision_at(member.tenant_id, member.channel_id, send.not_before_ms)
                .await
        }
    };
    let channel = match async {
        engine
            .channels
            .at_revision(member.tenant_id, member.channel_id, Some(revision?))
            .await
    }
    .await
    {
        Ok(channel) => channel,
        Err(e) => return (ask_later(send, format!("channel unavailable: {e}")), None),
    };
    // A canary's send is looked up by the canary version.
    let sent_by = member.sent_with.as_ref().map(|w| w.plugin_sha256.clone());
    let plugin = match engine
        .registry
        .resolve_for_receipts_of(
            &channel.plugin,
            channel.pinned_sha256.as_deref(),
            sent_by.as_deref(),
        )
        .await
    {
        Ok(plugin) => plugin,
        Err(why) => return (ask_later(send, format!("plugin unavailable: {why}")), None),
    };
    // A send whose outcome a crash lost is recorded as made with them.
    send.member.sent_with.get_or_insert_with(|| SentWith {
        channel_revision: channel.revision,
        plugin_sha256: plugin.sha256.clone(),
    });
    let send = &*send;
    let member = &send.member;
    if !plugin.can_look_up() {
        let why = format!(
            "{} {} cannot look messages up (no herald:provider/lookup); resolve it by hand ({})",
            plugin.name(),
            plugin.version(),
            send.reason.as_deref().unwrap_or("outcome unknown")
        );
        return (left_to_operator(why), None);
    }
    let query = SentQuery {
        idempotency_key: member.idempotency_key.clone(),
        to: member.address.clone(),
        sender: channel.sender.clone(),
        not_before_ms: send.not_before_ms.max(0) as u64,
        not_after_ms: send.not_after_ms.max(0) as u64,
    };
    let ctx = engine.call_context(&plugin, &channel);
    let config = channel.config.clone().into_iter().collect();
    let answer = plugin.find_sent(ctx, config, query).await;
    match answer {
        Ok(Ok(Some(update))) => {
            tracing::info!(member = member.id, provider_message_id = update.provider_message_id,
                status = ?update.status, "uncertain send found at the provider: counted as sent");
            let outcome = SendOutcome::Accepted {
                provider_message_id: update.provider_message_id.clone(),
                at: now_ms(),
                summary: "(found at the provider after an uncertain send)".into(),
            };
            (outcome, Some(update))
        }
        Ok(Ok(None)) => (not_found(engine, send).await, None),
        Ok(Err(e)) => (
            ask_later(send, format!("the provider refused the lookup: {e:?}")),
            None,
        ),
        Err(failure) => (
            ask_later(send, format!("the lookup failed: {failure}")),
            None,
        ),
    }
}

/// The provider does not have it: sent once more under the same key, or
/// failed if a resend after a request that left was not found either. Only
/// those count: a process that died during the call may have died before
/// the request left, and a lookup that cannot find what the provider has
/// would otherwise resend without end.
async fn not_found(engine: &Engine, send: &UncertainSend) -> SendOutcome {
    let member = &send.member;
    let request_left = send.cause.as_deref() == Some(SEND_UNCERTAIN);
    let campaign_sends = match engine
        .store
        .campaign(member.tenant_id, member.campaign_id)
        .await
    {
        Ok(c) => !matches!(
            c.status,
            Status::Cancelled | Status::Completed | Status::Archived
        ),
        Err(_) => false,
    };
    if (request_left && send.lookup_resends > 0) || !campaign_sends {
        let why = if campaign_sends {
            "not at the provider after an uncertain send and one resend under the same key"
        } else {
            "not at the provider after an uncertain send; its campaign no longer sends"
        };
        tracing::warn!(
            member = member.id,
            why,
            "uncertain send never reached the provider"
        );
        return SendOutcome::Failed {
            error_code: Some("not_at_provider".into()),
            error_message: why.into(),
            retryable: true,
        };
    }
    if request_left && let Err(e) = engine.store.count_lookup_resend(member.id).await {
        return ask_later(send, format!("counting the resend failed: {e}"));
    }
    tracing::info!(
        member = member.id,
        key = member.idempotency_key,
        "uncertain send not at the provider: sending it again under the same key"
    );
    SendOutcome::Retry {
        at: now_ms(),
        error_code: Some("not_at_provider".into()),
        error_message: "not at the provider after an uncertain send; sent again under the same key"
            .into(),
    }
}

/// Asked again later, until the bound; then left to an operator.
fn ask_later(send: &UncertainSend, why: String) -> SendOutcome {
    tracing::warn!(
        member = send.member.id,
        why,
        "looking up an uncertain send failed"
    );
    if crate::clock::real_now_ms() - send.not_before_ms > GIVE_UP_AFTER_MS {
        return left_to_operator(format!(
            "outcome unknown; the provider could not be asked for an hour ({why}); resolve it by hand"
        ));
    }
    SendOutcome::Uncertain {
        // Kept: it says whether the request surely left (see `not_found`).
        error_code: send.cause.clone().unwrap_or_else(|| SEND_UNCERTAIN.into()),
        error_message: format!("outcome unknown; lookup at the provider pending: {why}"),
        recheck_at: Some(now_ms() + ASK_AGAIN_MS),
    }
}

fn left_to_operator(why: String) -> SendOutcome {
    SendOutcome::Uncertain {
        error_code: SEND_UNCERTAIN.into(),
        error_message: why,
        recheck_at: None,
    }
}

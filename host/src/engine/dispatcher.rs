//! Claim due members -> call the plugin -> hand the outcome to the writer,
//! which records outcomes in batches (`send_writer`). Each member's attempt
//! (with its idempotency key) is committed by the claim before the plugin
//! is called.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::Instrument;

use super::outcome::{CallTimes, Classified, classify, failed};
use super::send_slots::Slot;
use super::send_writer::Finished;
use super::{Engine, admission, provider_errors};
use crate::domain::lifecycle::{Action, AutoPause, FaultCause};
use crate::domain::retry::FailureClass;
use crate::plugins::{Observation, wit};
use crate::store::{Channel, ClaimedMember, SendOutcome, SentWith, StoreResult};

/// The longest the dispatcher sleeps when idle: retries and newly due members
/// are picked up within this.
const IDLE_TICK: Duration = Duration::from_millis(200);
/// How soon the dispatcher looks again when a tenant at its cap of send
/// slots (see `send_slots`) may be waiting.
const CAPPED_TICK: Duration = Duration::from_millis(20);
/// How long the dispatcher waits for a batch's worth of free send slots
/// before claiming for fewer.
const GATHER_SLOTS: Duration = Duration::from_millis(5);
pub async fn run(engine: Arc<Engine>, done_tx: mpsc::Sender<Finished>) {
    // This instance's first heartbeat before its first claim: a claim whose
    // owner has no heartbeat could only be recovered when its lease runs out
    // (see `store::leases`), should the process die at once.
    while let Err(e) = engine.store.heartbeat(&engine.config.instance_id).await {
        tracing::warn!(error = %e, "first heartbeat failed; retrying before claiming");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let slots = Arc::new(Semaphore::new(engine.config.max_in_flight));
    // A claim costs a transaction whatever its size: claim at least this
    // many at once when sends are busy, not one per finished send.
    let min_claim = (engine.config.batch_size.max(1) as usize)
        .min(engine.config.max_in_flight / 2)
        .max(1);
    while !engine.in_flight.stopping() {
        let free = slots.available_permits();
        if free < min_claim {
            // Wait for enough finished sends to make a batch, or briefly
            // for any: slow sends (a rate limit, a slow provider) still
            // get their next member soon.
            match tokio::time::timeout(
                GATHER_SLOTS,
                slots.clone().acquire_many_owned(min_claim as u32),
            )
            .await
            {
                Ok(permits) => drop(permits),
                Err(_) if slots.available_permits() == 0 => {
                    drop(slots.clone().acquire_owned().await);
                }
                Err(_) => {}
            }
        }
        let limit = (slots.available_permits() as i64).min(engine.config.batch_size);
        if limit == 0 {
            continue;
        }
        let standing = engine.registry.standing();
        let claimed = match engine
            .store
            .claim_due(
                &engine.config.instance_id,
                engine.config.lease.as_millis() as i64,
                limit,
                &engine.send_slots.room(&standing),
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e, "claiming due members failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !claimed.is_empty() {
            metrics::histogram!("herald_claim_batch_size").record(claimed.len() as f64);
        }
        if claimed.is_empty() {
            // A tenant at its cap may have due work: look again as soon as
            // some of its sends can have finished.
            let idle = if engine.send_slots.any_capped(&standing) {
                CAPPED_TICK
            } else {
                IDLE_TICK
            };
            tokio::select! {
                _ = engine.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
            continue;
        }
        for member in claimed {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            // The channel once per send; its plugin's share is counted
            // from the claim on, so the next claim sees it.
            let channel = engine
                .channels
                .get(member.tenant_id, member.channel_id)
                .await;
            let held = Held {
                _slot: permit,
                _tenant: engine.send_slots.take(member.tenant_id),
                _plugin: channel
                    .as_ref()
                    .ok()
                    .map(|c| engine.send_slots.take_plugin(&c.plugin)),
            };
            tokio::spawn(send_one(
                engine.clone(),
                member,
                channel,
                done_tx.clone(),
                held,
            ));
        }
    }
}

/// What one send holds until it is over: a send slot, and its tenant's
/// and plugin's shares of them (see `send_slots`).
struct Held {
    _slot: OwnedSemaphorePermit,
    _tenant: Slot,
    _plugin: Option<Slot>,
}

async fn send_one(
    engine: Arc<Engine>,
    mut member: ClaimedMember,
    channel: StoreResult<Arc<Channel>>,
    done: mpsc::Sender<Finished>,
    _held: Held,
) {
    let span = tracing::info_span!(
        "send",
        tenant = member.tenant_id,
        campaign = member.campaign_id,
        member = member.id,
        attempt = member.attempt,
        plugin = tracing::field::Empty,
        version = tracing::field::Empty,
    );
    let in_flight = metrics::gauge!("herald_sends_in_flight");
    in_flight.increment(1.0);
    let classified = attempt(&engine, &member, channel)
        .instrument(span.clone())
        .await;
    in_flight.decrement(1.0);
    let Some((classified, sent_with)) = classified else {
        // Handed back to the queue unsent (rate limit, credits).
        metrics::counter!("herald_sends_handed_back_total").increment(1);
        return;
    };
    let _enter = span.enter();
    match &classified.outcome {
        SendOutcome::Accepted {
            provider_message_id,
            ..
        } => tracing::debug!(provider_message_id, "sent"),
        SendOutcome::Retry {
            at, error_message, ..
        } => {
            tracing::info!(
                retry_at = at,
                error = error_message,
                "attempt failed; will retry"
            )
        }
        SendOutcome::Failed {
            error_code,
            error_message,
            ..
        } => tracing::info!(code = ?error_code, error = error_message, "member failed"),
        SendOutcome::Uncertain { error_message, .. } => tracing::warn!(
            error = error_message,
            "send outcome unknown; the provider will be asked before any resend"
        ),
    }
    if let Some((action, reason)) = &classified.halt {
        halt_campaign(&engine, &member, *action, reason).await;
    }
    member.sent_with = sent_with;
    // The writer only stops when the process does.
    engine.in_flight.outcome_queued();
    let _ = done.send((member, classified.outcome)).await;
}

/// `None`: the member was handed back unsent (see `admission`). Else the
/// outcome, and what the call went out with when one was made.
async fn attempt(
    engine: &Engine,
    member: &ClaimedMember,
    channel: StoreResult<Arc<Channel>>,
) -> Option<(Classified, Option<SentWith>)> {
    let not_called = |c: Classified| Some((c, None));
    let channel = match channel {
        Ok(c) => c,
        Err(e) => {
            return not_called(failed(
                FailureClass::Transient,
                None,
                format!("channel {} unavailable: {e}", member.channel_id),
                member.attempt,
            ));
        }
    };
    let rendered = match engine.render(member).await {
        Ok(r) => r,
        Err(e) => {
            return not_called(failed(
                FailureClass::Rejected,
                e.code,
                e.message,
                member.attempt,
            ));
        }
    };
    let key = (
        channel.id,
        rendered
            .sender
            .clone()
            .unwrap_or_else(|| channel.sender.clone()),
    );
    if !admission::admit(engine, member, &channel, &key, &rendered.content).await {
        return None;
    }
    // A channel edit while this send waited for its turn (a provider
    // switch above all) applies to it: it has not been called yet.
    let channel = engine
        .channels
        .get(member.tenant_id, member.channel_id)
        .await
        .unwrap_or(channel);
    // Resolved last, right before the call: a hot swap takes effect for
    // every call that has not started yet. A running canary takes the
    // members its route picks, the same ones at every attempt.
    let routed = match engine
        .registry
        .resolve_for_send(
            &channel.plugin,
            channel.pinned_sha256.as_deref(),
            member.tenant_id,
            member.id,
        )
        .await
    {
        Ok(routed) => routed,
        Err(why) => {
            let reason = format!("channel {}: {why}", channel.id);
            // A system fault, not the channel's settings: the campaign is
            // Stopped with the cause, and resumable once it is fixed.
            let cause = if engine.registry.quarantine_reason(&channel.plugin).is_some() {
                FaultCause::PluginQuarantined
            } else {
                FaultCause::PluginUnavailable
            };
            let mut c = failed(FailureClass::ChannelBroken, None, reason, member.attempt);
            if let Some((action, _)) = &mut c.halt {
                *action = Action::Fault(cause);
            }
            return not_called(c);
        }
    };
    let plugin = routed.plugin;
    let canary = routed.canary.then_some(plugin.sha256.as_str());
    let sent_with = SentWith {
        channel_revision: channel.revision,
        plugin_sha256: plugin.sha256.clone(),
    };
    let span = tracing::Span::current();
    span.record("plugin", plugin.name());
    span.record("version", plugin.version());
    // The channel's sender as it is now (a switch may bring its own).
    let sender = rendered.sender.unwrap_or_else(|| channel.sender.clone());
    let message = wit::OutboundMessage {
        idempotency_key: member.idempotency_key.clone(),
        to: member.address.clone(),
        sender,
        content: rendered.content,
        status_callback_url: engine.callback_url(channel.id, canary),
    };
    let ctx = engine.call_context(&plugin, &channel);
    let kind = super::credits::kind_of(&message.content).as_str();
    let config = channel
        .config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let call = engine.in_flight.call();
    let called_at = crate::store::now_ms();
    let started = std::time::Instant::now();
    // With the channel's other messages ready to go, when the plugin can
    // take them together (1.5 `send-all`).
    let batch = (channel.id, channel.revision);
    let (result, wire) = plugin.send_batched(batch, ctx, config, message).await;
    let latency = started.elapsed();
    drop(call);
    // `channel_stop`: the plugin faults for this channel only.
    let (fault, channel_stop) = match &result {
        Err(failure) => (
            true,
            engine
                .registry
                .after_fault(&plugin, Some(channel.id), failure)
                .await,
        ),
        // Returned, but with an answer no provider gives: a fault too.
        Ok(Ok(receipt)) if !super::outcome::valid_message_id(&receipt.provider_message_id) => {
            plugin.reclassify_as_fault(channel.id);
            let why = "an unusable provider message id";
            (
                true,
                engine
                    .registry
                    .after_fault(&plugin, Some(channel.id), &why)
                    .await,
            )
        }
        Ok(_) => (false, None),
    };
    admission::observe(engine, &key, &result);
    let health = provider_errors::health(&result);
    engine.registry.observe_send(
        &plugin,
        Observation {
            latency,
            fault,
            provider_error: matches!(health, provider_errors::Health::Error(_)),
        },
    );
    let recheck_at = crate::store::now_ms() + engine.config.lookup_after.as_millis() as i64;
    let times = CallTimes {
        called_at,
        recheck_at,
    };
    // A canary refusing the channel's configuration (a setting it reads
    // otherwise, a host its manifest no longer lists) is its defect, not
    // the channel's: it is rolled back at once, the member is retried by
    // the active version, and the campaign does not pause.
    let canary_refusal = match (&result, canary) {
        (Ok(Err(wit::SendError::InvalidConfig(why))), Some(_)) => Some(why.clone()),
        _ => None,
    };
    let mut classified = classify(result, wire, member.attempt, rendered.summary, times);
    if let Some(why) = canary_refusal {
        engine.registry.canary_refused_channel(&plugin, &why).await;
        let message = format!(
            "canary {} {} refused the channel's configuration ({why}); the active version retries it",
            plugin.name(),
            plugin.version()
        );
        classified = failed(FailureClass::Transient, None, message, member.attempt);
    }
    let outcome = match &classified.outcome {
        SendOutcome::Accepted { .. } => "accepted",
        SendOutcome::Retry { .. } => "retry",
        SendOutcome::Failed { .. } => "failed",
        SendOutcome::Uncertain { .. } => "uncertain",
    };
    plugin.count_send(kind, outcome);
    // A plugin that faults for this channel only: its campaigns stop here,
    // its neighbours' keep the plugin.
    if let Some(reason) = channel_stop {
        classified
            .halt
            .get_or_insert((Action::AutoPause(AutoPause::ChannelUnusable), reason));
    }
    if let Some(reason) = engine.provider_errors.observe(member.campaign_id, health) {
        classified
            .halt
            .get_or_insert((Action::AutoPause(AutoPause::TooManyProviderErrors), reason));
    }
    Some((classified, Some(sent_with)))
}

pub(super) async fn halt_campaign(
    engine: &Engine,
    member: &ClaimedMember,
    action: Action,
    reason: &str,
) {
    // Boxed: rare, and inline its future made every send's as large.
    let halted = Box::pin(engine.store.transition_campaign(
        member.tenant_id,
        member.campaign_id,
        action,
        Some(reason),
    ));
    match halted.await {
        Ok(_) => tracing::warn!(
            campaign = member.campaign_id,
            reason,
            "campaign halted automatically; resume it once the cause is fixed"
        ),
        // Already paused or stopped by another failing send, or by a user
        // meanwhile: nothing to do.
        Err(crate::store::StoreError::Conflict(_) | crate::store::StoreError::Refused(_)) => {}
        Err(e) => tracing::error!(error = %e, "halting campaign failed"),
    }
}

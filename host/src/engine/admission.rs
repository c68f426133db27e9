//! The last checks before a plugin call: the sender's rate limit, then the
//! claim becomes a send (`call_start`: only if its campaign still sends),
//! then the tenant's credits. A member that may not go yet is handed back to the
//! queue untouched (no attempt used, nothing sent); when the reason is
//! credits, its campaign pauses with reason "insufficient credits" until a
//! top-up (or a manual resume) restarts it.

use std::time::Duration;

use super::Engine;
use super::credits::kind_of;
use super::rate_limit::{SenderKey, default_rate};
use crate::domain::lifecycle::{Action, AutoPause};
use crate::plugins::wit;
use crate::store::{Channel, ClaimedMember, INSUFFICIENT_CREDITS, now_ms};

/// Waits for the sender's turn and reserves the send's credits. False: the
/// member was handed back (or could not be, and its lease will resolve it);
/// the caller must not send.
pub(super) async fn admit(
    engine: &Engine,
    member: &ClaimedMember,
    channel: &Channel,
    key: &SenderKey,
    content: &wit::Content,
) -> bool {
    let rate = match channel.rate_per_second {
        Some(r) => u32::try_from(r.max(1)).ok(),
        None => default_rate(kind_of(content)),
    };
    // Never hold a claim for long enough to risk its lease running out.
    let max_wait = engine.config.lease / 4;
    let turn = match engine.rate_limits.wait_turn(key, rate, max_wait).await {
        Ok(turn) => turn,
        Err(expected) => {
            let due = now_ms() + expected.as_millis() as i64;
            let why = format!(
                "sender {} is booked {:.1} s ahead at {} messages/s; queued again",
                key.1,
                expected.as_secs_f64(),
                rate.unwrap_or_default()
            );
            hand_back(engine, member, Some(due), &why).await;
            return false;
        }
    };
    // Stopping: no new call starts (the drain hands the claim back).
    if engine.in_flight.stopping() {
        return false;
    }
    // The claim becomes a send. A pause or cancel since the claim (or while
    // it waited for its turn), or a lost lease, keeps it back.
    match engine
        .call_starts
        .start(&engine.store, &engine.config.instance_id, member.id)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let why = "the campaign stopped sending before this send started";
            hand_back(engine, member, None, why).await;
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "starting a send failed; member queued again");
            hand_back(
                engine,
                member,
                Some(now_ms() + 1000),
                "could not start the send",
            )
            .await;
            return false;
        }
    }
    let short = match engine.credits.reserve(&engine.store, member, content).await {
        Ok(Ok(())) => {
            turn.release().await;
            return true;
        }
        Ok(Err(short)) => short,
        Err(e) => {
            tracing::error!(error = %e, "reserving credits failed; member queued again");
            hand_back(engine, member, Some(now_ms() + 1000), "credits unavailable").await;
            return false;
        }
    };
    let why = format!(
        "{INSUFFICIENT_CREDITS}: {} needed, {} available",
        short.needed, short.available
    );
    hand_back(engine, member, None, &why).await;
    super::dispatcher::halt_campaign(
        engine,
        member,
        Action::AutoPause(AutoPause::InsufficientCredits),
        INSUFFICIENT_CREDITS,
    )
    .await;
    // A top-up between the refusal and the pause found nothing to resume:
    // look again now that the pause is recorded.
    if let Ok(balance) = engine.store.credit_balance(member.tenant_id).await
        && balance.available >= short.needed
        && let Ok(true) = engine
            .store
            .resume_paused_for_credits(member.tenant_id, member.campaign_id)
            .await
    {
        engine.wake();
    }
    false
}

async fn hand_back(engine: &Engine, member: &ClaimedMember, due: Option<i64>, why: &str) {
    match engine
        .store
        .release_claim(
            member.tenant_id,
            member.id,
            &engine.config.instance_id,
            due,
            why,
        )
        .await
    {
        Ok(_) => tracing::debug!(why, "member handed back unsent"),
        // Its lease expires and the sweeper marks it unknown: never sent twice.
        Err(e) => tracing::error!(error = %e, why, "handing a member back failed"),
    }
}

/// After the plugin call: a provider's "rate limited, retry after" pauses
/// the whole sender for that long.
pub(super) fn observe(
    engine: &Engine,
    key: &SenderKey,
    result: &Result<Result<wit::SendReceipt, wit::SendError>, crate::plugins::PluginFailure>,
) {
    if let Ok(Err(wit::SendError::RateLimited(ms))) = result {
        let wait = Duration::from_millis(u64::from(*ms).max(100));
        tracing::info!(
            sender = key.1,
            wait_ms = wait.as_millis() as u64,
            "provider rate limited the sender; pausing it"
        );
        engine.rate_limits.back_off(key, wait);
    }
}

//! Starts scheduled campaigns when their time comes: the start time is in the
//! database (so restarts lose nothing) and is looked for every 200 ms, so a
//! campaign starts within a fraction of a second of it. Pending campaigns
//! (waiting for their sender) are started, and campaigns whose end date has
//! passed are ended, on the same tick.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::domain::lifecycle::Action;
use crate::store::StoreError;

const TICK: Duration = Duration::from_millis(200);

pub async fn run(engine: Arc<Engine>) {
    loop {
        match engine.store.start_due_scheduled().await {
            Ok(started) => {
                for (tenant, campaign, members) in &started {
                    tracing::info!(tenant, campaign, members, "scheduled campaign started");
                }
                if !started.is_empty() {
                    engine.wake();
                }
            }
            Err(e) => tracing::error!(error = %e, "starting scheduled campaigns failed"),
        }
        release_waiting(&engine).await;
        match engine.store.end_due_campaigns().await {
            Ok(ended) => {
                for (tenant, campaign, expired) in &ended {
                    tracing::info!(tenant, campaign, expired, "campaign end date passed");
                }
            }
            Err(e) => tracing::error!(error = %e, "ending campaigns past their end date failed"),
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Pending campaigns (seed 001) start once their sender is free.
async fn release_waiting(engine: &Engine) {
    let free = match engine.store.pending_with_free_sender().await {
        Ok(free) => free,
        Err(e) => {
            tracing::error!(error = %e, "looking for pending campaigns failed");
            return;
        }
    };
    for (tenant, campaign) in free {
        match engine
            .store
            .transition_campaign(tenant, campaign, Action::SenderFree, None)
            .await
        {
            Ok(_) => {
                tracing::info!(tenant, campaign, "sender free; pending campaign started");
                engine.wake();
            }
            // Paused or cancelled by a user meanwhile.
            Err(StoreError::Conflict(_) | StoreError::Refused(_)) => {}
            Err(e) => tracing::error!(error = %e, "starting a pending campaign failed"),
        }
    }
}

//! Campaigns stopped by a system fault (their plugin quarantined, disabled
//! or unloadable) carry on by themselves once the plugin resolves again,
//! whoever fixed it and on whichever instance (an admin's activate or
//! rollback, a watched plugin file): the lifecycle's `fault_cleared`.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::domain::lifecycle::Action;
use crate::store::StoreError;

/// How often stopped campaigns are checked: one indexed query when none is.
const EVERY: Duration = Duration::from_secs(1);

pub async fn run(engine: Arc<Engine>) {
    loop {
        tokio::time::sleep(EVERY).await;
        if let Err(e) = resume_fixed(&engine).await {
            tracing::error!(error = %e, "checking stopped campaigns failed");
        }
    }
}

async fn resume_fixed(engine: &Engine) -> Result<(), StoreError> {
    for (tenant, campaign, plugin, pinned) in engine.store.stopped_campaigns().await? {
        if engine
            .registry
            .resolve(&plugin, pinned.as_deref())
            .await
            .is_err()
        {
            continue;
        }
        match engine
            .store
            .transition_campaign(tenant, campaign, Action::FaultCleared, None)
            .await
        {
            Ok(_) => {
                tracing::info!(
                    campaign,
                    plugin,
                    "plugin works again: stopped campaign resumes"
                );
                engine.wake();
            }
            // Paused, cancelled or deleted by a user meanwhile.
            Err(StoreError::Conflict(_) | StoreError::Refused(_) | StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

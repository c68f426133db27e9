//! Keeps this instance's heartbeat and counts the instances alive. Where
//! senders' slots are not shared through the database (SQLite), every
//! sender's rate is split between them, so several processes together send
//! no faster than each channel allows.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;

/// Well inside the store's `INSTANCE_STALE_MS` (5 s), so a live instance never looks
/// gone between two beats.
const HEARTBEAT: Duration = Duration::from_secs(1);

pub async fn run(engine: Arc<Engine>) {
    loop {
        match engine.store.heartbeat(&engine.config.instance_id).await {
            Ok(live) => {
                if engine.rate_limits.set_instances(live) && !engine.rate_limits.is_shared() {
                    tracing::info!(
                        instances = live,
                        "instances sharing the database changed; each sends at 1/{live} of every sender's rate"
                    );
                }
            }
            // The last count stays in force: a missed beat must not double
            // the rate.
            Err(e) => tracing::warn!(error = %e, "instance heartbeat failed"),
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

//! Keeps this instance's heartbeat and splits every sender's rate limit
//! between the instances alive, so several processes on one database
//! together send no faster than each channel allows.

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
                if engine.rate_limits.set_instances(live) {
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

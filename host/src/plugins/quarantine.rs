//! Stopping a plugin version that keeps faulting, without an operator
//! (issue 18): by its fault rate over the last minute, not a streak, so
//! calls that succeed in between (a plugin that spins for some recipients
//! only) do not hide it. Counted per version and per channel: a version
//! that faults wherever it runs is quarantined (every campaign on it
//! stops, visible in the admin API with the reason, lifted by activating a
//! version); one that faults for a single channel while its other
//! channels' calls are sound stops that channel's campaigns only, so one
//! tenant's recipients cannot stop a plugin its neighbours share.

use super::LoadedPlugin;
use super::channel_faults::Spread;
use super::registry::Registry;

impl Registry {
    /// After a fault of `plugin` in a call for `channel`: quarantines the
    /// version once at least half of its calls in the last minute were
    /// faults, over at least `--quarantine-after` calls (unless another
    /// version is active by now). When `channel` alone is at fault (its
    /// calls fault, another channel's through the version are sound),
    /// nothing is quarantined and the answer is the reason to pause that
    /// channel's campaigns.
    pub async fn after_fault(
        &self,
        plugin: &LoadedPlugin,
        channel: Option<i64>,
        failure: &(dyn std::fmt::Display + Sync),
    ) -> Option<String> {
        if let Some(channel) = channel
            && let Spread::ThisChannel(calls, faults) =
                plugin.channel_faults.spread(channel, self.quarantine_after)
        {
            return Some(format!(
                "plugin {} {} faulted in {faults} of this channel's {calls} calls within a minute \
                 while its other channels' calls are sound (last: {failure}); resume once the \
                 cause is fixed",
                plugin.name(),
                plugin.version()
            ));
        }
        let (calls, faults) = plugin.stats.faulty_window(self.quarantine_after)?;
        let still_active = self
            .get(plugin.name())
            .is_some_and(|p| p.sha256 == plugin.sha256);
        if !still_active {
            return None;
        }
        let reason = format!(
            "{faults} faults in {calls} calls within a minute in version {} (last: {failure})",
            plugin.version()
        );
        tracing::error!(
            plugin = plugin.name(),
            reason,
            "plugin quarantined; activate a version to lift it"
        );
        if let Err(e) = self.store.quarantine_plugin(plugin.name(), &reason).await {
            tracing::error!(error = %e, "storing the quarantine failed");
        }
        // Boxed: a reload's future is large, and inline it made every
        // send's and webhook's (which may fault) as large.
        if let Err(e) = Box::pin(self.sync()).await {
            tracing::error!(error = %e, "reloading plugins after quarantine failed");
        }
        let _ = self.store.notify_plugins_changed(plugin.name()).await;
        None
    }
}

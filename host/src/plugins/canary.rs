//! Canary versions: another installed version of a plugin sends a share of
//! its sends (a percent of members, or some tenants' sends) beside the
//! active one, is judged against it over a window (`canary_judge`), and is
//! rolled back by itself when worse, or promoted (by an admin, or after
//! `--auto-promote-after` of health).
//!
//! The running canary is a row in the database that every instance routes
//! by (see `Registry::sync`); each instance judges the sends it made, and
//! the first to find the canary worse ends it for all. A member stays on
//! one version for the whole canary (its retries, uncertain resends and
//! journey steps included): the choice hashes the canary's sha256 with the
//! member's id, never the attempt. Messages a canary sent keep being
//! verified and looked up by it after it ends (see
//! `Registry::resolve_for_receipts_of`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::canary_judge::{Judgement, Observation, Verdict, Window, judge};
use super::loaded::LoadedPlugin;
use super::registry::{Registry, RegistryError};
use crate::store::{CanaryEnd, CanaryRow, Id, NewCanary};

/// Which sends a canary takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// This share of members (1-99), by a stable hash of each.
    Percent(u8),
    /// Every send of these tenants.
    Tenants(BTreeSet<Id>),
}

impl Route {
    /// Whether the send of `member` (of `tenant`) goes to canary
    /// `canary_sha256`.
    pub fn takes(&self, canary_sha256: &str, tenant: Id, member: Id) -> bool {
        match self {
            Self::Percent(percent) => member_bucket(canary_sha256, member) < *percent,
            Self::Tenants(tenants) => tenants.contains(&tenant),
        }
    }

    fn from_row(row: &CanaryRow) -> Option<Self> {
        match (row.percent, row.tenants()) {
            (Some(p), None) => Some(Self::Percent(p.clamp(1, 99) as u8)),
            (None, Some(t)) => Some(Self::Tenants(t.into_iter().collect())),
            _ => None,
        }
    }
}

/// `member`'s bucket (0-99) for canary `canary_sha256`: the same on every
/// instance and after restarts, and another draw for each canary version,
/// so it is not always the same members who try new versions first.
/// Raising a canary's percent keeps the members it already had.
pub fn member_bucket(canary_sha256: &str, member: Id) -> u8 {
    let digest = Sha256::new()
        .chain_update(canary_sha256.as_bytes())
        .chain_update(member.to_le_bytes())
        .finalize();
    let n = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % 100) as u8
}

/// A running canary in this process: what it routes, and the sends it and
/// the active version made here over the judging window.
pub struct CanaryRun {
    pub id: Id,
    pub name: String,
    pub version: Arc<LoadedPlugin>,
    /// The version active when it started.
    pub baseline_sha256: String,
    pub route: Route,
    /// When it started (the server's clock, ms).
    pub started_at: i64,
    window: Duration,
    canary: Window,
    active: Window,
}

impl CanaryRun {
    pub(super) fn new(
        row: &CanaryRow,
        version: Arc<LoadedPlugin>,
        window: Duration,
    ) -> Option<Self> {
        Some(Self {
            route: Route::from_row(row)?,
            id: row.id,
            name: row.name.clone(),
            version,
            baseline_sha256: row.baseline_sha256.clone(),
            started_at: row.started_at,
            window,
            canary: Window::new(window),
            active: Window::new(window),
        })
    }

    /// Counts a send of the canary (`canary`) or of the active version.
    pub(super) fn observe(&self, canary: bool, o: &Observation) {
        let side = if canary { &self.canary } else { &self.active };
        side.record(Instant::now(), o);
    }

    /// Both sides' figures over the window, as of now.
    pub fn judgement(&self) -> Judgement {
        let now = Instant::now();
        Judgement {
            window_secs: self.window.as_secs(),
            canary: self.canary.figures(now),
            active: self.active.figures(now),
        }
    }
}

/// How often running canaries are judged: a tenth of the window, within
/// bounds (a verdict never waits long after the sends that make it).
pub fn judge_every(window: Duration) -> Duration {
    (window / 10).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// Judges this instance's running canaries, for as long as the process runs.
pub async fn judge_canaries(registry: Arc<Registry>) {
    let mut tick = tokio::time::interval(judge_every(registry.canary_policy().window));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        registry.judge_canaries().await;
    }
}

fn figures_json(j: &Judgement) -> String {
    serde_json::to_string(j).expect("figures serialise")
}

/// The version a send goes out with.
pub struct Routed {
    pub plugin: Arc<LoadedPlugin>,
    /// It is the plugin's canary (its callbacks name it, see
    /// `Engine::callback_url`).
    pub canary: bool,
}

impl Registry {
    /// The version a member's send goes out with: the channel's pinned
    /// one; else the plugin's canary when its route takes the member (by
    /// tenant, or by a stable hash of the member: never of the attempt)
    /// and the plugin sends at all (not quarantined nor disabled); else
    /// the active one.
    pub async fn resolve_for_send(
        &self,
        name: &str,
        pinned: Option<&str>,
        tenant: Id,
        member: Id,
    ) -> Result<Routed, String> {
        if pinned.is_none()
            && let Some(run) = self.canary(name)
            && run.route.takes(&run.version.sha256, tenant, member)
            && self.get(name).is_some()
        {
            return Ok(Routed {
                plugin: run.version.clone(),
                canary: true,
            });
        }
        let plugin = self.resolve(name, pinned).await?;
        Ok(Routed {
            plugin,
            canary: false,
        })
    }

    /// Counts a send of `plugin` in its plugin's running canary's
    /// judgement, as the canary's or the active version's.
    pub fn observe_send(&self, plugin: &LoadedPlugin, observation: Observation) {
        let Some(run) = self.canary(plugin.name()) else {
            return;
        };
        if run.version.sha256 == plugin.sha256 {
            run.observe(true, &observation);
        } else if self
            .get(plugin.name())
            .is_some_and(|active| active.sha256 == plugin.sha256)
        {
            run.observe(false, &observation);
        }
    }

    /// As [`Self::resolve_for_receipts`] for a message sent by version
    /// `sent_by`: when that version is (or was) the plugin's canary, it
    /// answers for its own messages, running or rolled back.
    pub async fn resolve_for_receipts_of(
        &self,
        name: &str,
        pinned: Option<&str>,
        sent_by: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, String> {
        match sent_by {
            Some(sha) if pinned.is_none() && self.was_canary(name, sha) => {
                match self.load_version(sha).await {
                    Ok(p) if p.name() == name => Ok(p),
                    Ok(p) => Err(format!("canary version {sha} is plugin {:?}", p.name())),
                    Err(e) => Err(format!("canary version {sha} cannot be loaded: {e}")),
                }
            }
            _ => self.resolve_for_receipts(name, pinned).await,
        }
    }

    /// Every version that was ever a canary, by plugin name.
    pub(super) async fn canary_versions(
        &self,
    ) -> Result<HashMap<String, HashSet<String>>, RegistryError> {
        let mut versions: HashMap<String, HashSet<String>> = HashMap::new();
        for v in self.store().canary_versions().await? {
            versions.entry(v.name).or_default().insert(v.sha256);
        }
        Ok(versions)
    }

    /// The running canaries as stored, by plugin name: those already
    /// running here (`current`) keep their figures; one whose version
    /// cannot be loaded is logged and routes nothing.
    pub(super) async fn canary_runs(
        &self,
        current: Vec<Arc<CanaryRun>>,
    ) -> Result<HashMap<String, Arc<CanaryRun>>, RegistryError> {
        let mut current: HashMap<Id, Arc<CanaryRun>> =
            current.into_iter().map(|run| (run.id, run)).collect();
        let mut runs = HashMap::new();
        for row in self.store().running_canaries().await? {
            let run = match current.remove(&row.id) {
                Some(run) => run,
                None => {
                    let version = match self.load_version(&row.sha256).await {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::error!(plugin = row.name, sha256 = row.sha256, error = %e, "canary version cannot be loaded; it takes no sends");
                            continue;
                        }
                    };
                    let window = self.canary_policy().window;
                    let Some(run) = CanaryRun::new(&row, version, window) else {
                        tracing::error!(
                            plugin = row.name,
                            canary = row.id,
                            "canary has neither a percent nor tenants; it takes no sends"
                        );
                        continue;
                    };
                    Arc::new(run)
                }
            };
            runs.insert(row.name.clone(), run);
        }
        Ok(runs)
    }

    /// Starts canary `sha256` of `name` on `route`, replacing a running
    /// one. `UnknownPlugin` / `NoSuchVersion` when they are not installed,
    /// `Conflict` when there is nothing to compare it with (no active
    /// version, a quarantine) or it is the active version.
    pub async fn start_canary(
        &self,
        name: &str,
        sha256: &str,
        route: Route,
    ) -> Result<Id, RegistryError> {
        let versions = self.store().plugin_versions().await?;
        if !versions.iter().any(|v| v.name == name) {
            return Err(RegistryError::UnknownPlugin(name.into()));
        }
        if !versions
            .iter()
            .any(|v| v.name == name && v.sha256 == sha256)
        {
            return Err(RegistryError::NoSuchVersion(format!("{sha256} of {name}")));
        }
        let state = self.store().plugin_state(name).await?;
        let Some(active) = state.as_ref().and_then(|s| s.active_sha256.clone()) else {
            return Err(RegistryError::Conflict(format!(
                "{name} has no active version to compare a canary with; activate one first"
            )));
        };
        if active == sha256 {
            return Err(RegistryError::Conflict(format!(
                "{sha256} is already the active version of {name}"
            )));
        }
        if let Some(reason) = state.and_then(|s| s.quarantine_reason) {
            return Err(RegistryError::Conflict(format!(
                "{name} is quarantined ({reason}); activate a version before a canary"
            )));
        }
        let (percent, tenants) = match &route {
            Route::Percent(p) => (Some(*p as i64), None),
            Route::Tenants(t) => (None, Some(t.iter().copied().collect::<Vec<_>>())),
        };
        let id = self
            .store()
            .start_canary(NewCanary {
                name,
                sha256,
                baseline_sha256: &active,
                percent,
                tenants: tenants.as_deref(),
            })
            .await?;
        self.changed(name).await?;
        tracing::info!(plugin = name, canary = id, sha256, baseline = active, route = ?route, "canary started");
        Ok(id)
    }

    /// Ends `name`'s running canary by an admin's decision: its members go
    /// back to the active version at their next send.
    pub async fn abort_canary(&self, name: &str) -> Result<(), RegistryError> {
        let run = self.running_canary(name).await?;
        let figures = figures_json(&run.judgement());
        let ended = self
            .store()
            .end_canary(
                run.id,
                CanaryEnd::Aborted,
                "ended by an admin",
                Some(&figures),
            )
            .await?;
        self.changed(name).await?;
        if !ended {
            return Err(RegistryError::Conflict(format!(
                "{name}'s canary ended meanwhile"
            )));
        }
        tracing::info!(
            plugin = name,
            canary = run.id,
            sha256 = run.version.sha256,
            "canary ended by an admin"
        );
        Ok(())
    }

    /// Makes `name`'s running canary its active version, as an activation
    /// (every instance follows). Answers the version now active.
    pub async fn promote_canary(&self, name: &str, reason: &str) -> Result<String, RegistryError> {
        let run = self.running_canary(name).await?;
        let figures = figures_json(&run.judgement());
        let promoted = self
            .store()
            .promote_canary(run.id, reason, Some(&figures))
            .await?;
        self.changed(name).await?;
        let Some(sha256) = promoted.map(|v| v.sha256) else {
            return Err(RegistryError::Conflict(format!(
                "{name}'s canary ended before it could be promoted"
            )));
        };
        tracing::info!(
            plugin = name,
            canary = run.id,
            sha256,
            reason,
            "canary promoted: now the active version"
        );
        Ok(sha256)
    }

    /// `name`'s running canary, or why there is none.
    async fn running_canary(&self, name: &str) -> Result<Arc<CanaryRun>, RegistryError> {
        if let Some(run) = self.canary(name) {
            return Ok(run);
        }
        match self.store().plugin_state(name).await? {
            None => Err(RegistryError::UnknownPlugin(name.into())),
            Some(_) => Err(RegistryError::NoCanary(name.into())),
        }
    }

    /// Judges every running canary on this instance's sends: rolls back
    /// the worse ones, promotes the healthy ones old enough when
    /// `--auto-promote-after` says so.
    pub async fn judge_canaries(&self) {
        for run in self.canaries() {
            let judgement = run.judgement();
            match judge(self.canary_policy(), &judgement) {
                Verdict::Failing(reason) => self.roll_back_canary(&run, &reason, &judgement).await,
                Verdict::Healthy => self.maybe_auto_promote(&run).await,
                Verdict::Undecided => {}
            }
        }
    }

    /// Canary `plugin` refused a channel's configuration, which the active
    /// version sends with: rolled back at once, whatever its figures.
    pub async fn canary_refused_channel(&self, plugin: &LoadedPlugin, why: &str) {
        let Some(run) = self
            .canary(plugin.name())
            .filter(|run| run.version.sha256 == plugin.sha256)
        else {
            return;
        };
        let reason = format!(
            "it refused a channel's configuration, which the active version sends with: {why}"
        );
        // Boxed: rare, and inline its future made every send's as large.
        Box::pin(self.roll_back_canary(&run, &reason, &run.judgement())).await;
    }

    async fn roll_back_canary(&self, run: &CanaryRun, reason: &str, j: &Judgement) {
        let figures = figures_json(j);
        let reason = format!("rolled back: {reason}");
        match self
            .store()
            .end_canary(run.id, CanaryEnd::RolledBack, &reason, Some(&figures))
            .await
        {
            // Another instance's judge (or an admin) was first.
            Ok(false) => {}
            Ok(true) => tracing::warn!(
                plugin = run.name,
                canary = run.id,
                version = run.version.version(),
                sha256 = run.version.sha256,
                reason,
                canary_calls = j.canary.calls,
                canary_fault_percent = j.canary.fault_percent,
                canary_provider_error_percent = j.canary.provider_error_percent,
                canary_p95_ms = j.canary.p95_latency_ms,
                active_calls = j.active.calls,
                active_fault_percent = j.active.fault_percent,
                active_provider_error_percent = j.active.provider_error_percent,
                active_p95_ms = j.active.p95_latency_ms,
                "canary rolled back by itself: its sends go to the active version again"
            ),
            Err(e) => {
                tracing::error!(plugin = run.name, error = %e, "rolling back a canary failed; trying again at the next judgement");
                return;
            }
        }
        if let Err(e) = self.changed(&run.name).await {
            tracing::error!(plugin = run.name, error = %e, "reloading plugins after a canary rollback failed");
        }
    }

    async fn maybe_auto_promote(&self, run: &CanaryRun) {
        let Some(after) = self.canary_policy().auto_promote_after else {
            return;
        };
        let age = crate::store::now_ms() - run.started_at;
        if age < after.as_millis() as i64 {
            return;
        }
        let reason = format!(
            "promoted automatically: healthy after {} s (--auto-promote-after)",
            after.as_secs()
        );
        match self.promote_canary(&run.name, &reason).await {
            Ok(_) | Err(RegistryError::Conflict(_) | RegistryError::NoCanary(_)) => {}
            Err(e) => tracing::error!(plugin = run.name, error = %e, "promoting a canary failed"),
        }
    }

    /// After a change of `name`'s state here: this instance follows at
    /// once, the others on the notification.
    async fn changed(&self, name: &str) -> Result<(), RegistryError> {
        self.sync().await?;
        self.store().notify_plugins_changed(name).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_keeps_its_bucket_and_buckets_spread_evenly() {
        let sha = "ab".repeat(32);
        assert_eq!(member_bucket(&sha, 42), member_bucket(&sha, 42));
        let under_20 = (0..10_000).filter(|m| member_bucket(&sha, *m) < 20).count();
        assert!((1_800..=2_200).contains(&under_20), "{under_20} of 10,000");
        let other = "cd".repeat(32);
        let same = (0..1_000)
            .filter(|m| (member_bucket(&sha, *m) < 20) == (member_bucket(&other, *m) < 20))
            .count();
        assert!(same < 1_000, "another canary draws other members");
    }

    #[test]
    fn a_higher_percent_keeps_the_members_a_lower_one_had() {
        let sha = "0f".repeat(32);
        let five = Route::Percent(5);
        let twenty = Route::Percent(20);
        for m in 0..2_000 {
            if five.takes(&sha, 1, m) {
                assert!(twenty.takes(&sha, 1, m), "member {m}");
            }
        }
        let tenants = Route::Tenants([3, 7].into_iter().collect());
        assert!(tenants.takes(&sha, 7, 1) && !tenants.takes(&sha, 4, 1));
    }
}
